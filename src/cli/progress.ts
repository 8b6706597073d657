/** Where progress goes: stderr, and whether it is a terminal. */
export interface ProgressSink {
  readonly isTTY: boolean;
  write(text: string): void;
}

/** Redraws at most this often on a terminal; a log (`--progress` off a TTY) gets a line per second. */
const TTY_REDRAW_MS = 100;
const LOG_LINE_MS = 1000;

/**
 * One progress line: on a terminal redrawn in place (`\r`, clear to end of line), off a
 * terminal only when asked (`--progress`), as plain lines at most once a second, so a log
 * file or CI output does not fill with thousands of lines.
 */
export class ProgressLine {
  readonly #sink: ProgressSink | undefined;
  readonly #label: string;
  readonly #now: () => number;
  #total: number | undefined;
  #last = -Infinity;
  #drawn = false;

  /** `sink` undefined: progress is off (not a terminal and no `--progress`). */
  constructor(sink: ProgressSink | undefined, label: string, now: () => number = Date.now) {
    this.#sink = sink;
    this.#label = label;
    this.#now = now;
  }

  /** The estimate the percentage is of (DBSIZE: every key of the database, an upper bound). */
  set total(total: number | undefined) {
    this.#total = total;
  }

  /**
   * `found` sessions so far; `examined` keys SCAN has walked, when known (else the
   * percentage is of `found`).
   */
  update(found: number, examined?: number): void {
    const sink = this.#sink;
    if (!sink) return;
    const now = this.#now();
    if (now - this.#last < (sink.isTTY ? TTY_REDRAW_MS : LOG_LINE_MS)) return;
    this.#last = now;
    this.#draw(sink, describe(found, examined ?? found, this.#total), false);
  }

  /** The final count; on a terminal the line is ended so the result prints below it. */
  done(found: number): void {
    if (this.#sink && (this.#drawn || !this.#sink.isTTY))
      this.#draw(this.#sink, `${found.toLocaleString("en-US")} sessions, done`, true);
  }

  #draw(sink: ProgressSink, text: string, final: boolean): void {
    const line = `${this.#label}: ${text}`;
    this.#drawn = true;
    sink.write(sink.isTTY ? `\r\x1b[K${line}${final ? "\n" : ""}` : `${line}\n`);
  }
}

/**
 * "1,200 sessions, 24% of ~50,000 keys". The total is an estimate (DBSIZE counts every key
 * of the database), so the percentage stops at 99 until the scan ends.
 */
export function describe(found: number, examined: number, total: number | undefined): string {
  const sessions = `${found.toLocaleString("en-US")} sessions`;
  if (!total) return sessions;
  const percent = Math.min(99, Math.floor((examined / total) * 100));
  return `${sessions}, ${percent}% of ~${total.toLocaleString("en-US")} keys`;
}
