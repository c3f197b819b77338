/**
 * Where a waiter sleeps: a process-shared semaphore inside the same mapping as
 * the lock word. The lock word decides who owns the lock; the semaphore only
 * puts waiters to sleep and wakes them.
 *
 * TEMPORARY polling implementation until posix.Semaphore lands.
 *
 * @module
 */

import type { MappedRegion } from "../memory/region.ts";

/** Bytes reserved for a parker (sizeof(sem_t) on glibc x86_64/aarch64). */
export const PARKER_SIZE = 32;
/** Alignment of a parker. */
export const PARKER_ALIGN = 8;

/** The sleep/wake half of a lock. */
export interface Parker {
  /** Wake-ups posted and not yet consumed. */
  readonly value: number;
  post(): void;
  waitSync(options: { timeout?: number }): void;
  wait(options: { timeout?: number; signal?: AbortSignal }): Promise<void>;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Initialises (when `init`) or attaches the parker at `byteOffset` of `region`. */
export function parkerAt(region: MappedRegion, byteOffset: number, init: boolean): Parker {
  const cell = region.view(Int32Array, byteOffset, 1);
  if (init) Atomics.store(cell, 0, 0);
  const take = () => {
    for (;;) {
      const v = Atomics.load(cell, 0);
      if (v <= 0) return false;
      if (Atomics.compareExchange(cell, 0, v, v - 1) === v) return true;
    }
  };
  return {
    get value() {
      return Atomics.load(cell, 0);
    },
    post() {
      Atomics.add(cell, 0, 1);
    },
    waitSync({ timeout }) {
      const end = timeout === undefined ? Infinity : performance.now() + timeout;
      while (!take()) {
        if (performance.now() >= end) throw new Deno.errors.TimedOut("park timed out");
        Atomics.wait(sleepCell, 0, 0, 1);
      }
    },
    async wait({ timeout, signal }) {
      const end = timeout === undefined ? Infinity : performance.now() + timeout;
      while (!take()) {
        signal?.throwIfAborted();
        if (performance.now() >= end) throw new Deno.errors.TimedOut("park timed out");
        await new Promise((r) => setTimeout(r, 1));
      }
    },
  };
}
