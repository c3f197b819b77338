/**
 * `<sys/sem.h>`: System V semaphore sets.
 *
 * `semctl` is variadic in C; its optional fourth argument (`union semun`) is
 * declared as a fixed `u64` (an int value or a pointer), which is safe on Linux
 * x86_64 and aarch64.
 *
 * @module
 */

import { buf, int, key_t, size_t } from "./types.ts";

/** Symbol table for semget/semop/semtimedop/semctl. */
export const sysvSemSymbols = {
  /** `int semget(key_t key, int nsems, int semflg)` */
  semget: { parameters: [key_t, int, int], result: int },
  /** `int semop(int semid, struct sembuf *sops, size_t nsops)` */
  semop: { parameters: [int, buf, size_t], result: int },
  /** `int semtimedop(int semid, struct sembuf *sops, size_t nsops, const struct timespec *timeout)` */
  semtimedop: { parameters: [int, buf, size_t, buf], result: int },
  /** `int semctl(int semid, int semnum, int cmd, union semun arg)` */
  semctl: { parameters: [int, int, int, "u64"], result: int },
} as const satisfies Deno.ForeignLibraryInterface;

/** `semctl` commands and `sembuf` flags. */
export const SEM = {
  UNDO: 0x1000,
  GETPID: 11,
  GETVAL: 12,
  GETALL: 13,
  GETNCNT: 14,
  GETZCNT: 15,
  SETVAL: 16,
  SETALL: 17,
  STAT: 18,
} as const;
