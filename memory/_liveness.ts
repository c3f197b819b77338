/**
 * Is the process that holds a lock still alive? Used only on the slow path,
 * after a wait slice ends without the lock.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { Errno, errnoView } from "../ffi/errno.ts";
import { readText } from "../ffi/files.ts";

/**
 * True while `pid` names a live (not zombie) process. A zombie holds no locks
 * any more but still answers `kill(pid, 0)`, so `/proc/<pid>/stat` decides:
 * a dead holder must be recoverable even before its parent reaps it. errno is
 * only trusted for EPERM (the process exists, owned by someone else); "dead"
 * needs `/proc/<pid>` gone or in state Z/X, so a stale errno can never make a
 * live holder look dead.
 */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  const err = errnoView();
  const r = libc().kill(pid, 0);
  const e = err[0];
  if (r === -1 && e === Errno.EPERM) return true;
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return r === 0; // no /proc entry: dead unless kill() saw it
  // "pid (comm) S ...": comm may contain spaces and parens, so find the last ')'.
  const state = stat.charAt(stat.lastIndexOf(")") + 2);
  return state !== "Z" && state !== "X" && state !== "x";
}
