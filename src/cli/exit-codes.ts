import { ConfigError, RedisUnavailableError, RelsSessionError } from "../errors.js";

/** The CLI's exit codes, as the README documents them. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed, e.g. `revoke` matched no session. */
  failure: 1,
  /** Bad flags or arguments, or settings `configure()` refused. */
  usage: 2,
  /** Redis could not be reached (refused, unknown host, TLS, AUTH, database refused, timeout). */
  unreachable: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A command that ran and did not do what was asked; its message says what happened. */
export class CliFailure extends RelsSessionError {
  override name = "CliFailure";
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode = EXIT.failure) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** stdout was closed by its reader (`… | head -n 2`): stop quietly, nothing is wrong. */
export class OutputClosed extends RelsSessionError {
  override name = "OutputClosed";

  constructor() {
    super("stdout was closed by its reader");
  }
}

/** The exit code for an error that ended a command. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof OutputClosed) return EXIT.ok;
  if (error instanceof CliFailure) return error.exitCode;
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof RedisUnavailableError) return EXIT.unreachable;
  const code = (error as { code?: unknown } | null)?.code;
  // `--help`, `help` and `help <command>` all print the help on purpose.
  if (code === "commander.helpDisplayed" || code === "commander.help" || code === "commander.version")
    return EXIT.ok;
  if (typeof code === "string" && code.startsWith("commander.")) return EXIT.usage;
  return EXIT.failure;
}
