/**
 * What System V objects exist and who is attached: seed 001's listing, from
 * `/proc/sysvipc` and `/proc/<pid>/maps` read through libc (`--allow-ffi` is
 * enough).
 *
 * @module
 */

import { type ProcessRef, readSysvipcTable, scanMaps } from "../ffi/procfs.ts";
import { checkId } from "./_args.ts";

export type { ProcessRef } from "../ffi/procfs.ts";

/** A segment as `ipcs -m` lists it, plus who is attached. */
export interface SegmentInfo {
  /** Key (0 for IPC_PRIVATE). */
  key: number;
  /** Segment id. */
  id: number;
  /** Permission bits. */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Creator pid. */
  cpid: number;
  /** Last attach/detach pid. */
  lpid: number;
  /** Attached processes (kernel count). */
  nattch: number;
  /** Owner uid. */
  uid: number;
  /** Owner gid. */
  gid: number;
  /** Creator uid. */
  cuid: number;
  /** Creator gid. */
  cgid: number;
  /** Last attach, or null. */
  atime: Date | null;
  /** Last detach, or null. */
  dtime: Date | null;
  /** Last change, or null. */
  ctime: Date | null;
  /** True once removed (IPC_RMID) but still attached somewhere. */
  removed: boolean;
  /** Processes attached now, as far as this user can see `/proc/<pid>/maps`. */
  attached: ProcessRef[];
}

/** A semaphore set as `ipcs -s` lists it. */
export interface SemaphoreSetInfo {
  /** Key (0 for IPC_PRIVATE). */
  key: number;
  /** Set id. */
  id: number;
  /** Permission bits. */
  mode: number;
  /** Semaphores in the set. */
  count: number;
  /** Owner uid. */
  uid: number;
  /** Owner gid. */
  gid: number;
  /** Creator uid. */
  cuid: number;
  /** Creator gid. */
  cgid: number;
  /** Last semop, or null. */
  otime: Date | null;
  /** Last change, or null. */
  ctime: Date | null;
}

const time = (
  s: string | undefined,
) => (s === undefined || s === "0" ? null : new Date(Number(s) * 1000));

/**
 * Every System V shared memory segment on the system, with the processes
 * attached to each.
 *
 * @example
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assert } from "@std/assert";
 * const seg = sysv.Segment.private(4096);
 * using at = seg.attach();
 * const mine = sysv.listSegments().find((s) => s.id === seg.id);
 * assert(mine?.attached.some((p) => p.pid === Deno.pid));
 * seg.remove();
 * ```
 */
export function listSegments(): SegmentInfo[] {
  const maps = scanMaps();
  return readSysvipcTable("/proc/sysvipc/shm").map((r) => {
    const mode = parseInt(r.perms ?? "0", 8); // the kernel prints perms in octal
    const id = Number(r.shmid);
    return {
      key: Number(r.key) | 0,
      id,
      mode: mode & 0o777,
      size: Number(r.size),
      cpid: Number(r.cpid),
      lpid: Number(r.lpid),
      nattch: Number(r.nattch),
      uid: Number(r.uid),
      gid: Number(r.gid),
      cuid: Number(r.cuid),
      cgid: Number(r.cgid),
      atime: time(r.atime),
      dtime: time(r.dtime),
      ctime: time(r.ctime),
      removed: (mode & 0o1000) !== 0, // SHM_DEST
      attached: maps.bySegmentId.get(id) ?? [],
    };
  });
}

/**
 * Every System V semaphore set on the system.
 *
 * @example
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const set = sysv.SemaphoreSet.private(3);
 * assertEquals(sysv.listSemaphoreSets().find((s) => s.id === set.id)?.count, 3);
 * set.remove();
 * ```
 */
export function listSemaphoreSets(): SemaphoreSetInfo[] {
  return readSysvipcTable("/proc/sysvipc/sem").map((r) => ({
    key: Number(r.key) | 0,
    id: Number(r.semid),
    mode: parseInt(r.perms ?? "0", 8) & 0o777,
    count: Number(r.nsems),
    uid: Number(r.uid),
    gid: Number(r.gid),
    cuid: Number(r.cuid),
    cgid: Number(r.cgid),
    otime: time(r.otime),
    ctime: time(r.ctime),
  }));
}

/**
 * The processes attached to segment `id` now (from `/proc/<pid>/maps`, so
 * only processes this user may inspect are seen; root sees all).
 *
 * @example
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const seg = sysv.Segment.private(64);
 * const at = seg.attach();
 * assertEquals(sysv.attachedProcesses(seg.id).map((p) => p.pid), [Deno.pid]);
 * at.detach();
 * assertEquals(sysv.attachedProcesses(seg.id), []);
 * seg.remove();
 * ```
 */
export function attachedProcesses(id: number): ProcessRef[] {
  checkId(id);
  return scanMaps().bySegmentId.get(id) ?? [];
}
