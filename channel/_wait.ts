/**
 * The one waiting loop behind every blocking or awaited send and receive. It
 * asks the side's {@linkcode Spinner} (the library's one waiting strategy,
 * `memory/_wait.ts`) how to wait: poll the ring for a while when polling
 * pays, or nap (an awaited wait on an oversubscribed machine), then announce
 * this wait as a sleeper (so the other side posts), re-check, and sleep on
 * the side's semaphore for a slice; a slice that ends empty-handed runs the
 * side's dead-peer checks.
 *
 * The interface is {@linkcode waitSync} and {@linkcode waitAsync}: each takes
 * the handle ({@linkcode WaitHost}), an `attempt` that tries the operation
 * once and returns `undefined` when it cannot complete yet, the side being
 * waited on ({@linkcode WaitSide}) and the checked options. Callers have made
 * their first attempt already: these run only when something must wait.
 *
 * @module
 */

import { type Semaphore, semaphoreNap } from "../posix/semaphore.ts";
import { spin, type Spinner, type WaitPlan } from "../memory/_wait.ts";
import { deadlineOf } from "../sync/_options.ts";
import type { Wait } from "./_options.ts";

/** Longest sleep on the semaphore before the dead-peer checks run. */
export const SLICE_MS = 50;
/** Polls between two clock reads in a spin (a clock read costs more than a poll). */
const POLLS_PER_CLOCK_READ = 64;
/** The plan of a quiet wait (Spinner.quiet): no spin, nothing to learn. */
const QUIET: WaitPlan = Object.freeze({ spinUs: 0, napMs: 0, learn: false });

/** One side of the ring, as the waiting loop sees it. */
export interface WaitSide {
  /** Header index of this side's sleeper count. */
  readonly waiting: number;
  /** How many of that count are this handle's waits (close() takes them back). */
  counted: number;
  /** The semaphore this side sleeps on (the other side posts it). */
  readonly sem: Semaphore;
  /** How this side's waits spin: adaptive, per handle and side. */
  readonly spinner: Spinner;
  /** For messages: "send" or "receive". */
  readonly verb: string;
  /** Runs after a sleep slice ends with nothing done: dead-peer checks. */
  afterSlice(): void;
}

/** What the loop needs of the handle. */
export interface WaitHost {
  /** The mapping's header words (the sleeper counts live there). */
  readonly i32: Int32Array;
  /** True once the handle is closed: its counts were taken back, its mapping is gone. */
  readonly closed: boolean;
  readonly name: string;
  /** The handle's `spinMicros`, if it was opened with one (else adaptive). */
  readonly spinUs: number | undefined;
}

/** Tries the operation once: its result, or `undefined` when it must wait. */
export type Attempt<T> = () => T | undefined;

/** Waits, blocking this thread, until `attempt` returns a result. */
export function waitSync<T>(host: WaitHost, attempt: Attempt<T>, side: WaitSide, o: Wait): T {
  try {
    return waitSyncLoop(host, attempt, side, o);
  } catch (e) {
    throw closedWhileWaiting(host, side, e);
  }
}

function waitSyncLoop<T>(host: WaitHost, attempt: Attempt<T>, side: WaitSide, o: Wait): T {
  const { timeout } = o;
  const explicitUs = o.spinMicros ?? host.spinUs;
  const deadline = deadlineOf(timeout);
  // A quiet wait (Spinner.quiet) sleeps at once with nothing to plan or learn.
  const plan = timeout === undefined && explicitUs === undefined && side.spinner.quiet()
    ? QUIET
    : side.spinner.plan(timeout, explicitUs, false);
  const learn = plan.learn;
  const t0 = learn ? performance.now() : 0;
  if (plan.spinUs > 0) {
    let got: T | undefined;
    const caught = () => (got = attempt()) !== undefined;
    if (spin(caught, plan.spinUs, deadline, POLLS_PER_CLOCK_READ, learn ? t0 : undefined)) {
      if (learn) side.spinner.done(t0, false);
      return got!;
    }
  }
  // Counted as a sleeper from before the first re-check until the wait ends,
  // so that a send between the check and the sleep posts.
  sleeping(host, side);
  try {
    for (;;) {
      const again = attempt();
      if (again !== undefined) {
        if (learn) side.spinner.done(t0, true);
        return again;
      }
      // Without a timeout no clock is read: a slice is a relative futex
      // timeout (memory/_wait.ts: clock reads and short timers cost µs here).
      let sliceMs = SLICE_MS;
      if (deadline !== Infinity) {
        const left = deadline - performance.now();
        if (left <= 0) throw timedOut(side.verb, timeout);
        sliceMs = Math.min(SLICE_MS, left);
      }
      // false: the slice ended (or a spurious wake-up): look for dead peers.
      if (!semaphoreNap(side.sem, sliceMs)) side.afterSlice();
    }
  } finally {
    awake(host, side);
  }
}

