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
import { Mutex, MUTEX_SIZE } from "./mutex.ts";
import { isAlive } from "./_liveness.ts";
import { awaitMagic } from "./_named.ts";
import {
  checkWaitOptions,
  deadlineOf,
  type SyncWaitOptions,
  timedOut,
  type WaitOptions,
} from "./_options.ts";
import { type Parker, parkerAt } from "./_parker.ts";

const HEADER = MUTEX_SIZE / 4; // Int32 index of the first header word
export const MAGIC = HEADER;
export const SLEEPERS = HEADER + 1;
export const WORD_A = HEADER + 2;
export const WORD_B = HEADER + 3;
export const WORD_C = HEADER + 4;
const SLOTS = HEADER + 5;
export const WORD_D = HEADER + 6;
const PARKER_BYTE = MUTEX_SIZE + 32;
const TABLE = (MUTEX_SIZE + 64) / 4;

/** How long a sleeper sleeps before it looks for dead holders. */
const SLICE_MS = 50;

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

/** Shared state + table + parker; see the module notes. */
export class StateLock {
  cells: Int32Array;
  readonly slots: number;
  readonly inner: Mutex;
  readonly parker: Parker;
  readonly what: string;
  #ops: StateOps;

  constructor(
    region: MappedRegion,
    byteOffset: number,
    slots: number | undefined,
    magic: number,
    init: ((cells: Int32Array) => void) | undefined,
    ops: StateOps,
    what: string,
  ) {
    this.what = what;
    this.#ops = ops;
    if (init) {
      if (slots === undefined) throw new TypeError("slots needed to initialise");
      checkPlacement(region, byteOffset, stateLockSize(slots), 8, what);
      this.slots = slots;
      this.cells = region.view(Int32Array, byteOffset, stateLockSize(slots) / 4);
      this.cells.fill(0);
      this.cells[SLOTS] = slots;
      this.inner = Mutex.init(region, byteOffset);
      this.parker = parkerAt(region, byteOffset + PARKER_BYTE, true);
      init(this.cells);
      Atomics.store(this.cells, MAGIC, magic);
    } else {
      checkPlacement(region, byteOffset, stateLockSize(1), 8, what);
      this.cells = region.view(Int32Array, byteOffset, stateLockSize(1) / 4);
      if (!awaitMagic(this.cells, MAGIC, magic)) {
        throw new Deno.errors.InvalidData(
          `No ${what} is initialised at byte offset ${byteOffset} of this mapping`,
        );
      }
      this.slots = this.cells[SLOTS]!;
      checkPlacement(region, byteOffset, stateLockSize(this.slots), 8, what);
      this.cells = region.view(Int32Array, byteOffset, stateLockSize(this.slots) / 4);
      this.inner = Mutex.attach(region, byteOffset);
      this.parker = parkerAt(region, byteOffset + PARKER_BYTE, false);
    }
  }

  /** Runs `fn` under the internal mutex; scrubs dead holders first if its last holder died. */
  critical<T>(fn: () => T): T {
    if (this.cells.length === 0) {
      throw new Deno.errors.BadResource(`Cannot use the ${this.what}: its mapping is closed`);
    }
    const g = this.inner.lockSync();
    try {
      if (g.recovered) this.scrub();
      return fn();
    } finally {
      g.release();
    }
  }

  /** This process's holder count. Call under the internal mutex. */
  mine(): number {
    const i = this.#find(pid);
    return i === -1 ? 0 : this.cells[TABLE + i * 2 + 1]!;
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
    const n = this.cells[TABLE + i * 2 + 1]! + delta;
    this.cells[TABLE + i * 2 + 1] = n;
    if (n === 0) this.cells[TABLE + i * 2] = 0;
  }

  /** Sum of every live holder's count. Call under the internal mutex. */
  total(): number {
    let sum = 0;
    for (let i = 0; i < this.slots; i++) sum += this.cells[TABLE + i * 2 + 1]!;
    return sum;
  }

  /** Removes dead processes from the table and tells the lock. Call under the internal mutex. */
  scrub(): void {
    let dead = 0;
    for (let i = 0; i < this.slots; i++) {
      const p = this.cells[TABLE + i * 2]!;
      if (p !== 0 && p !== pid && !isAlive(p)) {
        dead += this.cells[TABLE + i * 2 + 1]!;
        this.cells[TABLE + i * 2] = 0;
        this.cells[TABLE + i * 2 + 1] = 0;
      }
    }
    this.#ops.scrubbed(this, dead);
  }

  /** Wakes sleepers after a give-back. `all` for reader-writer hand-offs. */
  wake(all: boolean): void {
    const sleepers = Atomics.load(this.cells, SLEEPERS);
    // Wake-ups already pending count too: a sleeper that died or timed out
    // leaves SLEEPERS high, and unbounded posts would make the others spin.
    const n = Math.min(all ? sleepers : 1, sleepers) - this.parker.value;
    for (let i = 0; i < n; i++) this.parker.post();
  }

  /** Takes, sleeping between attempts; a sleep slice that ends looks for dead holders. */
  acquireSync(taker: Taker, options: SyncWaitOptions, verb: string): void {
    checkWaitOptions(options);
    const deadline = deadlineOf(options.timeout);
    const me = { sleeping: false };
    for (let scrub = false;; scrub = true) {
      if (this.#attempt(taker, scrub, me)) return;
      const remaining = deadline - performance.now();
      try {
        if (remaining <= 0) throw timedOut(verb, options.timeout);
        this.parker.waitSync({ timeout: Math.min(SLICE_MS, remaining) });
      } catch (e) {
        if (e instanceof Deno.errors.TimedOut && remaining > 0) continue;
        try {
          this.#giveUp(taker, me);
        } catch { /* the mapping is gone; the original error says why */ }
        throw e;
      }
    }
  }

  /** Async {@linkcode StateLock.acquireSync}. */
  async acquire(taker: Taker, options: WaitOptions, verb: string): Promise<void> {
    checkWaitOptions(options);
    const { signal } = options;
    signal?.throwIfAborted();
    const deadline = deadlineOf(options.timeout);
    const me = { sleeping: false };
    for (let scrub = false;; scrub = true) {
      if (this.#attempt(taker, scrub, me)) return;
      const remaining = deadline - performance.now();
      try {
        if (remaining <= 0) throw timedOut(verb, options.timeout);
        await this.parker.wait({
          timeout: Math.min(SLICE_MS, remaining),
          ...(signal ? { signal } : {}),
        });
      } catch (e) {
        if (e instanceof Deno.errors.TimedOut && remaining > 0) continue;
        try {
          this.#giveUp(taker, me);
        } catch { /* the mapping is gone; the original error says why */ }
        throw e;
      }
    }
  }

  /** Takes without waiting (scrubbing dead holders first if it cannot). */
  tryAcquire(taker: Taker): boolean {
    if (this.critical(() => taker.take(this))) return true;
    return this.critical(() => {
      this.scrub();
      return taker.take(this);
    });
  }

  /** One try under the mutex. On failure the caller counts as a sleeper (once). */
  #attempt(taker: Taker, scrub: boolean, me: { sleeping: boolean }): boolean {
    return this.critical(() => {
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
    });
  }

  #giveUp(taker: Taker, me: { sleeping: boolean }): void {
    this.critical(() => {
      if (me.sleeping) {
        me.sleeping = false;
        Atomics.sub(this.cells, SLEEPERS, 1);
      }
      taker.gaveUp?.(this);
    });
  }

  #find(p: number): number {
    for (let i = 0; i < this.slots; i++) if (this.cells[TABLE + i * 2] === p) return i;
    return -1;
  }
}
