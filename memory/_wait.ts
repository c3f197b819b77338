/**
 * The library's one waiting strategy: whether a wait spins before it sleeps,
 * for how long, and how an async wait sleeps. Every blocking call (posix
 * semaphores, Mutex, RwLock, the permit Semaphore, Channel, SemaphoreSet and
 * System V message queues) asks the {@linkcode Spinner} of its handle.
 *
 * What it rests on (shared/FACTS.md, measured on these 2-vCPU VMs):
 * - A sleep and wake-up costs 40–75 µs each way when the sleeper's vCPU goes
 *   idle; a spin that catches the answer costs 0.1–3 µs. So a wait spins
 *   first, but never longer than a wake-up costs (`MAX_SPIN_US`).
 * - When more tasks are runnable than there are CPUs, a spinner burns the
 *   slice its peer needs to answer (C blocking: 14–28 µs a round trip; a
 *   spinner: 530–680 µs). Then a wait sleeps at once, as C does, and a spin
 *   the caller asked for yields the CPU between tries.
 * - A wait answered long after its spin ended says spinning did not pay: the
 *   budget halves, down to none. A wait answered soon after it went to sleep
 *   says a longer spin would have paid: the budget grows to cover it, and
 *   each spin that catches its answer grows it back by a microsecond. So a
 *   receiver fed 1,000 messages a second stops spinning, and a ping-pong
 *   partner spins just long enough. With no budget left only one wait in
 *   `LEARN_EVERY` reads the clock, and one in up to `LEARN_EVERY_MAX` while
 *   those keep finding the peer slow: a waiter woken with cold caches pays
 *   for every call it makes, and a peer that turns quick raises the rate, so
 *   it is still noticed within milliseconds. Nor does a sync wait with no
 *   budget ask whether the machine is oversubscribed: it sleeps at once either way.
 * - An async wait must not hold the event loop: its spin lasts at most
 *   `MAX_HOLD_US` before it parks on Deno's pool (a park costs two wake-ups:
 *   the pool thread's, then the event loop's).
 * - On an oversubscribed machine an async wait instead sleeps on its own
 *   thread first (a "nap": one wake-up, as C's). Arming a short timer costs
 *   a VM about 7 µs a wait here (C `sem_timedwait` with a 50 µs timeout: 20 µs
 *   a round trip against 7.6 µs untimed), while a timeout past the next
 *   scheduler tick (4 ms) costs nothing, so a nap may last up to `NAP_MAX_MS`
 *   — no longer than the time slice the kernel takes from the process there
 *   anyway. A nap that was not answered within `NAP_QUICK_US` says the peer
 *   is slow: naps stop for 1, 2, 4 … 1,024 waits, so a receiver fed at a low
 *   rate does not keep its event loop asleep.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { cString } from "../ffi/cstring.ts";
import { O } from "../ffi/constants.ts";
import { monotonicMs } from "../ffi/timespec.ts";

/** Longest default spin, in µs: about what one sleep and wake-up costs here. */
export const MAX_SPIN_US = 100;
/** The least spin of a wait whose peer is at work (a sender facing a full ring), in µs. */
export const WORKING_PEER_SPIN_US = 10;
/** The first spin of a new handle, in µs, before it has learnt anything. */
export const DEFAULT_SPIN_US = 20;
/** Longest stretch, in µs, that an async wait holds the event loop (a spin or a nap). */
export const MAX_HOLD_US = 50;
/** Longest nap of an async wait on an oversubscribed machine, in ms (see above). */
export const NAP_MAX_MS = 4;
/** A nap answered within this many µs paid; a slower one backs naps off. */
export const NAP_QUICK_US = 200;
/** With no spin budget, how many waits go by per timed one at first (see Spinner.plan). */
export const LEARN_EVERY = 8;
/** The most waits per timed one, after timed waits kept finding the peer slow. */
export const LEARN_EVERY_MAX = 128;
/** µs a spin that caught its answer adds back to the budget. */
const REGROW_US = 1;
/** One nap in this many is timed. */
const NAP_TIMED = 4;
/** Most waits that skip napping after slow naps. */
const NAP_BACKOFF_MAX = 1024;

/** How often, in ms, the run queue is sampled at most when the caller knows the time. */
const SAMPLE_MS = 2;
/** Otherwise once every this many questions (a sample costs ~5 µs, a clock read 0.3–0.9 µs). */
const SAMPLE_EVERY = 32;

// ---- is the machine oversubscribed? ----

let loadFd = -2; // -2: not opened yet; -1: unreadable, never oversubscribed
const loadBuf = new Uint8Array(128);
let sampledAt = -Infinity;
/** The last three samples, one bit each (1 = more runnable tasks than CPUs). */
let history = 0;
let busy = false;
let asked = 0;

