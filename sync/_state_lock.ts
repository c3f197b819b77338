/**
 * The machinery under `Semaphore` and `RwLock`: a small block of shared state
 * guarded by an internal `Mutex`, a table of which processes hold what, and a
 * parker that sleepers wait on. Each lock only says how to take and give back
 * under the internal mutex; waiting, timeouts, aborts and dead-holder cleanup
 * live here once.
 *
 * Layout at `base`:
 *   [0, 64)   internal Mutex
 *   64        magic
 *   68        sleepers (processes or Workers waiting)
 *   72..80    lock-specific words A, B, C
 *   84        holder-table size (slots)
 *   88        lock-specific word D
 *   96        parker (32 bytes)
 *   128       holder table: `slots` entries of { pid: i32, count: i32 }
 *
 * @module
 */

import { checkPlacement, type MappedRegion } from "../memory/region.ts";
import { isAlive } from "../memory/_liveness.ts";
import { place, type PlaceHow, placeWhere } from "../memory/_placement.ts";
import { initEmbeddedMutex, Mutex, MUTEX_SIZE, type MutexGuard } from "./mutex.ts";
import {
  checkWaitOptions,
  deadlineOf,
  type SyncWaitOptions,
  timedOut,
  type WaitOptions,
} from "./_options.ts";
import { type Parker, parkerAt } from "./_parker.ts";

const HEADER = MUTEX_SIZE / 4; // Int32 index of the first header word
export const MAGIC = HEADER; // the placement word (memory/_placement.ts)
export const SLEEPERS = HEADER + 1;
export const WORD_A = HEADER + 2;
export const WORD_B = HEADER + 3;
export const WORD_C = HEADER + 4;
const SLOTS = HEADER + 5;
export const WORD_D = HEADER + 6;
/** Layout version, written before the magic, so that a reader refuses a layout it does not know. */
export const VERSION = HEADER + 7;
export const LAYOUT_VERSION = 1;
const PARKER_BYTE = MUTEX_SIZE + 32;
const TABLE = (MUTEX_SIZE + 64) / 4;

/** How long a sleeper sleeps before it looks for dead holders. */
const SLICE_MS = 50;
/**
 * How long a give-back (a release, a close, a waiter leaving) waits for the
 * internal mutex, which its holders keep for microseconds: only a holder that
 * hangs, or a corrupted lock word naming a live process, makes it run out.
 */
const INNER_WAIT_MS = 1_000;
/** How long a waiter on its way out (timed out, aborted) waits to give its place up. */
const LEAVE_WAIT_MS = 2;
/** A try's one look at a busy internal mutex: long enough for a peer's critical section. */
const TRY_SPIN_MS = 0.05;
/** Linux's PID_MAX_LIMIT: a table or owner word above it is not a pid. */
const PID_MAX_LIMIT = 2 ** 22;
/** More sleepers than this is a corrupted count (a waiter is a process, Worker or handle). */
const MAX_SLEEPERS = 2 ** 24;
/**
 * Posts one wake-up round makes at most. Every sleeper looks again when its
 * slice ends anyway, so a cap costs latency only, never a lost wake-up.
 */
const MAX_WAKES = 1024;
const COUNT_MAX = 0x7fffffff;

/** Bytes needed for a state lock with `slots` holder entries. */
export function stateLockSize(slots: number): number {
  return MUTEX_SIZE + 64 + slots * 8;
}

/** Checks a holder-table size. */
export function checkSlots(slots: unknown): asserts slots is number {
  if (typeof slots !== "number" || !Number.isSafeInteger(slots) || slots < 1 || slots > 4096) {
    throw new RangeError(`maxHolders must be an integer from 1 to 4096, got ${slots}`);
  }
}

const pid = Deno.pid;

/** What a lock does under the internal mutex. */
export interface StateOps {
  /** Called (mutex held) after dead holders were removed from the table. */
  scrubbed(state: StateLock, deadCounts: number): void;
}

/** One way of taking the lock (a permit, a read lock, the write lock). */
export interface Taker {
  /** Tries to take; true on success. Called with the internal mutex held. */
  take(state: StateLock): boolean;
  /** Called (mutex held) when a waiter gives up (timeout, abort). */
  gaveUp?(state: StateLock): void;
}

/** Which lock a StateLock is, for placement and messages. */
export interface StateLockKind {
  /** Public class name: "RwLock" or "Semaphore". */
  kind: string;
  /** Lower-case words for messages: "reader-writer lock". */
  what: string;
  /** The placement word's ready value. */
  magic: number;
  /** The name of a named lock. */
  name?: string | undefined;
}

interface Pending {
  taker: Taker;
  me: { sleeping: boolean };
}

