/** Types every layer may use; no code. */

/** pino-compatible: `logger.warn({ … }, "message")`. */
export interface Logger {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** Express's `next`. */
export type NextHandler = (err?: unknown) => void;
