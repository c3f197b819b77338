/**
 * libc symbols every area needs: errno, error text, version and sysconf.
 *
 * @module
 */

import { int, long, ptr, void_ } from "./types.ts";

/** Symbol table for the C runtime basics. */
export const runtimeSymbols = {
  /** `int *__errno_location(void)`: this thread's errno cell. */
  __errno_location: { parameters: [], result: ptr },
  /** `char *strerror(int errnum)` */
  strerror: { parameters: [int], result: ptr },
  /** `const char *gnu_get_libc_version(void)`: present only in glibc. */
  gnu_get_libc_version: { parameters: [], result: ptr },
  /** `long sysconf(int name)` */
  sysconf: { parameters: [int], result: long },
  /** `pid_t getpid(void)` */
  getpid: { parameters: [], result: int },
  /** `void *memcpy(void *dest, const void *src, size_t n)` */
  memcpy: { parameters: [ptr, ptr, "usize"], result: ptr },
  /** `void sched_yield(void)` (returns int; ignored) */
  sched_yield: { parameters: [], result: void_ },
} as const satisfies Deno.ForeignLibraryInterface;