/**
 * True when more tasks are runnable than this process may use CPUs: the
 * fourth field of `/proc/loadavg` counts the runnable tasks of the whole
 * machine right now, this thread included. Two of the last three samples
 * decide, so that one stray kernel thread does not turn spinning off. A
 * sample is taken at most every `SAMPLE_MS` when `now` is given, else on
 * every `SAMPLE_EVERY`th question (and the first).
 */
export function oversubscribed(now?: number): boolean {
  if (forced !== undefined) return forced;
  if (now === undefined) {
    if (asked++ % SAMPLE_EVERY !== 0) return busy;
  } else {
    if (now - sampledAt < SAMPLE_MS) return busy;
    sampledAt = now;
  }
  const running = runnable();
  if (running < 0) return busy = false;
  history = ((history << 1) | (running > cpus() ? 1 : 0)) & 7;
  busy = history === 3 || history >= 5;
  return busy;
}

let forced: boolean | undefined;

/**
 * Makes {@linkcode oversubscribed} answer `value` until called with
 * `undefined`: for tests of the plans, which must not depend on the load.
 */
export function forceOversubscribed(value: boolean | undefined): void {
  forced = value;
}

let cpuCount = 0;
function cpus(): number {
  return cpuCount ||= Math.max(1, navigator.hardwareConcurrency || 1);
}

/** Runnable tasks on the machine now ("R" of "0.10 0.20 0.30 R/T PID"), or -1. */
function runnable(): number {
  const lib = libc();
  if (loadFd === -2) loadFd = lib.open(cString("/proc/loadavg"), O.RDONLY | O.CLOEXEC);
  if (loadFd < 0) return -1;
  const n = Number(lib.pread(loadFd, loadBuf, BigInt(loadBuf.length), 0n));
  if (n <= 0) return -1;
  // Skip three fields, then parse digits up to the '/'.
  let i = 0;
  for (let spaces = 0; i < n && spaces < 3; i++) if (loadBuf[i] === 0x20) spaces++;
  let value = 0;
  let digits = 0;
  for (; i < n; i++, digits++) {
    const c = loadBuf[i]! - 0x30;
    if (c < 0 || c > 9) break;
    value = value * 10 + c;
  }
  return digits > 0 && loadBuf[i] === 0x2f ? value : -1;
}

// ---- spinning ----

/**
 * Calls `attempt` until it returns true or `micros` µs pass (never past
 * `deadline`, a `performance.now()` time). The clock is read every `tries`
 * attempts: a read costs more than an attempt here (0.1–3 µs), and a caller
 * that has just read it passes it as `start`. On an
 * oversubscribed machine it yields the CPU between rounds, so a spin the
 * caller asked for does not take the slice its peer needs.
 *
 * @returns true when an attempt succeeded
 */
export function spin(
  attempt: () => boolean,
  micros: number,
  deadline = Infinity,
  tries = 16,
  start = micros > 0 ? performance.now() : 0,
): boolean {
  if (micros <= 0) return false;
  const end = Math.min(start + micros / 1000, deadline);
  const yielding = oversubscribed(start);
  for (;;) {
    for (let i = 0; i < tries; i++) if (attempt()) return true;
    if (performance.now() >= end) return false;
    if (yielding) libc().sched_yield();
  }
}

/** How a wait should go: its spin, and for an async wait, its nap. */
export interface WaitPlan {
  /** µs to spin before sleeping (0: sleep at once). */
  spinUs: number;
  /** ms an async wait may sleep on the JS thread before it parks on the pool (0: none). */
  napMs: number;
  /**
   * Whether {@linkcode Spinner.done} wants to hear how the wait ended (it
   * needs the wait's start time, and a clock read costs 0.3–0.9 µs here).
   */
  learn: boolean;
}

/**
 * The adaptive spin of one waiting handle (or one side of a Channel). Ask
 * {@linkcode Spinner.plan} before a wait that the first try could not
 * satisfy; tell {@linkcode Spinner.done} how it ended when the plan says `learn`.
 */
export class Spinner {
  /** µs within which recent waits were answered: what a spin should cover. */
  #expectUs = DEFAULT_SPIN_US;
  #plan: WaitPlan = { spinUs: 0, napMs: 0, learn: false };
  /** Waits left that skip napping, and the skip after the next slow nap. */
  #napSkip = 0;
  #napBackoff = 1;
  /** Naps run, of which one in NAP_TIMED is timed. */
  #naps = 0;
  /** Waits with no budget left before the next timed one, and the gap after it. */
  #untilTimed = 0;
  #learnEvery = LEARN_EVERY;

  /** The least spin on a quiet machine, whatever was learnt (see the constructor). */
  readonly #floorUs: number;

  /**
   * @param floorUs the least spin on a quiet machine, for a wait whose peer
   *   is known to be at work: a sender facing a full ring waits on receivers
   *   that have messages to take, and will free a slot within a message's
   *   time unless descheduled. A wait that stalls behind a descheduled peer
   *   must not teach such a wait to sleep at once: each sleep costs a
   *   wake-up, and the drained ring then stalls the peer in turn.
   */
  constructor(floorUs = 0) {
    this.#floorUs = floorUs;
  }

