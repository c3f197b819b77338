/**
 * `<sys/ipc.h>` and `<sys/shm.h>`: keys and System V shared memory segments.
 *
 * @module
 */

import { buf, cstr, int, key_t, ptr, size_t } from "./types.ts";

/** Symbol table for ftok/shmget/shmat/shmdt/shmctl. */
export const sysvShmSymbols = {
  /** `key_t ftok(const char *pathname, int proj_id)` */
  ftok: { parameters: [cstr, int], result: key_t },
  /** `int shmget(key_t key, size_t size, int shmflg)` */
  shmget: { parameters: [key_t, size_t, int], result: int },
  /** `void *shmat(int shmid, const void *shmaddr, int shmflg)` */
  shmat: { parameters: [int, ptr, int], result: ptr },
  /** `int shmdt(const void *shmaddr)` */
  shmdt: { parameters: [ptr], result: int },
  /** `int shmctl(int shmid, int cmd, struct shmid_ds *buf)` */
  shmctl: { parameters: [int, int, buf], result: int },
} as const satisfies Deno.ForeignLibraryInterface;

/** IPC flag and command values (identical on x86_64 and aarch64). */
export const IPC = {
  PRIVATE: 0,
  CREAT: 0o1000,
  EXCL: 0o2000,
  NOWAIT: 0o4000,
  RMID: 0,
  SET: 1,
  STAT: 2,
} as const;

/** `shmat`/`shmctl` values. */
export const SHM = { RDONLY: 0o10000, STAT: 13 } as const;
