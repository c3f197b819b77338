/**
 * Named locks: a small POSIX shared memory object that holds one lock at
 * offset 0. Shared by `Mutex`, `RwLock` and `Semaphore`.
 *
 * @module
 */

import { SharedMemory } from "../posix/shared_memory.ts";
import { createOrOpen } from "../ffi/errno.ts";

/** Creation options for a named lock. */
export interface CreateLockOptions {
  /** Permission bits of the backing object, applied exactly. Default `0o600`. */
  mode?: number;
}

/**
 * Creates, opens or opens-or-creates the object behind a named lock, and runs
 * `init` (we created it) or `attach` (it existed) on it. On failure nothing is
 * left open, and an object we created is unlinked.
 */
export function openNamed<T>(
  how: "create" | "open" | "openOrCreate",
  name: string,
  size: number,
  mode: number,
  init: (shm: SharedMemory) => T,
  attach: (shm: SharedMemory) => T,
): T {
  if (how === "open") return withShm(SharedMemory.open(name), attach, false);
  if (how === "create") return withShm(SharedMemory.create(name, { size, mode }), init, true);
  return createOrOpen(
    () => withShm(SharedMemory.create(name, { size, mode }), init, true),
    () => withShm(SharedMemory.open(name), attach, false),
  );
}

function withShm<T>(shm: SharedMemory, fn: (shm: SharedMemory) => T, created: boolean): T {
  try {
    return fn(shm);
  } catch (e) {
    shm.close();
    if (created) {
      try {
        shm.unlink();
      } catch { /* already gone */ }
    }
    throw e;
  }
}

/**
 * Waits (briefly, spinning) for a creator in another process to finish
 * initialising: it stores `magic` last. Returns false if it never does.
 */
export function awaitMagic(cell: Int32Array, index: number, magic: number, ms = 500): boolean {
  const end = performance.now() + ms;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (Atomics.load(cell, index) !== magic) {
    if (performance.now() > end) return false;
    Atomics.wait(nap, 0, 0, 1);
  }
  return true;
}
