/** express-session's callback: an error, or null and the value. */
export type Callback<T> = (error: unknown, value?: T) => void;

/** An operation that settles at once with nothing to do. */
export const DONE: Promise<void> = Promise.resolve();

export function nothing(): void {}

/**
 * `work()`, a synchronous throw turned into a rejection: an operation refused before it
 * reaches Redis still settles as a failed promise, so tracing subscribers see it end with
 * an error (asyncEnd), as the metrics bridge counts it.
 */
export function rejecting<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work();
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Callback if given, else the promise. The callback runs outside the promise chain (on the
 * next tick), so a callback that throws surfaces as a throw, never as an unhandled rejection.
 */
export function respond<T>(work: () => Promise<T>, callback: Callback<T> | undefined): Promise<T> | void {
  const promise = rejecting(work);
  if (!callback) return promise;
  promise.then(
    (value) => process.nextTick(callback, null, value),
    (error: unknown) => process.nextTick(callback, error),
  );
}
