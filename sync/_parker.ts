/**
 * Where a waiter sleeps: a process-shared POSIX semaphore (`sem_init`, pshared)
 * inside the same mapping as the lock word. The lock word decides who owns the
 * lock; the semaphore only puts waiters to sleep and wakes them.
 *
 * @module
 */

import type { MappedRegion } from "../memory/region.ts";
import { SEM_ALIGN, SEM_T_SIZE, semaphoreAtRaw } from "../posix/semaphore.ts";

/**
 * Bytes reserved for a parker: a bare `sem_t`, without the placement word of
 * a public in-memory semaphore (the owning lock's magic guards it), so lock
 * layouts keep their offsets.
 */
export const PARKER_SIZE = SEM_T_SIZE;
/** Alignment of a parker. */
export const PARKER_ALIGN = SEM_ALIGN;

/** The sleep/wake half of a lock. */
export interface Parker {
  /** Wake-ups posted and not yet consumed. */
  readonly value: number;
  post(): void;
  waitSync(options: { timeout?: number }): void;
  wait(options: { timeout?: number; signal?: AbortSignal }): Promise<void>;
  /** Closes this handle: pending waits reject with BadResource. */
  close(): void;
}

/** Initialises (when `init`) or attaches the parker at `byteOffset` of `region`. */
export function parkerAt(region: MappedRegion, byteOffset: number, init: boolean): Parker {
  return semaphoreAtRaw(region, byteOffset, init ? 0 : undefined);
}
