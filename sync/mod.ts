/**
 * Cross-process synchronisation built on shared memory: a robust `Mutex`
 * (atomics when free, a process-shared semaphore to sleep when contended), a
 * reader-writer `RwLock` and a permit `Semaphore`, each named (a small
 * `/dev/shm` object) or placed inside a mapping, and each recovering from
 * holders that die. `ipc-shm stat /name` shows who holds a named one.
 *
 * @example Guard shared data across processes
 * ```ts
 * import { Mutex } from "@ipc/shm/sync";
 *
 * const name = `/doc-sync-${Deno.pid}`;
 * using mutex = Mutex.create(name);
 * {
 *   using _guard = await mutex.lock({ timeout: 1000 });
 *   // ... update the shared data ...
 * }
 * Mutex.unlink(name);
 * ```
 *
 * @module
 */

export { Mutex, MUTEX_ALIGN, MUTEX_SIZE, MutexGuard } from "./mutex.ts";
export type { SyncWaitOptions, WaitOptions } from "./_options.ts";
export type { CreateLockOptions } from "./_named.ts";
export { type CreateSemaphoreOptions, Permit, Semaphore, semaphoreSize } from "./semaphore.ts";
export { type CreateRwLockOptions, RwLock, RwLockGuard, rwLockSize } from "./rwlock.ts";
export { ReleaseOnce } from "./_release_once.ts";
