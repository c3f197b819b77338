/**
 * `<sys/msg.h>`: System V message queues. A message in the kernel's ABI is a
 * `long mtype` (> 0) followed by the bytes; `msgsz` counts only the bytes.
 *
 * @module
 */

import { buf, int, key_t, long, size_t, ssize_t } from "./types.ts";

/** Symbol table for msgget/msgsnd/msgrcv/msgctl. */
export const sysvMsgSymbols = {
  /** `int msgget(key_t key, int msgflg)` */
  msgget: { parameters: [key_t, int], result: int },
  /** `int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg)` */
  msgsnd: { parameters: [int, buf, size_t, int], result: int },
  /** `ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg)` */
  msgrcv: { parameters: [int, buf, size_t, long, int], result: ssize_t },
  /** `int msgctl(int msqid, int cmd, struct msqid_ds *buf)` */
  msgctl: { parameters: [int, int, buf], result: int },
} as const satisfies Deno.ForeignLibraryInterface;

/** `msgrcv` flags and `msgctl` commands (identical on x86_64 and aarch64). */
export const MSG = {
  NOERROR: 0o10000,
  EXCEPT: 0o20000,
  STAT: 11,
  INFO: 12,
} as const;

/** Bytes of `long mtype` before a message's data. */
export const MTYPE_SIZE = 8;

/** `struct msqid_ds` offsets: the same on x86_64 and aarch64 (checked by a test). */
export const MSQID_DS = {
  size: 120,
  stime: 48,
  rtime: 56,
  ctime: 64,
  cbytes: 72,
  qnum: 80,
  qbytes: 88,
  lspid: 96,
  lrpid: 100,
} as const;
