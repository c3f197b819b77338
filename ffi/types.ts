/**
 * C type aliases for the libc symbol tables, written once so every table reads
 * like its C prototype. Sizes are for Linux LP64 (x86_64 and aarch64 glibc),
 * the only ABI `ffi/libc.ts` agrees to load.
 *
 * @module
 */

/** `int`, `pid_t`, `key_t`, `clockid_t`: 32-bit signed. */
export const int = "i32" as const;
/** `unsigned int`, `mode_t`, `uid_t`, `gid_t`. */
export const uint = "u32" as const;
/** `unsigned short`: a member of `struct sembuf`. */
export const ushort = "u16" as const;
/** `size_t`: a BigInt keeps the call on the fast path. */
export const size_t = "usize" as const;
/** `ssize_t`. */
export const ssize_t = "isize" as const;
/** `off_t` (64-bit on LP64). */
export const off_t = "i64" as const;
/** `long`. */
export const long = "i64" as const;
/** Any pointer (`void *`, `char *`, `struct x *`). */
export const ptr = "pointer" as const;
/** `const char *` passed in from JS: a NUL-terminated `Uint8Array`. */
export const cstr = "buffer" as const;
/** A caller-owned output struct (`struct stat *`, `struct timespec *`): a `Uint8Array`. */
export const buf = "buffer" as const;
/** `mode_t`. */
export const mode_t = "u32" as const;
/** `key_t`. */
export const key_t = "i32" as const;
/** `pid_t`. */
export const pid_t = "i32" as const;
/** `void` return. */
export const void_ = "void" as const;
