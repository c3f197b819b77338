/**
 * Errors for System V calls made on an id: the kernel answers `EINVAL` (or
 * `EIDRM`) for an id that was removed, which would read as a bad argument.
 *
 * @module
 */

import {
  type CallSite,
  Errno,
  errnoCode,
  type ErrnoError,
  errnoError,
  strerror,
  typedError,
} from "../ffi/errno.ts";
import { hexKey } from "./_args.ts";

/** What a System V id names, in messages. */
export type SysvKind = "segment" | "semaphore set";

/**
 * The error for `errno` from a call on System V `kind` id `id`. `EIDRM`, and
 * an `EINVAL` when `stillExists()` says the id is gone, become
 * `Deno.errors.NotFound` ("System V segment id 1234 no longer exists
 * (removed?)"); any other `EINVAL` is a real bad argument and stays a
 * `SystemError`. `errno`, `code` and `syscall` stay what the kernel said.
 */
export function idError(
  errno: number,
  site: CallSite,
  kind: SysvKind,
  id: number,
  stillExists: () => boolean,
): ErrnoError {
  const gone = errno === Errno.EIDRM || (errno === Errno.EINVAL && !stillExists());
  if (!gone) return errnoError(errno, site);
  return typedError(
    errno,
    `${site.action}: System V ${kind} id ${id} no longer exists (removed?); ${site.syscall} failed with ${
      errnoCode(errno)
    } (${strerror(errno)})`,
    { syscall: site.syscall, object: `id ${id}` },
    Deno.errors.NotFound,
  );
}

/** `EINVAL`/`EIDRM` from an `IPC_STAT` probe: the id names nothing any more. */
export function isGone(errno: number): boolean {
  return errno === Errno.EINVAL || errno === Errno.EIDRM;
}

/** What to do when a key is taken, or has nothing: for `CallSite.hints`. */
export function keyHints(
  kind: SysvKind,
  key: number,
): { EEXIST: string; ENOENT: string } {
  const k = hexKey(key);
  const [cls, ipcrm, cliKind] = kind === "segment"
    ? ["Segment", "-M", "--shm"]
    : ["SemaphoreSet", "-S", "--sem"];
  return {
    EEXIST: `a ${kind} already exists for key ${k}; open it with ${cls}.open(${k}), or remove it ` +
      `with ${cls}.open(${k}).remove(), \`ipcrm ${ipcrm} ${k}\` or ` +
      `\`deno run --allow-ffi jsr:@ipc/shm/cli rm ${k} ${cliKind}\``,
    ENOENT: `no ${kind} has key ${k}; create it with ${cls}.create() or ${cls}.openOrCreate()`,
  };
}
