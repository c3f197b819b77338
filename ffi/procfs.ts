/**
 * Who maps what: one pass over `/proc/<pid>/maps`, read through libc. Reading
 * another user's maps needs the same rights as `ps`/`lsof` (root sees all).
 *
 * @module
 */

import { listDir, readText } from "./files.ts";

/** A process found mapping an object. */
export interface ProcessRef {
  /** Process id. */
  pid: number;
  /** Its command name (`/proc/<pid>/comm`), or "" if it exited meanwhile. */
  command: string;
}

/** The processes mapping each System V segment (by shmid) and each `/dev/shm` file (by path). */
export interface MapsIndex {
  bySegmentId: Map<number, ProcessRef[]>;
  byPath: Map<string, ProcessRef[]>;
}

/** Scans every readable `/proc/<pid>/maps` once. */
export function scanMaps(): MapsIndex {
  const bySegmentId = new Map<number, ProcessRef[]>();
  const byPath = new Map<string, ProcessRef[]>();
  for (const entry of listDir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const maps = readText(`/proc/${entry}/maps`);
    if (!maps) continue;
    const pid = Number(entry);
    let command: string | undefined;
    const ref = () => ({
      pid,
      command: command ??= (readText(`/proc/${entry}/comm`) ?? "").trim(),
    });
    const seenIds = new Set<number>();
    const seenPaths = new Set<string>();
    for (const line of maps.split("\n")) {
      // address perms offset dev inode pathname
      const m = line.match(/^\S+ \S+ \S+ \S+ (\d+)\s+(.*)$/);
      if (!m) continue;
      const path = m[2]!;
      if (path.startsWith("/SYSV")) {
        const id = Number(m[1]);
        if (!seenIds.has(id)) {
          seenIds.add(id);
          push(bySegmentId, id, ref());
        }
      } else if (path.startsWith("/dev/shm/")) {
        const p = path.replace(/ \(deleted\)$/, "");
        if (!seenPaths.has(p)) {
          seenPaths.add(p);
          push(byPath, p, ref());
        }
      }
    }
  }
  return { bySegmentId, byPath };
}

function push<K>(map: Map<K, ProcessRef[]>, key: K, value: ProcessRef): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Parses a `/proc/sysvipc/*` table into rows keyed by its header names. */
export function readSysvipcTable(path: string): Record<string, string>[] {
  const text = readText(path);
  if (text === undefined) return [];
  const lines = text.trim().split("\n");
  const header = lines.shift()?.trim().split(/\s+/) ?? [];
  return lines.filter((l) => l.trim() !== "").map((l) => {
    const cells = l.trim().split(/\s+/);
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""]));
  });
}
