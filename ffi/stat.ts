/**
 * `struct stat` for x86_64 and aarch64 glibc, decoded from a buffer `fstat`
 * filled. Offsets are checked against `offsetof` by `tests/layout_test.ts`.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { type CallSite, check } from "./errno.ts";

/**
 * `O_NONBLOCK`, the same on x86_64 and aarch64 (checked against the C header
 * by `tests/layout_test.ts`). Opening a FIFO without it blocks until a peer
 * opens the other end: an object opened by name may be one.
 */
export const O_NONBLOCK = 0o4000;

const KINDS: Readonly<Record<number, string>> = {
  0o010000: "a FIFO",
  0o020000: "a character device",
  0o040000: "a directory",
  0o060000: "a block device",
  0o100000: "a regular file",
  0o120000: "a symbolic link",
  0o140000: "a socket",
};

/** What `st_mode` says a file is, for messages: `"a FIFO"`, `"a directory"`. */
export function fileKind(mode: number): string {
  const type = mode & 0o170000;
  return KINDS[type] ?? `of unknown type 0o${type.toString(8)}`;
}

/** True when `st_mode` is a regular file's (`S_ISREG`). */
export function isRegular(mode: number): boolean {
  return (mode & 0o170000) === 0o100000;
}

interface StatLayout {
  size: number;
  mode: number;
  nlink: [offset: number, bytes: 4 | 8];
  uid: number;
  gid: number;
  size_: number;
  atime: number;
  mtime: number;
  ctime: number;
}

/** `struct stat` offsets per architecture. */
export const STAT_LAYOUT: Record<"x86_64" | "aarch64", StatLayout> = {
  x86_64: {
    size: 144,
    nlink: [16, 8],
    mode: 24,
    uid: 28,
    gid: 32,
    size_: 48,
    atime: 72,
    mtime: 88,
    ctime: 104,
  },
  aarch64: {
    size: 128,
    mode: 16,
    nlink: [20, 4],
    uid: 24,
    gid: 28,
    size_: 48,
    atime: 72,
    mtime: 88,
    ctime: 104,
  },
};

/** The fields of `struct stat` this library uses. */
export interface FileStat {
  /** `st_mode`: type and permission bits. */
  mode: number;
  /** `st_uid` */
  uid: number;
  /** `st_gid` */
  gid: number;
  /** `st_size` in bytes. */
  size: number;
  /** `st_mtim` */
  mtime: Date;
  /** `st_ctim` */
  ctime: Date;
}

function layout(): StatLayout {
  return STAT_LAYOUT[Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"];
}

/** Decodes the fields we use from a filled `struct stat`. */
export function decodeStat(buf: Uint8Array<ArrayBuffer>): FileStat {
  const l = layout();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const time = (off: number) =>
    new Date(
      Number(dv.getBigInt64(off, true)) * 1000 + Number(dv.getBigInt64(off + 8, true) / 1_000_000n),
    );
  return {
    mode: dv.getUint32(l.mode, true),
    uid: dv.getUint32(l.uid, true),
    gid: dv.getUint32(l.gid, true),
    size: Number(dv.getBigInt64(l.size_, true)),
    mtime: time(l.mtime),
    ctime: time(l.ctime),
  };
}

/** `fstat(fd)`, decoded. */
export function fstat(fd: number, site: Omit<CallSite, "syscall">): FileStat {
  const buf = new Uint8Array(layout().size);
  check(libc().fstat(fd, buf), { ...site, syscall: "fstat" });
  return decodeStat(buf);
}
