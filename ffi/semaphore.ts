/**
 * `<semaphore.h>`: named and in-memory POSIX semaphores, plus the monotonic
 * clock their timed waits are measured against.
 *
 * The library itself waits and wakes through `futex.ts` on the same `sem_t`
 * words (so a corrupted one is an error, not glibc's abort()); the wait and
 * post calls stay here for the layout tests and C-compatible tools.
 *
 * `sem_open` is variadic in C; declaring its two optional arguments as fixed
 * parameters is safe on Linux x86_64 and aarch64 (the only ABIs `libc.ts` loads).
 *
 * @module
 */

import { buf, cstr, int, mode_t, ptr, uint } from "./types.ts";

/** Symbol table for POSIX semaphores. */
export const semaphoreSymbols = {
  /** `sem_t *sem_open(const char *name, int oflag, mode_t mode, unsigned int value)` */
  sem_open: { parameters: [cstr, int, mode_t, uint], result: ptr },
  /** `int sem_close(sem_t *sem)` */
  sem_close: { parameters: [ptr], result: int },
  /** `int sem_unlink(const char *name)` */
  sem_unlink: { parameters: [cstr], result: int },
  /** `int sem_init(sem_t *sem, int pshared, unsigned int value)` */
  sem_init: { parameters: [ptr, int, uint], result: int },
  /** `int sem_destroy(sem_t *sem)` */
  sem_destroy: { parameters: [ptr], result: int },
  /** `int sem_post(sem_t *sem)` */
  sem_post: { parameters: [ptr], result: int },
  /** `int sem_wait(sem_t *sem)` */
  sem_wait: { parameters: [ptr], result: int },
  /** `int sem_trywait(sem_t *sem)` */
  sem_trywait: { parameters: [ptr], result: int },
  /** `int sem_clockwait(sem_t *sem, clockid_t clockid, const struct timespec *abstime)` */
  sem_clockwait: { parameters: [ptr, int, buf], result: int },
  /**
   * The same call on Deno's blocking-call thread pool: it parks a waiter
   * without blocking the event loop. Always bounded by `abstime` (see memory/_park.ts).
   */
  sem_clockwait_nb: {
    name: "sem_clockwait",
    parameters: [ptr, int, buf],
    result: int,
    nonblocking: true,
  },
  /** `int sem_getvalue(sem_t *sem, int *sval)` */
  sem_getvalue: { parameters: [ptr, buf], result: int },
  /** `int clock_gettime(clockid_t clockid, struct timespec *tp)` */
  clock_gettime: { parameters: [int, buf], result: int },
  /** `int chmod(const char *pathname, mode_t mode)`: named semaphores get their exact mode. */
  chmod: { parameters: [cstr, mode_t], result: int },
} as const satisfies Deno.ForeignLibraryInterface;
