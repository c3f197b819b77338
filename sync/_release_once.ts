/**
 * The part every lock guard shares: give the lock back exactly once, by hand
 * or by `using`.
 *
 * @module
 */

/**
 * Something held that is given back once: `release()` is idempotent and
 * `[Symbol.dispose]` calls it. `sync.Permit` and `sync.RwLockGuard` are these.
 *
 * @example Released once, however often asked
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * let given = 0;
 * const held = new sync.ReleaseOnce(() => given++);
 * held.release();
 * held.release();
 * assertEquals(given, 1);
 * assertEquals(held.released, true);
 * ```
 */
export class ReleaseOnce implements Disposable {
  #give: (() => void) | undefined;

  /** @internal */
  constructor(give: () => void) {
    this.#give = give;
  }

  /** True once released. */
  get released(): boolean {
    return this.#give === undefined;
  }

  /** Gives it back; idempotent. */
  release(): void {
    const give = this.#give;
    if (give === undefined) return;
    this.#give = undefined;
    give();
  }

  /** Same as `release()`. */
  [Symbol.dispose](): void {
    this.release();
  }
}