/**
 * {@linkcode waitSync} without blocking the event loop, with `signal`: it
 * polls for at most `MAX_HOLD_US` (memory/_wait.ts) or naps, then sleeps on
 * the semaphore through a parked call.
 */
export function waitAsync<T>(
  host: WaitHost,
  attempt: Attempt<T>,
  side: WaitSide,
  o: Wait,
): Promise<T> {
  // The spin or nap runs here, before any async machinery: a peer that
  // answers within it (a ping-pong) costs one settled promise.
  let learn = false;
  let t0 = 0;
  try {
    o.signal?.throwIfAborted();
    const plan = side.spinner.plan(o.timeout, o.spinMicros ?? host.spinUs, true);
    learn = plan.learn;
    if (plan.napMs > 0) {
      const got = nap(host, attempt, side, plan.napMs);
      if (got !== undefined) return Promise.resolve(got);
    } else if (plan.spinUs > 0) {
      t0 = performance.now();
      let got: T | undefined;
      const deadline = o.timeout === undefined ? Infinity : t0 + o.timeout;
      if (
        spin(() => (got = attempt()) !== undefined, plan.spinUs, deadline, POLLS_PER_CLOCK_READ, t0)
      ) {
        if (learn) side.spinner.done(t0, false);
        return Promise.resolve(got!);
      }
    } else if (learn) {
      t0 = performance.now();
    }
  } catch (e) {
    return Promise.reject(closedWhileWaiting(host, side, e));
  }
  return waitAsyncSlow(host, attempt, side, o, learn, t0);
}

/** An async wait's nap (the spinner times and learns from it), counted as a sleeper so the other side posts. */
function nap<T>(host: WaitHost, attempt: Attempt<T>, side: WaitSide, ms: number): T | undefined {
  let got: T | undefined;
  side.spinner.nap(() => {
    sleeping(host, side);
    try {
      got = attempt();
      // A unit taken is a wake-up meant for whoever sleeps on this side: the
      // attempt decides whether it brought anything (a post may be stale).
      if (got === undefined && semaphoreNap(side.sem, ms)) got = attempt();
    } finally {
      awake(host, side);
    }
    return got !== undefined;
  });
  return got;
}

async function waitAsyncSlow<T>(
  host: WaitHost,
  attempt: Attempt<T>,
  side: WaitSide,
  o: Wait,
  learn: boolean,
  t0: number,
): Promise<T> {
  try {
    const got = await waitAsyncLoop(host, attempt, side, o);
    if (learn) side.spinner.done(t0, true);
    return got;
  } catch (e) {
    throw closedWhileWaiting(host, side, e);
  }
}

async function waitAsyncLoop<T>(
  host: WaitHost,
  attempt: Attempt<T>,
  side: WaitSide,
  o: Wait,
): Promise<T> {
  const { signal, timeout } = o;
  const deadline = deadlineOf(timeout);
  for (;;) {
    sleeping(host, side);
    try {
      const again = attempt();
      if (again !== undefined) return again;
      const left = deadline - performance.now();
      if (left <= 0) throw timedOut(side.verb, timeout);
      try {
        await side.sem.wait({
          timeout: Math.min(SLICE_MS, left),
          spinMicros: 0,
          ...(signal ? { signal } : {}),
        });
      } catch (e) {
        if (!(e instanceof Deno.errors.TimedOut)) throw e;
        side.afterSlice();
      }
    } finally {
      awake(host, side);
    }
  }
}

/** Counts this wait as a sleeper, so the other side posts. */
function sleeping(host: WaitHost, side: WaitSide): void {
  Atomics.add(host.i32, side.waiting, 1);
  side.counted++;
}

/** Uncounts it, unless close() already did (the mapping is gone then). */
function awake(host: WaitHost, side: WaitSide): void {
  if (host.closed) return;
  Atomics.sub(host.i32, side.waiting, 1);
  side.counted--;
}

/** Whatever ended a wait of a handle closed meanwhile, the caller learns that. */
function closedWhileWaiting(host: WaitHost, side: WaitSide, e: unknown): unknown {
  if (!host.closed) return e;
  return new Deno.errors.BadResource(
    `Channel ${host.name} was closed while waiting to ${side.verb}`,
    { cause: e },
  );
}

function timedOut(what: string, timeout: number | undefined): Deno.errors.TimedOut {
  return new Deno.errors.TimedOut(`Timed out after ${timeout} ms waiting to ${what}`);
}
