/**
 * Async waits on POSIX semaphores without blocking the event loop.
 *
 * Design (measured facts in shared/FACTS.md):
 * - A waiter first tries, spins or naps as `memory/_wait.ts` (the library's
 *   one waiting strategy) plans: a peer that answers quickly is caught
 *   without any thread hand-off (a 3 µs round trip instead of ~80 µs).
 * - Then it joins its handle's FIFO queue. Each handle has at most ONE parked
 *   call in flight: a `nonblocking` futex wait on Deno's blocking-call pool
 *   with an absolute CLOCK_MONOTONIC deadline at most `SLICE_MS` away. The park
 *   only sleeps; when it returns, the queue takes a unit for its first waiter
 *   (so a park that outlives its waiters holds nothing). 100 waits on one
 *   semaphore cost one pool thread.
 * - At most `MAX_PARKS` parks are in flight per thread (process or Worker), so
 *   Deno's file operations, which share the 32-thread pool, always have
 *   threads. Handles beyond the cap poll with a non-blocking take every millisecond
 *   until a park slot frees.
 * - A pending FFI call cannot be cancelled: aborts and timeouts settle the
 *   waiter's promise at once, and the orphaned park ends by itself within one
 *   slice. A program whose waits were all abandoned therefore exits within
 *   `SLICE_MS`, and no thread stays blocked longer than that.
 * - errno from the pool thread is lost, so a park's -1 is only "no unit this
 *   slice"; the caller's deadline and a sync take decide the rest.
 *
 * @module
 */

/** Longest a parked call blocks a pool thread. */
export const SLICE_MS = 50;
/** Most parked calls in flight at once from this thread. */
export const MAX_PARKS = 8;
/** The longest delay setTimeout honours (a signed 32-bit count of ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** What the queue needs from a semaphore handle. */
export interface ParkTarget {
  /** One sync non-blocking take; true when a unit was taken. Throws if closed or corrupt. */
  tryTake(): boolean;
  /**
   * Starts one bounded park; resolves to 0 when the park itself took a unit,
   * else (woken, or the slice ended) to -1, and the queue tries again.
   */
  park(sliceMs: number): Promise<number>;
  /** Posts a unit back (a park took one nobody wanted any more). */
  giveBack(): void;
}

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
  deadline: number;
  cleanup(): void;
}

let inFlight = 0;
const starved = new Set<WaitQueue>();
const idleResolvers: (() => void)[] = [];

/**
 * Resolves once no park is in flight from this thread. Tests use it so that a
 * test which abandoned a wait does not end with an FFI call still pending.
 */
export function parksSettled(): Promise<void> {
  if (inFlight === 0) return Promise.resolve();
  return new Promise((r) => idleResolvers.push(r));
}

/** The FIFO of async waiters of one semaphore handle, and its single park. */
export class WaitQueue {
  #target: ParkTarget;
  #waiters: Waiter[] = [];
  #parking = false;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #closedWith: unknown;

  constructor(target: ParkTarget) {
    this.#target = target;
  }

  /** True while a wait is queued: a new wait must not spin ahead of it. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /** True while a park is in flight (its sem_t must stay mapped). */
  get parking(): boolean {
    return this.#parking;
  }

  /** Queues a waiter; it settles on a unit, its deadline, or its signal. */
  wait(deadline: number, timeoutError: () => Error, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        this.#remove(waiter);
        waiter.cleanup();
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        resolve,
        reject,
        deadline,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      if (deadline !== Infinity) {
        // setTimeout fires at once for a delay past 2^31-1 ms: arm in steps.
        const arm = () => {
          const left = deadline - performance.now();
          timer = setTimeout(
            left > MAX_TIMER_MS ? arm : () => {
              this.#remove(waiter);
              waiter.cleanup();
              reject(timeoutError());
            },
            Math.max(0, Math.min(left, MAX_TIMER_MS)),
          );
        };
        arm();
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  /** Rejects every queued waiter (the handle closed). */
  closeAll(error: unknown): void {
    this.#closedWith = error;
    this.#failAll(error);
  }

  #failAll(error: unknown): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) {
      w.cleanup();
      w.reject(error);
    }
    this.#stopPolling();
    starved.delete(this);
  }

  #remove(w: Waiter): void {
    const i = this.#waiters.indexOf(w);
    if (i !== -1) this.#waiters.splice(i, 1);
    if (this.#waiters.length === 0) {
      this.#stopPolling();
      starved.delete(this);
    }
  }

  #first(): Waiter | undefined {
    return this.#waiters[0];
  }

  /** Hands out units that are already there; parks (or polls) for the rest. */
  #pump(): void {
    if (this.#closedWith !== undefined) return;
    try {
      while (this.#waiters.length > 0 && this.#target.tryTake()) {
        const w = this.#waiters.shift()!;
        w.cleanup();
        w.resolve();
      }
    } catch (e) {
      // A corrupt word fails the waiters there are; the handle stays usable,
      // since the word may be repaired.
      this.#failAll(e);
      return;
    }
    if (this.#waiters.length === 0 || this.#parking) return;
    if (inFlight >= MAX_PARKS) {
      starved.add(this);
      this.#pollTimer ??= setTimeout(() => {
        this.#pollTimer = undefined;
        this.#pump();
      }, 1);
      return;
    }
    starved.delete(this);
    this.#stopPolling();
    this.#park();
  }

  #park(): void {
    const first = this.#first()!;
    const slice = Math.max(1, Math.min(SLICE_MS, first.deadline - performance.now()));
    this.#parking = true;
    inFlight++;
    let park: Promise<number>;
    try {
      park = this.#target.park(slice);
    } catch (e) {
      this.#parked();
      this.#failAll(e);
      return;
    }
    park.then((ret) => {
      this.#parked();
      if (ret === 0) {
        const w = this.#waiters.shift();
        if (w !== undefined) {
          w.cleanup();
          w.resolve();
        } else if (this.#closedWith === undefined) {
          // Everyone left while we slept: the unit belongs to other waiters.
          try {
            this.#target.giveBack();
          } catch { /* closed meanwhile */ }
        }
      }
      this.#pump();
      for (const q of starved) {
        if (inFlight >= MAX_PARKS) break;
        q.#pump();
      }
    });
  }

  #parked(): void {
    this.#parking = false;
    inFlight--;
    if (inFlight === 0) { for (const r of idleResolvers.splice(0)) r(); }
  }

  #stopPolling(): void {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }
}
