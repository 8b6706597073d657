#!/usr/bin/env node
import { runCli } from "./cli/program.js";
import { OutputClosed } from "./cli/exit-codes.js";

// `rels-session dump | head -n 2`: once the reader has gone, stdout errors (EPIPE) instead of
// writing. Without a listener that error would crash the process; with one, the next line
// written stops the command, which closes Redis and exits 0 like any filter cut short.
let stdoutClosed = false;
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  stdoutClosed = true;
  if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED")
    process.stderr.write(`rels-session: stdout: ${error.message}\n`);
});

const code = await runCli(process.argv.slice(2), {
  out: (line) => {
    if (stdoutClosed) throw new OutputClosed();
    process.stdout.write(`${line}\n`);
  },
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  progress: { isTTY: process.stderr.isTTY === true, write: (text) => process.stderr.write(text) },
});
process.exitCode = code;
