/**
 * `futex(2)`, reached through glibc's `syscall(2)`: the wait and wake under
 * every POSIX semaphore. The library waits and wakes on a `sem_t`'s value word
 * itself, so that a word another process corrupted comes back as an error code
 * instead of glibc's `abort()` ("The futex facility returned an unexpected
 * error code"), while C peers keep using `sem_post`/`sem_wait` on the same
 * `sem_t`.
 *
 * `syscall` is variadic in C; on Linux x86_64 and aarch64 (the only ABIs
 * `libc.ts` loads) integer and pointer arguments pass in the same registers as
 * fixed ones, so declaring the six futex arguments as fixed parameters is safe.
 *
 * @module
 */

import { buf, int, long, ptr, uint } from "./types.ts";

/** `SYS_futex`: 202 on x86_64, 98 on aarch64 (a BigInt keeps the call on the fast path). */
export const SYS_FUTEX: bigint = Deno.build.arch === "aarch64" ? 98n : 202n;

/** `futex_op` values (`<linux/futex.h>`). */
export const FUTEX = {
  /** Sleeps with a relative timeout: no clock read needed to arm it. */
  WAIT: 0,
  WAKE: 1,
  WAIT_BITSET: 9,
  PRIVATE_FLAG: 128,
  /** `FUTEX_BITSET_MATCH_ANY`: the bitset a plain `FUTEX_WAKE` matches. */
  BITSET_MATCH_ANY: 0xffffffff,
} as const;

/** Symbol table for `futex(2)`. */
export const futexSymbols = {
  /**
   * `long syscall(SYS_futex, uint32_t *uaddr, int futex_op, uint32_t val,
   * const struct timespec *timeout, uint32_t *uaddr2, uint32_t val3)`. The
   * result is read as an `int`: futex returns -1, 0 or a small wake count.
   */
  futex: {
    name: "syscall",
    parameters: [long, ptr, int, uint, buf, ptr, uint],
    result: int,
  },
  /**
   * The same call on Deno's blocking-call pool, for an async park bounded by
   * its absolute `timeout` (see memory/_park.ts). Its errno is lost (other thread).
   */
  futex_nb: {
    name: "syscall",
    parameters: [long, ptr, int, uint, buf, ptr, uint],
    result: int,
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
