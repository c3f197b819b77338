/**
 * Directory and file calls for reading `/proc`, `/dev/shm` and
 * `/proc/sysvipc` through libc, so listings need only `--allow-ffi` (Deno's
 * own file APIs need `-A` for those paths).
 *
 * @module
 */

import { buf, cstr, int, ptr } from "./types.ts";

/** Symbol table for opendir/readdir/closedir/stat/readlink. */
export const fsSymbols = {
  /** `DIR *opendir(const char *name)` */
  opendir: { parameters: [cstr], result: ptr },
  /** `struct dirent *readdir(DIR *dirp)` */
  readdir: { parameters: [ptr], result: ptr },
  /** `int closedir(DIR *dirp)` */
  closedir: { parameters: [ptr], result: int },
  /** `int stat(const char *pathname, struct stat *statbuf)` (a real symbol since glibc 2.33) */
  stat: { parameters: [cstr, buf], result: int },
} as const satisfies Deno.ForeignLibraryInterface;
