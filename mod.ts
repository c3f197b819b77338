/**
 * `@ipc/shm`: shared memory and semaphores for Deno, bound straight to libc
 * with `Deno.dlopen`. No native addon, no build step.
 *
 * Everything needs `--allow-ffi`, which lets this code call native libc
 * outside Deno's sandbox.
 *
 * @example Share a struct between processes
 * ```ts
 * import { char, i32, SharedMemory, struct } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const UserRecord = struct({ user_id: i32, username: char(64) });
 * const name = `/doc-mod-${Deno.pid}`;
 * using shm = SharedMemory.create(name, { size: UserRecord.size });
 * const rec = shm.struct(UserRecord);
 * rec.user_id = 1001;
 * rec.username = "ada";
 * assertEquals(rec.toJSON(), { user_id: 1001, username: "ada" });
 * shm.unlink();
 * ```
 *
 * @module
 */

export * as posix from "./posix/mod.ts";
export * as sysv from "./sysv/mod.ts";
export * as sync from "./sync/mod.ts";
export * from "./memory/mod.ts";
export {
  type CreateSharedMemoryOptions,
  type OpenSharedMemoryOptions,
  SharedMemory,
} from "./posix/mod.ts";
export { type ErrnoError, type SystemCallErrorFields, SystemError } from "./ffi/errno.ts";
export { Mutex, MUTEX_ALIGN, MUTEX_SIZE, MutexGuard } from "./sync/mod.ts";
export { SEM_ALIGN, SEM_SIZE, SEM_VALUE_MAX, settled } from "./posix/mod.ts";
export {
  Channel,
  type ChannelWaitOptions,
  type ChannelWaitSyncOptions,
  type CreateChannelOptions,
  type MessageView,
  type OpenChannelOptions,
} from "./channel/mod.ts";
