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

import * as posixModule from "./posix/mod.ts";
import * as sysvModule from "./sysv/mod.ts";
import * as syncModule from "./sync/mod.ts";
import * as channelModule from "./channel/mod.ts";

/**
 * POSIX IPC (also `@ipc/shm/posix`): shared memory objects (`shm_open` +
 * `mmap`) with typed views, named and in-memory semaphores whose waits never
 * block the event loop, message queues (`mq_open`), and listings of what
 * exists in `/dev/shm` and the mqueue filesystem.
 *
 * @example A named semaphore
 * ```ts
 * import { posix } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const name = `/doc-ns-posix-${Deno.pid}`;
 * using sem = posix.Semaphore.create(name, { value: 1 });
 * assertEquals(sem.tryWait(), true);
 * posix.Semaphore.unlink(name);
 * ```
 */
// A namespace of import aliases, not `export * as posix`: deno doc (and so JSR)
// renders the members of this form, and shows `export * as` of a module that
// re-exports by name as an empty namespace.
// deno-lint-ignore no-namespace
export namespace posix {
  /** Options for {@linkcode SharedMemory.create} and {@linkcode SharedMemory.openOrCreate}. */
  export type CreateSharedMemoryOptions = posixModule.CreateSharedMemoryOptions;
  /** Options for {@linkcode SharedMemory.open}. */
  export type OpenSharedMemoryOptions = posixModule.OpenSharedMemoryOptions;
  export import SharedMemory = posixModule.SharedMemory;
  /** Options for creating a semaphore. */
  export type CreateSemaphoreOptions = posixModule.CreateSemaphoreOptions;
  export import SEM_ALIGN = posixModule.SEM_ALIGN;
  export import SEM_SIZE = posixModule.SEM_SIZE;
  export import SEM_VALUE_MAX = posixModule.SEM_VALUE_MAX;
  export import Semaphore = posixModule.Semaphore;
  /** Options for an async wait. */
  export type SemaphoreWaitOptions = posixModule.SemaphoreWaitOptions;
  /** Options for a blocking wait. */
  export type SemaphoreWaitSyncOptions = posixModule.SemaphoreWaitSyncOptions;
  export import listSharedMemory = posixModule.listSharedMemory;
  /** One object in `/dev/shm`. */
  export type PosixObjectInfo = posixModule.PosixObjectInfo;
  export import settled = posixModule.settled;
  /** Options for creating a queue. */
  export type CreateMessageQueueOptions = posixModule.CreateMessageQueueOptions;
  export import MessageQueue = posixModule.MessageQueue;
  /** A queue's attributes (`mq_getattr`). */
  export type MessageQueueAttributes = posixModule.MessageQueueAttributes;
  /** Options for an async receive. */
  export type MessageQueueReceiveOptions = posixModule.MessageQueueReceiveOptions;
  /** Options for a blocking receive. */
  export type MessageQueueReceiveSyncOptions = posixModule.MessageQueueReceiveSyncOptions;
  /** Options for an async send. */
  export type MessageQueueSendOptions = posixModule.MessageQueueSendOptions;
  /** Options for a blocking send. */
  export type MessageQueueSendSyncOptions = posixModule.MessageQueueSendSyncOptions;
  export import MQ_PRIO_MAX = posixModule.MQ_PRIO_MAX;
  /** What a receive into the caller's buffer got. */
  export type ReceivedInto = posixModule.ReceivedInto;
  /** A received message. */
  export type ReceivedMessage = posixModule.ReceivedMessage;
  export import listMessageQueues = posixModule.listMessageQueues;
  /** One queue found in the mqueue filesystem. */
  export type PosixMessageQueueInfo = posixModule.PosixMessageQueueInfo;
  /** The result of {@linkcode listMessageQueues}. */
  export type PosixMessageQueueListing = posixModule.PosixMessageQueueListing;
}

/**
 * System V IPC (also `@ipc/shm/sysv`): `ftok` keys, shared memory segments
 * (`shmget`/`shmat`), semaphore sets (`semget`/`semop`), message queues
 * (`msgget`), and listings of what exists and who is attached.
 *
 * @example A private segment
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const seg = sysv.Segment.private(4096);
 * using at = seg.attach();
 * assertEquals(sysv.attachedProcesses(seg.id).map((p) => p.pid), [Deno.pid]);
 * seg.remove();
 * ```
 */
