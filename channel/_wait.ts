/**
 * The one waiting loop behind every blocking or awaited send and receive:
 * poll the ring for a while (a wake-up through the semaphore costs tens to
 * hundreds of µs on these VMs), then announce this wait as a sleeper (so the
 * other side posts), re-check, and sleep on the side's semaphore for a slice;
 * a slice that ends empty-handed runs the side's dead-peer checks.
 *
 * The interface is {@linkcode waitSync} and {@linkcode waitAsync}: each takes
 * the handle ({@linkcode WaitHost}), an `attempt` that tries the operation
 * once and returns `undefined` when it cannot complete yet, the side being
 * waited on ({@linkcode WaitSide}) and the checked options. Callers have made
 * their first attempt already: these run only when something must wait.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Semaphore } from "../posix/semaphore.ts";
import { deadlineOf } from "../sync/_options.ts";
import type { Wait } from "./_options.ts";

/** Longest sleep on the semaphore before the dead-peer checks run. */
export const SLICE_MS = 50;
/** Microseconds a wait polls before it sleeps, unless the handle or the wait says otherwise. */
export const DEFAULT_SPIN_US = 200;
/**
 * The longest an awaited send or receive polls the ring in one go, holding
 * the event loop: it polls in stretches of about this many microseconds
 * (give or take one batch of {@linkcode ASYNC_POLLS_PER_CLOCK_READ} polls),
 * yields to the event loop between them (timers and I/O run), and sleeps once
 * its `spinMicros` are spent.
 */
export const ASYNC_SPIN_STRETCH_US = 50;
/** Polls between two clock reads in an async stretch (a clock read costs more than a poll). */
export const ASYNC_POLLS_PER_CLOCK_READ = 64;
/** Polls between two clock reads in a blocking spin, and before the first. */
const SYNC_POLLS_PER_CLOCK_READ = 256;

/** One side of the ring, as the waiting loop sees it. */
export interface WaitSide {
  /** Header index of this side's sleeper count. */
  readonly waiting: number;
  /** How many of that count are this handle's waits (close() takes them back). */
  counted: number;
  /** The semaphore this side sleeps on (the other side posts it). */
  readonly sem: Semaphore;
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
  /** The handle's default poll budget, in milliseconds. */
  readonly spinMs: number;
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
  const deadline = deadlineOf(timeout);
  const spinMs = spinOf(host, o);
  for (;;) {
    const got = spin(attempt, spinMs, deadline);
    if (got !== undefined) return got;
    sleeping(host, side);
    try {
      const again = attempt();
      if (again !== undefined) return again;
      const left = deadline - performance.now();
      if (left <= 0) throw timedOut(side.verb, timeout);
      try {
        side.sem.waitSync({ timeout: Math.min(SLICE_MS, left), spinMicros: 0 });
      } catch (e) {
        if (!(e instanceof Deno.errors.TimedOut)) throw e;
        side.afterSlice();
      }
    } finally {
      awake(host, side);
    }
  }
}

/**
 * {@linkcode waitSync} without blocking the event loop, with `signal`: it
 * polls in stretches of at most {@linkcode ASYNC_SPIN_STRETCH_US}, then
 * sleeps on the semaphore through a nonblocking call.
 */
export function waitAsync<T>(
  host: WaitHost,
  attempt: Attempt<T>,
  side: WaitSide,
  o: Wait,
): Promise<T> {
  // The first batch of polls runs here, before any async machinery: a peer
  // that answers within it (a ping-pong) costs one settled promise.
  if (spinOf(host, o) > 0) {
    try {
      const got = pollBatch(attempt);
      if (got !== undefined) return Promise.resolve(got);
    } catch (e) {
      return Promise.reject(closedWhileWaiting(host, side, e));
    }
  }
  return waitAsyncSlow(host, attempt, side, o);
}

async function waitAsyncSlow<T>(
  host: WaitHost,
  attempt: Attempt<T>,
  side: WaitSide,
  o: Wait,
): Promise<T> {
  try {
    return await waitAsyncLoop(host, attempt, side, o);
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
  signal?.throwIfAborted();
  const deadline = deadlineOf(timeout);
  const spinMs = spinOf(host, o);
  const stretchMs = ASYNC_SPIN_STRETCH_US / 1000;
  for (let first = true;; first = false) {
    if (spinMs > 0) {
      // After one batch without a clock read (waitAsync's, at first), as in spin(): a peer
      // that answers at once should not pay for it.
      if (!first) {
        const got = pollBatch(attempt);
        if (got !== undefined) return got;
      }
      const t0 = performance.now();
      const spinEnd = Math.min(t0 + spinMs, deadline);
      let stretchEnd = Math.min(t0 + stretchMs, spinEnd);
      for (;;) {
        const got = spinStretch(attempt, stretchEnd);
        if (got !== undefined) return got;
        const now = performance.now();
        if (now >= spinEnd) break;
        await yieldToEventLoop();
        signal?.throwIfAborted();
        stretchEnd = Math.min(performance.now() + stretchMs, spinEnd);
      }
    }
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

/** A macrotask turn: timers, I/O and other tasks run before the wait polls again (~1.5 µs). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Polls for up to `spinMs`, never past `deadline`: a spin is a cheaper sleep,
 * not a longer wait. The clock is read only every 256 polls, and not before
 * the first 256: it costs more than a poll here (0.1–3 µs), and a peer that
 * answers at once should not pay it.
 */
function spin<T>(attempt: Attempt<T>, spinMs: number, deadline: number): T | undefined {
  if (spinMs <= 0) return undefined;
  for (let k = 0; k < SYNC_POLLS_PER_CLOCK_READ; k++) {
    const got = attempt();
    if (got !== undefined) return got;
  }
  const end = Math.min(performance.now() + spinMs, deadline);
  do {
    for (let k = 0; k < SYNC_POLLS_PER_CLOCK_READ; k++) {
      const got = attempt();
      if (got !== undefined) return got;
    }
  } while (performance.now() < end);
  return undefined;
}

/** Polls until `end` (one batch at least), reading the clock every ASYNC_POLLS_PER_CLOCK_READ polls. */
function spinStretch<T>(attempt: Attempt<T>, end: number): T | undefined {
  do {
    const got = pollBatch(attempt);
    if (got !== undefined) return got;
  } while (performance.now() < end);
  return undefined;
}

/** ASYNC_POLLS_PER_CLOCK_READ polls, without reading the clock. */
function pollBatch<T>(attempt: Attempt<T>): T | undefined {
  for (let k = 0; k < ASYNC_POLLS_PER_CLOCK_READ; k++) {
    const got = attempt();
    if (got !== undefined) return got;
  }
  return undefined;
}

/** The wait's poll budget in ms: its own `spinMicros`, else none for a try-once, else the handle's. */
function spinOf(host: WaitHost, o: Wait): number {
  if (o.spinMicros === undefined) return o.timeout === 0 ? 0 : host.spinMs;
  return o.spinMicros / 1000;
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