/** Shared state + table + parker; see the module notes. */
export class StateLock {
  cells: Int32Array;
  readonly slots: number;
  readonly inner: Mutex;
  readonly parker: Parker;
  readonly what: string;
  /** True when this handle's placement initialised the lock. */
  readonly created: boolean;
  closed = false;
  #ops: StateOps;
  #label: string;
  #magic: number;
  #pending = new Set<Pending>();

  /**
   * Places (see memory/_placement.ts) the lock at `byteOffset`: `init` runs
   * only in the one handle that initialises it, with the cells zeroed.
   * `slots` is the table size to initialise with (ignored on attach).
   */
  constructor(
    region: MappedRegion,
    byteOffset: number,
    how: PlaceHow,
    slots: number,
    kind: StateLockKind,
    init: (cells: Int32Array) => void,
    ops: StateOps,
  ) {
    const what = kind.what;
    this.what = what;
    this.#label = `${kind.kind} ${kind.name ?? "in shared memory"}`;
    this.#ops = ops;
    this.#magic = kind.magic;
    const size = stateLockSize(how === "attach" ? 1 : slots);
    checkPlacement(region, byteOffset, size, 8, what);
    let cells = region.view(Int32Array, byteOffset, size / 4);
    let inner: Mutex | undefined;
    let parker: Parker | undefined;
    const where = placeWhere(region, byteOffset);
    this.created = place(cells, MAGIC, how, { kind: kind.kind, magic: kind.magic, where }, () => {
      // Everything but the placement word, which holds our claim.
      cells.fill(0, 0, MAGIC);
      cells.fill(0, MAGIC + 1);
      cells[SLOTS] = slots;
      cells[VERSION] = LAYOUT_VERSION;
      inner = initEmbeddedMutex(region, byteOffset);
      parker = parkerAt(region, byteOffset + PARKER_BYTE, true);
      init(cells);
    });
    if (this.created) {
      this.slots = slots;
    } else {
      const version = Atomics.load(cells, VERSION);
      if (version !== LAYOUT_VERSION) {
        throw new Deno.errors.InvalidData(
          `The ${kind.kind} at ${where} has layout version ${version}; this library reads version ${LAYOUT_VERSION}`,
        );
      }
      // Another process wrote the table size: input, so check it before sizing views by it.
      const n = Atomics.load(cells, SLOTS);
      if (!Number.isSafeInteger(n) || n < 1 || n > 4096) {
        throw new Deno.errors.InvalidData(
          `The ${kind.kind} at ${where} has a corrupt holder-table size (${n})`,
        );
      }
      this.slots = n;
      checkPlacement(region, byteOffset, stateLockSize(n), 8, what);
      cells = region.view(Int32Array, byteOffset, stateLockSize(n) / 4);
    }
    this.cells = cells;
    this.inner = inner ?? Mutex.attach(region, byteOffset);
    this.parker = parker ?? parkerAt(region, byteOffset + PARKER_BYTE, false);
  }

  /**
   * Closes this handle's view of the lock: pending async waits give up their
   * place (sleeper count, waiting-writer mark) and reject with BadResource.
   */
  close(): void {
    if (this.closed) return;
    for (const p of this.#pending) {
      try {
        this.#giveUp(p.taker, p.me);
      } catch { /* the mapping is gone; nothing to give back */ }
    }
    this.closed = true;
    this.parker.close();
    this.inner.close();
  }

  /** The error for a wait whose handle closed under it. */
  closedWhileWaiting(verb: string): Deno.errors.BadResource {
    return new Deno.errors.BadResource(`${this.#label} was closed while waiting to ${verb}`);
  }

  /**
   * Runs `fn` under the internal mutex, waiting for it until `deadline` (a
   * `performance.now()` time; default: a give-back's bound) and then
   * `TimedOut`; scrubs dead holders first if its last holder died.
   */
  critical<T>(fn: () => T, deadline: number = performance.now() + INNER_WAIT_MS): T {
    this.#usable();
    const left = deadline - performance.now();
    const g = this.inner.tryLock() ?? this.inner.lockSync({ timeout: Math.max(0, left) });
    return this.#under(g, fn);
  }

  /** {@linkcode StateLock.critical} for a try: `undefined` when the internal mutex stays busy. */
  tryCritical<T>(fn: () => T): T | undefined {
    this.#usable();
    let g = this.inner.tryLock();
    if (g === undefined) {
      try {
        g = this.inner.lockSync({ timeout: TRY_SPIN_MS });
      } catch (e) {
        if (e instanceof Deno.errors.TimedOut) return undefined;
        throw e;
      }
    }
    return this.#under(g, fn);
  }

