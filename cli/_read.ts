/**
 * Reading another process's object without touching it: `open(O_RDONLY)`,
 * `lseek` and `read` through libc. No mapping, no lock, no write, so looking
 * can neither change a lock's state nor wait on one, and a peer shrinking the
 * file meanwhile yields a short read instead of the SIGBUS a mapping would.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { cString } from "../ffi/cstring.ts";
import { O, SEEK } from "../ffi/constants.ts";

/** `O_NONBLOCK`, the same on x86_64 and aarch64. */
const O_NONBLOCK = 0o4000;

/** Reads bytes of a file by offset; what it returns may be shorter than asked (end of file). */
export type ByteReader = (offset: number, length: number) => Uint8Array;

/**
 * Opens `path` read-only and runs `fn` with a reader over it; `undefined` when
 * it cannot be opened (gone, or not ours to read).
 */
export function withReader<T>(path: string, fn: (read: ByteReader) => T): T | undefined {
  // Non-blocking: a FIFO swapped in after the listing's stat must not hang the open.
  const fd = libc().open(cString(path), O.RDONLY | O.CLOEXEC | O.NOFOLLOW | O_NONBLOCK);
  if (fd === -1) return undefined;
  try {
    return fn((offset, length) => readAt(fd, offset, length));
  } finally {
    libc().close(fd);
  }
}

function readAt(fd: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (libc().lseek(fd, BigInt(offset), SEEK.SET) !== BigInt(offset)) return out.subarray(0, 0);
  let got = 0;
  while (got < length) {
    const n = Number(libc().read(fd, out.subarray(got), BigInt(length - got)));
    if (n <= 0) break;
    got += n;
  }
  return out.subarray(0, got);
}

/** Little-endian Int32 words of `bytes` (only whole words). */
export function words(bytes: Uint8Array): Int32Array {
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
}
