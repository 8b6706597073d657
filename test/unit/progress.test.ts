/** The CLI's progress line, with a fake clock: redraw throttling, and what off a terminal means. */
import { describe, expect, it } from "vitest";
import { ProgressLine, describe as describeProgress } from "../../src/cli/progress.js";

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, sink: { isTTY, write: (text: string) => writes.push(text) } };
}

describe("ProgressLine", () => {
  it("on a terminal, redraws one line at most every 100 ms and ends it once", () => {
    let now = 0;
    const { writes, sink: tty } = sink(true);
    const line = new ProgressLine(tty, "count", () => now);
    line.total = 10_000;
    line.update(1, 1000); // drawn
    now = 50;
    line.update(2, 2000); // too soon
    now = 150;
    line.update(3, 3000); // drawn
    line.done(3);
    expect(writes).toEqual([
      "\r\x1b[Kcount: 1 sessions, 10% of ~10,000 keys",
      "\r\x1b[Kcount: 3 sessions, 30% of ~10,000 keys",
      "\r\x1b[Kcount: 3 sessions, done\n",
    ]);
  });

  it("off a terminal (with --progress), plain lines at most once a second", () => {
    let now = 0;
    const { writes, sink: log } = sink(false);
    const line = new ProgressLine(log, "reconcile", () => now);
    for (let i = 1; i <= 30; i++) {
      now = i * 100;
      line.update(i * 10);
    }
    line.done(300);
    expect(writes).toEqual([
      "reconcile: 10 sessions\n",
      "reconcile: 110 sessions\n",
      "reconcile: 210 sessions\n",
      "reconcile: 300 sessions, done\n",
    ]);
  });

  it("without a sink prints nothing, and the percentage never reaches 100 before the end", () => {
    const line = new ProgressLine(undefined, "count");
    line.update(5);
    line.done(5);
    expect(describeProgress(50, 5000, 100)).toBe("50 sessions, 99% of ~100 keys");
    expect(describeProgress(7, 7, undefined)).toBe("7 sessions");
  });
});