  /** The current adaptive budget in µs (for tests and the CLI). */
  get budgetUs(): number {
    return this.#expectUs;
  }

  /**
   * The plan for one wait. `explicitUs` (the caller's `spinMicros`) wins over
   * the adaptive budget, but an async spin never lasts past `MAX_HOLD_US`,
   * and no spin outlasts `timeout` ms. The returned
   * object is reused by the next call.
   */
  plan(timeout: number | undefined, explicitUs: number | undefined, async: boolean): WaitPlan {
    const p = this.#plan;
    p.learn = false;
    p.napMs = 0;
    if (timeout === 0) {
      p.spinUs = 0;
      return p;
    }
    const limit = timeout === undefined ? Infinity : timeout * 1000;
    if (explicitUs !== undefined) {
      // Even a spin the caller asked for holds an event loop MAX_HOLD_US at most.
      p.spinUs = Math.min(explicitUs, async ? MAX_HOLD_US : Infinity, limit);
      return p;
    }
    const budget = Math.max(this.#expectUs, this.#floorUs);
    // A sync wait with no budget sleeps at once whatever the load, so it
    // does not ask (a sample reads /proc/loadavg).
    if ((async || budget > 0) && oversubscribed()) {
      // Sleep at once: a spinner would take the CPU the peer needs to answer,
      // and a woken sleeper is scheduled soon. An async wait naps on its own
      // thread first: one wake-up instead of the pool's two.
      p.spinUs = 0;
      if (async) {
        if (this.#napSkip > 0) this.#napSkip--;
        else p.napMs = Math.min(NAP_MAX_MS, limit / 1000);
      }
      return p;
    }
    p.spinUs = Math.min(budget, async ? MAX_HOLD_US : MAX_SPIN_US, limit);
    if (p.spinUs > 0) {
      p.learn = true;
    } else if (--this.#untilTimed <= 0) {
      // With no budget left, one wait in #learnEvery is timed: a waiter woken
      // with cold caches pays for every call it makes (about a µs each here,
      // clock reads included). The gap doubles while timed waits find the
      // peer slow (see done): a peer that turns quick raises the message
      // rate, so even the widest gap passes within a few milliseconds.
      p.learn = true;
      this.#untilTimed = this.#learnEvery;
    }
    return p;
  }

  /**
   * For a sync wait with no timeout or spin of its own: true when its plan
   * would say no spin and nothing to learn (no budget left, and not the
   * timed one), counted as {@linkcode Spinner.plan} counts it. Such a wait
   * sleeps at once without planning; on false, plan it.
   */
  quiet(): boolean {
    if (this.#expectUs > 0 || this.#floorUs > 0 || this.#untilTimed <= 1) return false;
    this.#untilTimed--;
    return true;
  }

  /**
   * Runs one nap: `sleep` sleeps at most the plan's `napMs` and says whether
   * it was answered. One nap in `NAP_TIMED` is timed (the clock costs more
   * than the rest of a nap), and {@linkcode Spinner.napped} learns from it.
   */
  nap(sleep: () => boolean): boolean {
    const timed = this.#naps++ % NAP_TIMED === 0;
    const n0 = timed ? monotonicMs() : 0;
    const caught = sleep();
    if (timed || !caught) this.napped(timed ? (monotonicMs() - n0) * 1000 : Infinity, caught);
    return caught;
  }

  /** Learns from a nap that lasted `us` µs and was answered (`caught`) or not. */
  napped(us: number, caught: boolean): void {
    if (caught && us <= NAP_QUICK_US) {
      this.#napBackoff = 1;
    } else {
      this.#napSkip = this.#napBackoff;
      this.#napBackoff = Math.min(NAP_BACKOFF_MAX, this.#napBackoff * 2);
    }
  }

  /**
   * Learns from a wait that began at `t0` (performance.now()) and went past
   * its first try: `slept` when the spin (if any) did not catch the answer.
   */
  done(t0: number, slept: boolean): void {
    if (!slept) {
      // The spin paid: grow back slowly, so that one stall's halving is undone
      // by the quick answers after it (a ping-pong whose budget stayed halved
      // parked 40% more often), with no clock read here.
      this.#expectUs = Math.min(MAX_SPIN_US, this.#expectUs + REGROW_US);
      return;
    }
    const us = (performance.now() - t0) * 1000;
    if (us <= MAX_SPIN_US) {
      // Answered soon after sleeping: a spin this long would have caught it.
      this.#expectUs = Math.min(MAX_SPIN_US, Math.max(this.#expectUs, us * 1.5, 2));
      this.#learnEvery = LEARN_EVERY;
    } else if (this.#expectUs === 0) {
      // Slow again with no budget: time fewer of the waits to come.
      this.#learnEvery = Math.min(LEARN_EVERY_MAX, this.#learnEvery * 2);
    } else {
      const half = this.#expectUs / 2;
      this.#expectUs = half < 2 ? 0 : half;
    }
  }
}
