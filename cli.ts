/**
 * `ipc-shm`: list, inspect and remove POSIX and System V IPC objects, with
 * the processes attached to each — `ipcs` and `ipcrm` plus pids.
 *
 *     deno run --allow-ffi jsr:@ipc/shm/cli ls [--json]
 *     deno run --allow-ffi jsr:@ipc/shm/cli stat <target> [--json]
 *     deno run --allow-ffi jsr:@ipc/shm/cli rm <target> [--shm|--sem]
 *
 * A target is a POSIX name (`/jobs`), a System V id (`32768`) or key
 * (`0x7a2f`). A target that matches more than one object is refused until
 * `--shm` (shared memory) or `--sem` (semaphores) narrows it.
 * Exit codes: 0 done, 1 failed (not found, permission denied…), 2 usage error
 * or ambiguous target.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { listSharedMemory, type PosixObjectInfo } from "./posix/list.ts";
import { SharedMemory } from "./posix/shared_memory.ts";
import { Semaphore } from "./posix/semaphore.ts";
import {
  listSegments,
  listSemaphoreSets,
  type SegmentInfo,
  type SemaphoreSetInfo,
} from "./sysv/list.ts";
import { Segment } from "./sysv/segment.ts";
import { SemaphoreSet } from "./sysv/semaphore_set.ts";

const HELP = `ipc-shm — POSIX and System V IPC objects, and who uses them

Usage:
  ipc-shm ls [--json]                 list /dev/shm objects, segments and semaphore sets, with pids
  ipc-shm stat <target> [--json]      show one object
  ipc-shm rm <target> [--shm|--sem]   remove one object
  ipc-shm --help

Targets:
  /name     a POSIX shared memory object or named semaphore
  123       a System V segment or semaphore set id
  0x7a2f    a System V key
--shm or --sem picks the kind when a target matches several objects.

Exit codes: 0 ok, 1 failed, 2 usage error or ambiguous target.
Needs --allow-ffi (libc calls run outside Deno's sandbox).`;

/** One object a target resolved to. */
type Found =
  | { kind: "posix-shm" | "posix-sem"; info: PosixObjectInfo }
  | { kind: "segment"; info: SegmentInfo }
  | { kind: "semaphore-set"; info: SemaphoreSetInfo };

class UsageError extends Error {}

/**
 * Runs the CLI with `args`; returns the exit code. Output goes to `out`/`err`.
 *
 * @example
 * ```ts
 * import { main } from "@ipc/shm/cli";
 * import { assertEquals, assertMatch } from "@std/assert";
 * let text = "";
 * assertEquals(main(["--help"], (s) => (text += s)), 0);
 * assertMatch(text, /Usage:/);
 * assertEquals(main(["frobnicate"], () => {}, () => {}), 2);
 * ```
 */
export function main(
  args: string[],
  out: (s: string) => void = console.log,
  err: (s: string) => void = console.error,
): number {
  try {
    const values = parseArgs(args, {
      boolean: ["json", "shm", "sem", "help"],
      // Positionals stay strings: "0x7a2f" is a key to match, not the number 31279.
      string: ["_"],
      alias: { h: "help" },
      unknown: (arg) => {
        if (arg.startsWith("-")) throw new UsageError(`unknown option "${arg}"`);
        return true;
      },
    });
    const [command, target, ...extra] = values._.map(String);
    if (values.help || command === "help") {
      out(HELP);
      return 0;
    }
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
    if (values.shm && values.sem) throw new UsageError("--shm and --sem exclude each other");
    switch (command) {
      case "ls":
        if (target !== undefined) throw new UsageError("ls takes no target");
        ls(values.json, out);
        return 0;
      case "stat": {
        const found = resolve(target, values);
        out(values.json ? JSON.stringify(found, null, 2) : describe(found));
        return 0;
      }
      case "rm": {
        const found = resolve(target, values);
        remove(found);
        out(`removed ${label(found)}`);
        return 0;
      }
      case undefined:
        throw new UsageError("a command is needed: ls, stat or rm");
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`ipc-shm: ${(e as Error).message}\nTry: ipc-shm --help`);
      return 2;
    }
    err(`ipc-shm: ${(e as Error).message}`);
    return 1;
  }
}

