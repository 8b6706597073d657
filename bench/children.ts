/**
 * Child processes of the benchmark: forked with an IPC channel, run through tsx, every wait
 * bounded by a deadline, and SIGKILLed when the parent exits however it exits.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { z } from "zod";

const live = new Set<ChildProcess>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

export class BenchChildError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BenchChildError";
  }
}

/** A forked bench/<file> whose messages are parsed with `schema`. */
export class Child<M> {
  readonly #name: string;
  readonly #process: ChildProcess;
  readonly #queue: M[] = [];
  #waiter: ((message: M | Error) => void) | undefined;
  #exit: Error | undefined;

  /**
   * @param file   bench/ file name, e.g. "store-child.ts"
   * @param config JSON-serialisable configuration, given as argv[2]
   * @param extraExecArgv more Node flags (e.g. `--cpu-prof`)
   */
  constructor(
    name: string,
    file: string,
    config: unknown,
    schema: z.ZodType<M>,
    extraExecArgv: readonly string[] = [],
  ) {
    hookExit();
    this.#name = name;
    const path = fileURLToPath(new URL(file, import.meta.url));
    this.#process = fork(path, [JSON.stringify(config)], {
      execArgv: ["--import", "tsx", ...extraExecArgv],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    live.add(this.#process);
    this.#process.on("message", (raw: unknown) => {
      const parsed = schema.safeParse(raw);
      const message = parsed.success
        ? parsed.data
        : new BenchChildError(`${name}: unexpected message ${JSON.stringify(raw)}`);
      const waiter = this.#waiter;
      if (waiter) {
        this.#waiter = undefined;
        waiter(message);
      } else if (!(message instanceof Error)) {
        this.#queue.push(message);
      }
    });
    this.#process.once("exit", (code, signal) => {
      live.delete(this.#process);
      this.#exit = new BenchChildError(`${name} exited (${signal ?? String(code)})`);
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.(this.#exit);
    });
  }

  /** The next message, or an error if the child exits or `timeoutMs` passes first. */
  next(timeoutMs: number, waitingFor: string): Promise<M> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#exit) return Promise.reject(this.#exit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(
          new BenchChildError(`${this.#name}: no ${waitingFor} within ${Math.round(timeoutMs / 1000)} s`),
        );
      }, timeoutMs);
      this.#waiter = (message) => {
        clearTimeout(timer);
        if (message instanceof Error) reject(message);
        else resolve(message);
      };
    });
  }

  send(message: object): void {
    this.#process.send(message);
  }

  /** Wait up to `timeoutMs` for the child to exit by itself, then SIGKILL it. Resolves with its exit code. */
  async finish(timeoutMs: number): Promise<number | null> {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return this.#process.exitCode;
    const exited = new Promise<number | null>((resolve) =>
      this.#process.once("exit", (code) => resolve(code)),
    );
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
