/**
 * Choosing objects: the `ls` filters and the targets of `stat` and `rm`.
 *
 * @module
 */

import { FAMILIES, type IpcObject, type Kind, KINDS } from "./_objects.ts";
import { uidOf } from "./_users.ts";

/** A mistake in the command line: exit code 2. */
export class UsageError extends Error {}

/** The filters of `ls` (also narrowing `stat`/`rm` targets). */
export interface Filters {
  shm?: boolean;
  sem?: boolean;
  queues?: boolean;
  kind?: string | undefined;
  user?: string | undefined;
  pid?: string | undefined;
}

/** The kinds the family and `--kind` flags allow, or undefined for all. */
function allowedKinds(f: Filters): Set<Kind> | undefined {
  let kinds: Set<Kind> | undefined;
  for (const family of ["shm", "sem", "queues"] as const) {
    if (!f[family]) continue;
    kinds ??= new Set();
    for (const k of FAMILIES[family]) kinds.add(k);
  }
  if (f.kind !== undefined) {
    const asked = f.kind.split(",").map((k) => k.trim());
    for (const k of asked) {
      if (!(KINDS as readonly string[]).includes(k)) {
        throw new UsageError(`unknown kind "${k}"; kinds are: ${KINDS.join(", ")}`);
      }
    }
    const picked = new Set(asked as Kind[]);
    kinds = kinds === undefined ? picked : new Set([...kinds].filter((k) => picked.has(k)));
  }
  return kinds;
}

/** A predicate for every filter in `f`; throws UsageError for a bad one. */
export function filterOf(f: Filters): (o: IpcObject) => boolean {
  const kinds = allowedKinds(f);
  let uid: number | undefined;
  if (f.user !== undefined) {
    uid = /^\d+$/.test(f.user) ? Number(f.user) : uidOf(f.user);
    if (uid === undefined) throw new UsageError(`no user "${f.user}"`);
  }
  let pid: number | undefined;
  if (f.pid !== undefined) {
    if (!/^\d+$/.test(f.pid)) throw new UsageError(`--pid takes a process id, got "${f.pid}"`);
    pid = Number(f.pid);
  }
  return (o) =>
    (kinds === undefined || kinds.has(o.kind)) &&
    (uid === undefined || o.uid === uid) &&
    (pid === undefined || pidsOf(o).has(pid));
}

/** Every pid an object names: mappers, and the pids its state records (holders, senders…). */
export function pidsOf(o: IpcObject): Set<number> {
  const pids = new Set(o.pids.map((p) => p.pid));
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") {
      const r = v as Record<string, unknown>;
      if (typeof r.pid === "number" && typeof r.alive === "boolean") pids.add(r.pid);
      else Object.values(r).forEach(walk);
    }
  };
  walk(o.state);
  return pids;
}

/** True when `s` has glob characters. */
export const isGlob = (s: string) => /[*?[]/.test(s);

/** A glob (`*`, `?`, `[a-z]`) as an anchored RegExp over the whole name. */
export function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) re += "\\[";
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

/** Does `o` answer to `target` (a /name or glob, a decimal id, a 0x key)? */
export function matcher(target: string): (o: IpcObject) => boolean {
  if (target.startsWith("/")) {
    if (isGlob(target)) {
      const re = globRegExp(target);
      return (o) => o.name !== null && re.test(o.name);
    }
    return (o) => o.name === target;
  }
  if (/^0x[0-9a-f]+$/i.test(target)) {
    const key = `0x${(Number(target) >>> 0).toString(16).padStart(8, "0")}`;
    // Key 0 is IPC_PRIVATE: every private object has it, so it names none of them.
    return (o) => o.key === key && key !== "0x00000000";
  }
  if (/^\d+$/.test(target)) {
    const id = Number(target);
    return (o) => o.id === id;
  }
  throw new UsageError(`"${target}" is not a /name, a /glob*, a decimal id or a 0x key`);
}
