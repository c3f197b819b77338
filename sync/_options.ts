/**
 * Wait options and deadline arithmetic shared by every lock.
 *
 * @module
 */

import { checkTimeout } from "../posix/_validate.ts";

/** Options for a wait that may give up. */
export interface WaitOptions {
  /**
   * Milliseconds to wait. Absent: wait forever. `0`: try once. Positive: a
   * bounded wait that ends in `Deno.errors.TimedOut`.
   */
  timeout?: number;
  /** Aborting rejects the wait with `signal.reason`. */
  signal?: AbortSignal;
}

/** Options for a synchronous wait (no signal: nothing can run while it blocks). */
export interface SyncWaitOptions {
  /** As in {@linkcode WaitOptions.timeout}. */
  timeout?: number;
}

/** Validates `timeout` and turns it into an absolute `performance.now()` deadline. */
export function deadlineOf(timeout: unknown): number {
  checkTimeout(timeout);
  return timeout === undefined ? Infinity : performance.now() + timeout;
}

/** Validates an options object with an optional signal. */
export function checkWaitOptions(options: unknown): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object") {
    throw new TypeError("options must be an object");
  }
  const { signal, timeout } = options as WaitOptions;
  if (timeout !== undefined) deadlineOf(timeout);
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError("signal must be an AbortSignal");
  }
}

/** The error for a wait that ran out of time. */
export function timedOut(what: string, timeout: number | undefined): Deno.errors.TimedOut {
  return new Deno.errors.TimedOut(`Timed out after ${timeout} ms waiting to ${what}`);
}
