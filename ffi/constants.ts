/**
 * Flag values from `<fcntl.h>`, `<sys/mman.h>` and `<unistd.h>`. Linux uses the
 * same values on x86_64 and aarch64 for every flag here but `O_NOFOLLOW`
 * (aarch64 takes asm-generic's, x86_64 keeps its own), which the layout test
 * confirms against the C headers of each architecture.
 *
 * @module
 */

/** `open`/`shm_open` flags. */
export const O = {
  RDONLY: 0,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOFOLLOW: Deno.build.arch === "aarch64" ? 0o100000 : 0o400000,
  CLOEXEC: 0o2000000,
} as const;

/** `mmap` protection bits. */
export const PROT = { NONE: 0, READ: 1, WRITE: 2 } as const;

/** `mmap` flags. */
export const MAP = {
  SHARED: 0x01,
  PRIVATE: 0x02,
  FIXED: 0x10,
  ANONYMOUS: 0x20,
  NORESERVE: 0x4000,
} as const;

/** `sysconf` names. */
export const SC = { PAGESIZE: 30 } as const;

/** `lseek` whence. */
export const SEEK = { SET: 0, END: 2 } as const;

/** `S_IFMT` and the regular-file type bits of `st_mode`. */
export const S = { IFMT: 0o170000, IFREG: 0o100000 } as const;