// A namespace of import aliases, not `export * as sysv`: deno doc (and so JSR)
// renders the members of this form, and shows `export * as` of a module that
// re-exports by name as an empty namespace.
// deno-lint-ignore no-namespace
export namespace sysv {
  export import ftok = sysvModule.ftok;
  export import IPC_PRIVATE = sysvModule.IPC_PRIVATE;
  export import Attachment = sysvModule.Attachment;
  /** Options for creating a segment. */
  export type CreateSegmentOptions = sysvModule.CreateSegmentOptions;
  export import Segment = sysvModule.Segment;
  /** Decoded `struct shmid_ds`. */
  export type SegmentStat = sysvModule.SegmentStat;
  /** Options for creating a set. */
  export type CreateSemaphoreSetOptions = sysvModule.CreateSemaphoreSetOptions;
  export import SemaphoreSet = sysvModule.SemaphoreSet;
  /** Decoded `struct semid_ds`. */
  export type SemaphoreSetStat = sysvModule.SemaphoreSetStat;
  /** One semaphore operation for `semop`. */
  export type SemOp = sysvModule.SemOp;
  /** Options for an operation. */
  export type SemOpOptions = sysvModule.SemOpOptions;
  export import SEMVMX = sysvModule.SEMVMX;
  export import attachedProcesses = sysvModule.attachedProcesses;
  export import listSegments = sysvModule.listSegments;
  export import listSemaphoreSets = sysvModule.listSemaphoreSets;
  /** A process found mapping an object. */
  export type ProcessRef = sysvModule.ProcessRef;
  /** A segment as `ipcs -m` lists it, plus who is attached. */
  export type SegmentInfo = sysvModule.SegmentInfo;
  /** A semaphore set as `ipcs -s` lists it. */
  export type SemaphoreSetInfo = sysvModule.SemaphoreSetInfo;
  /** Owner and permissions of a System V object (`struct ipc_perm`). */
  export type IpcPerm = sysvModule.IpcPerm;
  /** Options for creating a queue. */
  export type CreateMessageQueueOptions = sysvModule.CreateMessageQueueOptions;
  export import MessageQueue = sysvModule.MessageQueue;
  /** Which message to take, and how long to wait. */
  export type MessageQueueReceiveOptions = sysvModule.MessageQueueReceiveOptions;
  /** Options for a blocking receive. */
  export type MessageQueueReceiveSyncOptions = sysvModule.MessageQueueReceiveSyncOptions;
  /** Options for an async send. */
  export type MessageQueueSendOptions = sysvModule.MessageQueueSendOptions;
  /** Options for a blocking send. */
  export type MessageQueueSendSyncOptions = sysvModule.MessageQueueSendSyncOptions;
  /** Decoded `struct msqid_ds`. */
  export type MessageQueueStat = sysvModule.MessageQueueStat;
  /** A received message. */
  export type ReceivedMessage = sysvModule.ReceivedMessage;
  export import listMessageQueues = sysvModule.listMessageQueues;
  /** A queue as `ipcs -q` lists it. */
  export type MessageQueueInfo = sysvModule.MessageQueueInfo;
}

/**
 * Cross-process locks in shared memory (also `@ipc/shm/sync`): a robust
 * `Mutex`, a reader-writer `RwLock` and a permit `Semaphore`, named or placed
 * inside a mapping, each recovering from holders that die.
 *
 * @example A named mutex
 * ```ts
 * import { sync } from "@ipc/shm";
 * const name = `/doc-ns-sync-${Deno.pid}`;
 * using mutex = sync.Mutex.create(name);
 * {
 *   using _guard = await mutex.lock({ timeout: 1000 });
 * }
 * sync.Mutex.unlink(name);
 * ```
 */
// A namespace of import aliases, not `export * as sync`: deno doc (and so JSR)
// renders the members of this form, and shows `export * as` of a module that
// re-exports by name as an empty namespace.
// deno-lint-ignore no-namespace
export namespace sync {
  export import Mutex = syncModule.Mutex;
  export import MUTEX_ALIGN = syncModule.MUTEX_ALIGN;
  export import MUTEX_SIZE = syncModule.MUTEX_SIZE;
  export import MutexGuard = syncModule.MutexGuard;
  /** Options for a synchronous wait (no signal: nothing can run while it blocks). */
  export type SyncWaitOptions = syncModule.SyncWaitOptions;
  /** Options for a wait that may give up. */
  export type WaitOptions = syncModule.WaitOptions;
  /** Creation options for a named lock. */
  export type CreateLockOptions = syncModule.CreateLockOptions;
  /** Options for creating a permit semaphore. */
  export type CreateSemaphoreOptions = syncModule.CreateSemaphoreOptions;
  export import Permit = syncModule.Permit;
  export import Semaphore = syncModule.Semaphore;
  export import semaphoreSize = syncModule.semaphoreSize;
  /** Options for creating a reader-writer lock. */
  export type CreateRwLockOptions = syncModule.CreateRwLockOptions;
  export import RwLock = syncModule.RwLock;
  export import RwLockGuard = syncModule.RwLockGuard;
  export import rwLockSize = syncModule.rwLockSize;
  export import ReleaseOnce = syncModule.ReleaseOnce;
}

/**
 * The shared-memory `Channel` (also `@ipc/shm/channel`): a bounded ring of
 * variable-length messages between processes.
 *
 * @example Send and receive
 * ```ts
 * import { channel } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const name = `/doc-ns-channel-${Deno.pid}`;
 * using ch = channel.Channel.create(name, { capacity: 4, maxMessageSize: 8 });
 * ch.trySend(new Uint8Array([7]));
 * assertEquals(ch.tryReceive(), new Uint8Array([7]));
 * channel.Channel.unlink(name);
 * ```
 */
// A namespace of import aliases, not `export * as channel`: deno doc (and so JSR)
// renders the members of this form, and shows `export * as` of a module that
// re-exports by name as an empty namespace.
// deno-lint-ignore no-namespace
export namespace channel {
  export import Channel = channelModule.Channel;
  /** Options for a send or receive that may wait. */
  export type ChannelWaitOptions = channelModule.ChannelWaitOptions;
  /** Options for a blocking send or receive. */
  export type ChannelWaitSyncOptions = channelModule.ChannelWaitSyncOptions;
  /** Options for {@linkcode Channel.create}. */
  export type CreateChannelOptions = channelModule.CreateChannelOptions;
  /** A received message still in the ring: valid until `release()`. */
  export type MessageView = channelModule.MessageView;
  /**
   * Options for {@linkcode Channel.open}. `topology`, `capacity` and `maxMessageSize` assert what
   * the caller expects: a channel created otherwise is refused with a `TypeError` instead of used
   * on a wrong belief.
   */
  export type OpenChannelOptions = channelModule.OpenChannelOptions;
}

// Every value each entry point exports is in its namespace: a member added to
// a folder's mod.ts and not here fails `deno check`.
const _complete: [
  typeof posixModule,
  typeof sysvModule,
  typeof syncModule,
  typeof channelModule,
] = [posix, sysv, sync, channel];

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
