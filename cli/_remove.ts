/**
 * Removing objects, and saying exactly what the kernel did: a POSIX name is
 * unlinked at once (mappers keep their memory), while a System V segment that
 * is still attached is only marked for removal and lives on until the last
 * detach.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { cString } from "../ffi/cstring.ts";
import { errno, errnoError } from "../ffi/errno.ts";
import { IPC } from "../ffi/sysv_shm.ts";
import { listSegments } from "../sysv/list.ts";
import { type IpcObject, SHM_FILE_KINDS } from "./_objects.ts";
import { pidList } from "./_table.ts";
import { pidsOf } from "./_select.ts";
import { isAlive } from "../memory/_liveness.ts";

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Removes `o`; returns the line that says what happened. Throws the errno error on failure. */
export function remove(o: IpcObject): string {
  const fail = (syscall: string, object: string) =>
    errnoError(errno(), { syscall, action: `Cannot remove ${o.kind}`, object });
  if (SHM_FILE_KINDS.includes(o.kind) || o.kind === "semaphore" || o.kind === "message-queue") {
    const name = o.name!;
    const ok = o.kind === "message-queue"
      ? libc().mq_unlink(cString(name)) === 0
      : o.kind === "semaphore"
      ? libc().sem_unlink(cString(name)) === 0
      : libc().shm_unlink(cString(name)) === 0;
    if (!ok) {
      throw fail(
        o.kind === "message-queue"
          ? "mq_unlink"
          : o.kind === "semaphore"
          ? "sem_unlink"
          : "shm_unlink",
        name,
      );
    }
    const users = o.pids.length === 0
      ? ""
      : `; ${
        plural(o.pids.length, "process still maps", "processes still map")
      } it until exit or close: ${pidList(o.pids)}`;
    return `unlinked ${name} (${o.kind})${users}`;
  }
  const id = o.id!;
  const what = o.kind === "sysv-segment"
    ? "System V segment"
    : o.kind === "sysv-semaphore-set"
    ? "System V semaphore set"
    : "System V message queue";
  const r = o.kind === "sysv-segment"
    ? libc().shmctl(id, IPC.RMID, null)
    : o.kind === "sysv-semaphore-set"
    ? libc().semctl(id, 0, IPC.RMID, 0n)
    : libc().msgctl(id, IPC.RMID, null);
  if (r === -1) {
    throw fail(
      o.kind === "sysv-segment" ? "shmctl" : o.kind === "sysv-semaphore-set" ? "semctl" : "msgctl",
      `${id}`,
    );
  }
  if (o.kind === "sysv-segment") {
    // Still listed after IPC_RMID means still attached: the kernel only marked it.
    const left = listSegments().find((s) => s.id === id);
    if (left !== undefined && left.nattch > 0) {
      return `marked ${what} ${id} for removal; ${
        plural(left.nattch, "process still attached", "processes still attached")
      }${left.attached.length ? `: ${pidList(left.attached)}` : ""}`;
    }
  }
  return `removed ${what} ${id} (key ${o.key})`;
}

/**
 * A library object (Channel, Mutex, RwLock, permit Semaphore) whose every
 * user is gone: no process maps it, and no pid its memory records is alive.
 * Plain shared memory is never stale: nothing in it says who it is for.
 */
export function isStale(o: IpcObject): boolean {
  if (
    o.kind !== "channel" && o.kind !== "mutex" && o.kind !== "rwlock" &&
    o.kind !== "permit-semaphore"
  ) return false;
  if (o.state === null || o.pids.length > 0) return false;
  for (const pid of pidsOf(o)) if (isAlive(pid)) return false;
  return true;
}
