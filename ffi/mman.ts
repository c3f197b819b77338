/**
 * `<sys/mman.h>` and the file calls POSIX shared memory needs.
 *
 * @module
 */

import { buf, cstr, int, long, mode_t, off_t, ptr, size_t } from "./types.ts";

/** Symbol table for shm_open/mmap and friends. */
export const mmanSymbols = {
  /** `int shm_open(const char *name, int oflag, mode_t mode)` */
  shm_open: { parameters: [cstr, int, mode_t], result: int },
  /** `int shm_unlink(const char *name)` */
  shm_unlink: { parameters: [cstr], result: int },
  /** `int ftruncate(int fd, off_t length)` */
  ftruncate: { parameters: [int, off_t], result: int },
  /** `int posix_fallocate(int fd, off_t offset, off_t len)`: returns the error, not -1. */
  posix_fallocate: { parameters: [int, off_t, off_t], result: int },
  /** `int fstat(int fd, struct stat *buf)` (a real symbol since glibc 2.33) */
  fstat: { parameters: [int, buf], result: int },
  /** `int fchmod(int fd, mode_t mode)` */
  fchmod: { parameters: [int, mode_t], result: int },
  /** `void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)` */
  mmap: { parameters: [ptr, size_t, int, int, int, off_t], result: ptr },
  /** `int munmap(void *addr, size_t length)` */
  munmap: { parameters: [ptr, size_t], result: int },
  /** `int close(int fd)` */
  close: { parameters: [int], result: int },
  /** `long sysconf(int)` is in runtime; `off_t lseek(int fd, off_t offset, int whence)` */
  lseek: { parameters: [int, off_t, int], result: long },
} as const satisfies Deno.ForeignLibraryInterface;
