/**
 * Wait options and deadline arithmetic shared by every lock.
 *
 * @module
 */

import { checkOptions, checkTimeout } from "../memory/_validate.ts";

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

const WAIT_KEYS = ["timeout", "signal"] as const;
const SYNC_WAIT_KEYS = ["timeout"] as const;

/**
 * Validates a wait's options: known keys only (`signal` only where the wait is
 * async), a valid timeout and an AbortSignal.
 */
export function checkWaitOptions(options: unknown, what = "wait", sync = false): void {
  checkFactoryOptions(options, what, sync ? SYNC_WAIT_KEYS : WAIT_KEYS);
  if (options === undefined) return;
  const { signal, timeout } = options as WaitOptions;
  if (timeout !== undefined) deadlineOf(timeout);
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError("signal must be an AbortSignal");
  }
}

/**
 * Checks a factory's options: a plain object (or absent) with known keys only.
 * An array or a Date is an object too, but never options: a caller passing
 * one has mixed up the arguments.
 */
export function checkFactoryOptions(
  options: unknown,
  what: string,
  known: readonly string[],
): void {
  if (options !== undefined && options !== null && typeof options === "object") {
    const proto = Object.getPrototypeOf(options);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`${what} options must be a plain object, got ${describe(options)}`);
    }
  }
  checkOptions(options, what, known);
}

function describe(v: object): string {
  return Array.isArray(v) ? "an array" : `a ${v.constructor?.name ?? "non-plain object"}`;
}

/** The error for a wait that ran out of time. */
export function timedOut(what: string, timeout: number | undefined): Deno.errors.TimedOut {
  return new Deno.errors.TimedOut(`Timed out after ${timeout} ms waiting to ${what}`);
}
