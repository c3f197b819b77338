/**
 * Process liveness: `kill(pid, 0)` and the state letter in `/proc/<pid>/stat`,
 * read through libc so `--allow-ffi` is enough.
 *
 * @module
 */

import { cstr, int, pid_t, size_t, ssize_t } from "./types.ts";

/** Symbol table for signals and raw file reads used on `/proc`. */
export const processSymbols = {
  /** `int kill(pid_t pid, int sig)` */
  kill: { parameters: [pid_t, int], result: int },
  /** `int open(const char *pathname, int flags)` (no mode: never creates) */
  open: { parameters: [cstr, int], result: int },
  /** `ssize_t read(int fd, void *buf, size_t count)` */
  read: { parameters: [int, "buffer", size_t], result: ssize_t },
  /** `ssize_t pread(int fd, void *buf, size_t count, off_t offset)`: re-reads `/proc/loadavg` */
  pread: { parameters: [int, "buffer", size_t, "i64"], result: ssize_t },
} as const satisfies Deno.ForeignLibraryInterface;
