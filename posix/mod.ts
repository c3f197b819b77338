/**
 * POSIX IPC: shared memory objects (`shm_open`/`mmap`) with typed views, and
 * named or in-memory semaphores whose waits never block the event loop.
 *
 * @example Create, write, read back, remove
 * ```ts
 * import { SharedMemory } from "@ipc/shm/posix";
 * import { assertEquals } from "@std/assert";
 *
 * const name = `/doc-posix-${Deno.pid}`;
 * using shm = SharedMemory.create(name, { size: 4096 });
 * shm.writeCString(0, "hi");
 * assertEquals(shm.readCString(0), "hi");
 * shm.unlink();
 * ```
 *
 * @module
 */

export {
  type CreateSharedMemoryOptions,
  type OpenSharedMemoryOptions,
  SharedMemory,
} from "./shared_memory.ts";
export {
  type CreateSemaphoreOptions,
  SEM_ALIGN,
  SEM_SIZE,
  SEM_VALUE_MAX,
  Semaphore,
  type SemaphoreWaitOptions,
  type SemaphoreWaitSyncOptions,
} from "./semaphore.ts";
export { listSharedMemory, type PosixObjectInfo } from "./list.ts";
export { settled } from "./settled.ts";
export {
  type CreateMessageQueueOptions,
  MessageQueue,
  type MessageQueueAttributes,
  type MessageQueueReceiveOptions,
  type MessageQueueReceiveSyncOptions,
  type MessageQueueSendOptions,
  type MessageQueueSendSyncOptions,
  MQ_PRIO_MAX,
  type ReceivedInto,
  type ReceivedMessage,
} from "./message_queue.ts";
export {
  listMessageQueues,
  type PosixMessageQueueInfo,
  type PosixMessageQueueListing,
} from "./list_message_queues.ts";