  /** {@linkcode StateLock.critical} that waits for the internal mutex without blocking the event loop. */
  async criticalAsync<T>(fn: () => T, deadline: number, signal?: AbortSignal): Promise<T> {
    this.#usable();
    let g = this.inner.tryLock();
    if (g === undefined) {
      const left = Math.max(0, deadline - performance.now());
      g = await this.inner.lock({
        ...(left === Infinity ? {} : { timeout: left }),
        ...(signal ? { signal } : {}),
      });
      this.#usable();
    }
    return this.#under(g, fn);
  }

  #under<T>(g: MutexGuard, fn: () => T): T {
    try {
      const magic = Atomics.load(this.cells, MAGIC);
      if (magic !== this.#magic) throw this.corrupt("magic", magic);
      if (g.recovered) this.scrub();
      return fn();
    } finally {
      g.release();
    }
  }

  #usable(): void {
    if (this.closed) {
      throw new Deno.errors.BadResource(`Cannot use ${this.#label}: it is closed`);
    }
    if (this.cells.length === 0) {
      throw new Deno.errors.BadResource(`Cannot use the ${this.what}: its mapping is closed`);
    }
  }

  /** The error for a word another process overwrote with something this lock never writes. */
  corrupt(field: string, value: number): Deno.errors.InvalidData {
    return new Deno.errors.InvalidData(
      `Cannot use ${this.#label}: its ${field} is ${value} (0x${(value >>> 0).toString(16)}), ` +
        `which it never holds; another process overwrote it`,
    );
  }

  /** A word that must hold 0 or a pid. */
  pidAt(index: number, field: string): number {
    const v = this.cells[index]!;
    if (v < 0 || v > PID_MAX_LIMIT) throw this.corrupt(field, v);
    return v;
  }

  /** Holder-table entry `i`: its pid and count, both checked. */
  #entry(i: number): [number, number] {
    const p = this.cells[TABLE + i * 2]!;
    const n = this.cells[TABLE + i * 2 + 1]!;
    if (p < 0 || p > PID_MAX_LIMIT) throw this.corrupt(`holder-table entry ${i} pid`, p);
    if (n < 0 || (p === 0 && n !== 0)) throw this.corrupt(`holder-table entry ${i} count`, n);
    return [p, n];
  }

  /** This process's holder count. Call under the internal mutex. */
  mine(): number {
    const i = this.#find(pid);
    return i === -1 ? 0 : this.#entry(i)[1];
  }

  /** Adds `delta` to this process's holder count. Call under the internal mutex. */
  addMine(delta: number): void {
    let i = this.#find(pid);
    if (i === -1) {
      i = this.#find(0);
      if (i === -1) {
        this.scrub();
        i = this.#find(0);
      }
      if (i === -1) {
        throw new Deno.errors.Busy(
          `The ${this.what}'s table of ${this.slots} holder processes is full`,
        );
      }
      this.cells[TABLE + i * 2] = pid;
      this.cells[TABLE + i * 2 + 1] = 0;
    }
    const n = this.#entry(i)[1] + delta;
    if (n < 0 || n > COUNT_MAX) throw this.corrupt(`holder-table entry ${i} count`, n - delta);
    this.cells[TABLE + i * 2 + 1] = n;
    if (n === 0) this.cells[TABLE + i * 2] = 0;
  }

  /** Sum of every live holder's count. Call under the internal mutex. */
  total(): number {
    let sum = 0;
    for (let i = 0; i < this.slots; i++) sum += this.#entry(i)[1];
    return sum;
  }

  /** Removes dead processes from the table and tells the lock. Call under the internal mutex. */
  scrub(): void {
    let dead = 0;
    for (let i = 0; i < this.slots; i++) {
      const [p, n] = this.#entry(i);
      if (p !== 0 && p !== pid && !isAlive(p)) {
        dead += n;
        this.cells[TABLE + i * 2] = 0;
        this.cells[TABLE + i * 2 + 1] = 0;
      }
    }
    this.#ops.scrubbed(this, dead);
  }

  /** Wakes sleepers after a give-back. `all` for reader-writer hand-offs. */
  wake(all: boolean): void {
    const sleepers = Atomics.load(this.cells, SLEEPERS);
    if (sleepers < 0 || sleepers > MAX_SLEEPERS) throw this.corrupt("sleeper count", sleepers);
    // Wake-ups already pending count too: a sleeper that died or timed out
    // leaves SLEEPERS high, and unbounded posts would make the others spin.
    const n = Math.min(all ? sleepers : 1, sleepers, MAX_WAKES) - this.parker.value;
    for (let i = 0; i < n; i++) this.parker.post();
  }

  /**
   * Takes, sleeping between attempts; a sleep slice that ends looks for dead
   * holders. `made` turns the take into the caller's guard at once, so that a
   * close() can never fall between the two and leave the take unrecorded.
   */
  acquireSync<T>(
    taker: Taker,
    options: SyncWaitOptions,
    verb: string,
    what: string,
    made: () => T,
  ): T {
    checkWaitOptions(options, what, true);
    const deadline = deadlineOf(options.timeout);
    const me = { sleeping: false };
    for (let scrub = false;; scrub = true) {
      let remaining: number;
      try {
        const body = () => this.#attempt(taker, scrub, me);
        if (this.critical(body, deadline)) return made();
        remaining = deadline === Infinity ? Infinity : deadline - performance.now();
        if (remaining <= 0) throw timedOut(verb, options.timeout);
        this.parker.waitSync({ timeout: Math.min(SLICE_MS, remaining) });
      } catch (e) {
        // Out of time: one last try that also looks for dead holders, as a try would.
        if (e instanceof Deno.errors.TimedOut && (deadline - performance.now() > 0 || !scrub)) {
          continue;
        }
        this.#leave(taker, me);
        throw e instanceof Deno.errors.TimedOut ? timedOut(verb, options.timeout) : e;
      }
    }
  }

  /** Async {@linkcode StateLock.acquireSync}. */
  async acquire<T>(
    taker: Taker,
    options: WaitOptions,
    verb: string,
    what: string,
    made: () => T,
  ): Promise<T> {
    checkWaitOptions(options, what);
    const { signal } = options;
    signal?.throwIfAborted();
    const deadline = deadlineOf(options.timeout);
    const me = { sleeping: false };
    const pending = { taker, me };
    this.#pending.add(pending);
    try {
      for (let scrub = false;; scrub = true) {
        try {
          const body = () => this.#attempt(taker, scrub, me);
          if (await this.criticalAsync(body, deadline, signal)) return made();
          const remaining = deadline - performance.now();
          if (remaining <= 0) throw timedOut(verb, options.timeout);
          await this.parker.wait({
            timeout: Math.min(SLICE_MS, remaining),
            ...(signal ? { signal } : {}),
          });
        } catch (e) {
          // close() already gave our place up, and the views may be gone.
          if (this.closed) throw this.closedWhileWaiting(verb);
          // An abort whose reason is a TimedOut must not pass for a slice that ended.
          const aborted = signal?.aborted === true;
          // Out of time: one last try that also looks for dead holders, as a try would.
          const more = deadline - performance.now() > 0 || !scrub;
          if (!aborted && e instanceof Deno.errors.TimedOut && more) continue;
          this.#leave(taker, me);
          if (aborted) throw signal!.reason;
          throw e instanceof Deno.errors.TimedOut ? timedOut(verb, options.timeout) : e;
        }
        if (this.closed) throw this.closedWhileWaiting(verb);
      }
    } finally {
      this.#pending.delete(pending);
    }
  }

  /** Takes without waiting (scrubbing dead holders first if it cannot). */
  tryAcquire(taker: Taker): boolean {
    return this.tryCritical(() => {
      if (taker.take(this)) return true;
      this.scrub();
      return taker.take(this);
    }) ?? false;
  }

  /** One try; call under the mutex. On failure the caller counts as a sleeper (once). */
  #attempt(taker: Taker, scrub: boolean, me: { sleeping: boolean }): boolean {
    if (scrub) this.scrub();
    if (taker.take(this)) {
      if (me.sleeping) {
        me.sleeping = false;
        Atomics.sub(this.cells, SLEEPERS, 1);
      }
      return true;
    }
    if (!me.sleeping) {
      me.sleeping = true;
      Atomics.add(this.cells, SLEEPERS, 1);
    }
    return false;
  }

  /**
   * Gives a waiter's place up on its way out, best effort: if the internal
   * mutex cannot be had, the sleeper count stays one high, which costs a
   * spare wake-up, not a lost one.
   */
  #leave(taker: Taker, me: { sleeping: boolean }): void {
    try {
      this.#giveUp(taker, me, performance.now() + LEAVE_WAIT_MS);
    } catch { /* the mapping is gone or the state is corrupt; the original error says why */ }
  }

  #giveUp(taker: Taker, me: { sleeping: boolean }, deadline?: number): void {
    this.critical(() => {
      if (me.sleeping) {
        me.sleeping = false;
        Atomics.sub(this.cells, SLEEPERS, 1);
      }
      taker.gaveUp?.(this);
    }, deadline);
  }

  #find(p: number): number {
    for (let i = 0; i < this.slots; i++) if (this.cells[TABLE + i * 2] === p) return i;
    return -1;
  }
}
