/**
 * System V IPC: `ftok` keys, shared memory segments (`shmget`/`shmat`),
 * semaphore sets (`semget`/`semop`), and listings of what exists and who is
 * attached.
 *
 * @example A segment shared by key
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const seg = sysv.Segment.private(4096);
 * using at = seg.attach();
 * at.writeCString(0, "hello");
 * assertEquals(sysv.Segment.fromId(seg.id).stat().nattch, 1);
 * seg.remove(); // goes when the last process detaches
 * ```
 *
 * @module
 */

export { ftok, IPC_PRIVATE } from "./key.ts";
export { Attachment, type CreateSegmentOptions, Segment, type SegmentStat } from "./segment.ts";
export {
  type CreateSemaphoreSetOptions,
  SemaphoreSet,
  type SemaphoreSetStat,
  type SemOp,
  type SemOpOptions,
  SEMVMX,
} from "./semaphore_set.ts";
export {
  attachedProcesses,
  listSegments,
  listSemaphoreSets,
  type ProcessRef,
  type SegmentInfo,
  type SemaphoreSetInfo,
} from "./list.ts";
export type { IpcPerm } from "../ffi/sysv_layouts.ts";
export {
  type CreateMessageQueueOptions,
  MessageQueue,
  type MessageQueueReceiveOptions,
  type MessageQueueReceiveSyncOptions,
  type MessageQueueSendOptions,
  type MessageQueueSendSyncOptions,
  type MessageQueueStat,
  type ReceivedMessage,
} from "./message_queue.ts";
export { listMessageQueues, type MessageQueueInfo } from "./list_message_queues.ts";
