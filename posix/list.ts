/**
 * What POSIX shared memory objects and named semaphores exist in `/dev/shm`,
 * and which processes map each one (read through libc: `--allow-ffi` only).
 *
 * @module
 */

import { listDir, statPath } from "../ffi/files.ts";
import { type ProcessRef, scanMaps } from "../ffi/procfs.ts";

/** One object in `/dev/shm`. */
export interface PosixObjectInfo {
  /** The name to pass to `SharedMemory.open` / `Semaphore.open`: `/jobs`. */
  name: string;
  /** `"shared-memory"`, or `"semaphore"` for glibc's `sem.NAME` files. */
  kind: "shared-memory" | "semaphore";
  /** Size in bytes. */
  size: number;
  /** Permission bits. */
  mode: number;
  /** Owner uid. */
  uid: number;
  /** Owner gid. */
  gid: number;
  /** Last modification. */
  mtime: Date;
  /** Processes that map it now (as far as this user may see). */
  mappedBy: ProcessRef[];
}

/**
 * Lists `/dev/shm`: every POSIX shared memory object and named semaphore,
 * with the processes mapping each.
 *
 * @example
 * ```ts
 * import { posix, SharedMemory } from "@ipc/shm";
 * import { assert, assertEquals } from "@std/assert";
 * const name = `/doc-list-${Deno.pid}`;
 * using shm = SharedMemory.create(name, { size: 4096 });
 * const me = posix.listSharedMemory().find((o) => o.name === name);
 * assertEquals(me?.size, 4096);
 * assert(me?.mappedBy.some((p) => p.pid === Deno.pid));
 * shm.unlink();
 * ```
 */
export function listSharedMemory(): PosixObjectInfo[] {
  const maps = scanMaps();
  const out: PosixObjectInfo[] = [];
  for (const file of listDir("/dev/shm", "Cannot list /dev/shm").sort()) {
    const st = statPath(`/dev/shm/${file}`);
    if (st === undefined || (st.mode & 0o170000) !== 0o100000) continue; // gone, or not a file
    const semaphore = file.startsWith("sem.");
    out.push({
      name: `/${semaphore ? file.slice(4) : file}`,
      kind: semaphore ? "semaphore" : "shared-memory",
      size: st.size,
      mode: st.mode & 0o777,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtime,
      mappedBy: maps.byPath.get(`/dev/shm/${file}`) ?? [],
    });
  }
  return out;
}
