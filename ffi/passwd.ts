/**
 * `<pwd.h>`: user names for uids and back, for listings that show owners the
 * way `ls -l` and `ipcs` do. The reentrant `_r` forms, so no static buffer of
 * libc's is shared with anyone else's call.
 *
 * @module
 */

import { buf, cstr, int, size_t, uint } from "./types.ts";

/** Symbol table for getpwuid_r/getpwnam_r. */
export const passwdSymbols = {
  /** `int getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t buflen, struct passwd **result)` */
  getpwuid_r: { parameters: [uint, buf, buf, size_t, buf], result: int },
  /** `int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen, struct passwd **result)` */
  getpwnam_r: { parameters: [cstr, buf, buf, size_t, buf], result: int },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * `struct passwd` on LP64 glibc (x86_64 and aarch64 alike): `pw_name` at 0,
 * `pw_uid` at 16, 48 bytes in all.
 */
export const PASSWD = { size: 48, name: 0, uid: 16 } as const;