function resolve(target: string | undefined, kind: { shm: boolean; sem: boolean }): Found {
  if (target === undefined) throw new UsageError("a target is needed: /name, id or 0xkey");
  let found: Found[];
  if (target.startsWith("/")) {
    const name = target;
    found = listSharedMemory().filter((o) => o.name === name).map((info) => ({
      kind: info.kind === "semaphore" ? "posix-sem" as const : "posix-shm" as const,
      info,
    }));
  } else if (/^0x[0-9a-f]+$/i.test(target)) {
    const key = Number(target) | 0;
    found = [
      ...listSegments().filter((s) => s.key === key && key !== 0).map((info) => ({
        kind: "segment" as const,
        info,
      })),
      ...listSemaphoreSets().filter((s) => s.key === key && key !== 0).map((info) => ({
        kind: "semaphore-set" as const,
        info,
      })),
    ];
  } else if (/^\d+$/.test(target)) {
    const id = Number(target);
    found = [
      ...listSegments().filter((s) => s.id === id).map((info) => ({
        kind: "segment" as const,
        info,
      })),
      ...listSemaphoreSets().filter((s) => s.id === id).map((info) => ({
        kind: "semaphore-set" as const,
        info,
      })),
    ];
  } else {
    throw new UsageError(`"${target}" is not a /name, a decimal id or a 0x key`);
  }
  if (kind.shm) found = found.filter((f) => f.kind === "posix-shm" || f.kind === "segment");
  if (kind.sem) found = found.filter((f) => f.kind === "posix-sem" || f.kind === "semaphore-set");
  if (found.length === 0) {
    const narrowed = kind.shm ? " (with --shm)" : kind.sem ? " (with --sem)" : "";
    throw new Deno.errors.NotFound(
      `nothing matches ${target}${narrowed}; \`ipc-shm ls\` lists what exists`,
    );
  }
  if (found.length > 1) {
    throw new UsageError(
      `${target} is ambiguous: ${found.map(label).join(" and ")}; add --shm or --sem`,
    );
  }
  return found[0]!;
}

function remove(f: Found): void {
  switch (f.kind) {
    case "posix-shm":
      return SharedMemory.unlink(f.info.name);
    case "posix-sem":
      return Semaphore.unlink(f.info.name);
    case "segment":
      return Segment.fromId(f.info.id).remove();
    case "semaphore-set":
      return SemaphoreSet.fromId(f.info.id).remove();
  }
}

function label(f: Found): string {
  switch (f.kind) {
    case "posix-shm":
      return `shared memory ${f.info.name}`;
    case "posix-sem":
      return `semaphore ${f.info.name}`;
    case "segment":
      return `segment ${f.info.id} (key ${hex(f.info.key)})`;
    case "semaphore-set":
      return `semaphore set ${f.info.id} (key ${hex(f.info.key)})`;
  }
}

function describe(f: Found): string {
  const lines = [label(f)];
  for (const [k, v] of Object.entries(f.info)) {
    const shown = Array.isArray(v)
      ? v.map((p: { pid: number; command: string }) => `${p.pid} (${p.command})`).join(", ") || "-"
      : k === "mode"
      ? `0${(v as number).toString(8)}`
      : k === "key"
      ? hex(v as number)
      : v instanceof Date
      ? v.toISOString()
      : String(v);
    lines.push(`  ${k.padEnd(9)} ${shown}`);
  }
  return lines.join("\n");
}

const hex = (key: number) => `0x${(key >>> 0).toString(16).padStart(8, "0")}`;
const pids = (ps: { pid: number }[]) => ps.map((p) => p.pid).join(",") || "-";

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

function ls(json: boolean, out: (s: string) => void): void {
  const posix = listSharedMemory();
  const segments = listSegments();
  const sets = listSemaphoreSets();
  if (json) {
    out(JSON.stringify({ posix, segments, semaphoreSets: sets }, null, 2));
    return;
  }
  out("------ POSIX shared memory and semaphores (/dev/shm) ------");
  out(table([
    ["name", "kind", "owner", "perms", "bytes", "pids"],
    ...posix.map((
      o,
    ) => [o.name, o.kind, `${o.uid}`, o.mode.toString(8), `${o.size}`, pids(o.mappedBy)]),
  ]));
  out("\n------ System V shared memory segments ------");
  out(table([
    ["key", "shmid", "owner", "perms", "bytes", "nattch", "status", "pids"],
    ...segments.map((s) => [
      hex(s.key),
      `${s.id}`,
      `${s.uid}`,
      s.mode.toString(8),
      `${s.size}`,
      `${s.nattch}`,
      s.removed ? "dest" : "",
      pids(s.attached),
    ]),
  ]));
  out("\n------ System V semaphore sets ------");
  out(table([
    ["key", "semid", "owner", "perms", "nsems"],
    ...sets.map((s) => [hex(s.key), `${s.id}`, `${s.uid}`, s.mode.toString(8), `${s.count}`]),
  ]));
}

if (import.meta.main) Deno.exit(main(Deno.args));
