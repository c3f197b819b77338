/**
 * Is the process that holds a lock still alive? Used only on the slow path,
 * after a wait slice ends without the lock.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { Errno, errno } from "../ffi/errno.ts";
import { cString } from "../ffi/cstring.ts";
import { O } from "../ffi/constants.ts";

const statBuf = new Uint8Array(512);

/**
 * True while `pid` names a live (not zombie) process. A zombie holds no locks
 * any more but still answers `kill(pid, 0)`, so `/proc/<pid>/stat` is checked
 * too: a dead holder must be recoverable even before its parent reaps it.
 */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  if (libc().kill(pid, 0) === -1 && errno() === Errno.ESRCH) return false;
  const fd = libc().open(cString(`/proc/${pid}/stat`), O.RDONLY | O.CLOEXEC);
  if (fd === -1) return errno() !== Errno.ENOENT;
  try {
    const n = Number(libc().read(fd, statBuf, BigInt(statBuf.length)));
    if (n <= 0) return true;
    // "pid (comm) S ...": comm may contain spaces and parens, so find the last ')'.
    const text = new TextDecoder().decode(statBuf.subarray(0, n));
    const state = text.charAt(text.lastIndexOf(")") + 2);
    return state !== "Z" && state !== "X" && state !== "x";
  } finally {
    libc().close(fd);
  }
}
