/**
 * What System V message queues exist, as `ipcs -q` shows them, from
 * `/proc/sysvipc/msg` read through libc (`--allow-ffi` is enough).
 *
 * @module
 */

import { readSysvipcTable } from "../ffi/procfs.ts";

/** A queue as `ipcs -q` lists it. */
export interface MessageQueueInfo {
  /** Key (0 for IPC_PRIVATE). */
  key: number;
  /** Queue id. */
  id: number;
  /** Permission bits. */
  mode: number;
  /** Messages in the queue. */
  messages: number;
  /** Bytes of message data in the queue. */
  bytes: number;
  /** Pid of the last msgsnd. */
  lastSendPid: number;
  /** Pid of the last msgrcv. */
  lastReceivePid: number;
  /** Owner uid. */
  uid: number;
  /** Owner gid. */
  gid: number;
  /** Creator uid. */
  cuid: number;
  /** Creator gid. */
  cgid: number;
  /** Last msgsnd, or null. */
  lastSend: Date | null;
  /** Last msgrcv, or null. */
  lastReceive: Date | null;
  /** Last change, or null. */
  lastChange: Date | null;
}

const time = (s: string | undefined) =>
  s === undefined || s === "0" ? null : new Date(Number(s) * 1000);

/**
 * Every System V message queue on the system, with its message count.
 *
 * @example Count the messages in each queue
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const q = sysv.MessageQueue.private();
 * q.sendSync(new Uint8Array(3));
 * const mine = sysv.listMessageQueues().find((i) => i.id === q.id);
 * assertEquals([mine?.messages, mine?.bytes], [1, 3]);
 * q.remove();
 * ```
 */
export function listMessageQueues(): MessageQueueInfo[] {
  return readSysvipcTable("/proc/sysvipc/msg").map((r) => ({
    key: Number(r.key) | 0,
    id: Number(r.msqid),
    mode: parseInt(r.perms ?? "0", 8) & 0o777, // the kernel prints perms in octal
    messages: Number(r.qnum),
    bytes: Number(r.cbytes),
    lastSendPid: Number(r.lspid),
    lastReceivePid: Number(r.lrpid),
    uid: Number(r.uid),
    gid: Number(r.gid),
    cuid: Number(r.cuid),
    cgid: Number(r.cgid),
    lastSend: time(r.stime),
    lastReceive: time(r.rtime),
    lastChange: time(r.ctime),
  }));
}
