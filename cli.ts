/**
 * `ipc-shm`: list, inspect, watch and remove POSIX and System V IPC objects,
 * with the processes using each — `ipcs` and `ipcrm` plus pids, and the
 * library's own Channels and locks recognised and decoded.
 *
 *     deno install -g --allow-ffi -n ipc-shm jsr:@ipc/shm/cli
 *     ipc-shm ls [--shm|--sem|--queues] [--user u] [--pid p] ['/glob*'] [--json]
 *     ipc-shm stat <target> [--json]
 *     ipc-shm rm <target>... | rm --stale [--dry-run]
 *     ipc-shm watch [--interval s]
 *
 * A target is a POSIX name (`/jobs`), a glob (`'/jobs*'`), a System V id
 * (`32768`) or key (`0x7a2f`). The JSON schema is in docs/cli.md.
 * Exit codes: 0 done, 1 failed (not found, permission denied…), 2 usage error
 * or ambiguous target.
 *
 * @example Run it in-process
 * ```ts
 * import { main } from "@ipc/shm/cli";
 * import { assertEquals, assertMatch } from "@std/assert";
 * let text = "";
 * assertEquals(main(["--help"], (s) => (text += s)), 0);
 * assertMatch(text, /Usage:/);
 * assertEquals(main(["frobnicate"], () => {}, () => {}), 2);
 * ```
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { type IpcObject, listAll, type Listing } from "./cli/_objects.ts";
import { filterOf, type Filters, isGlob, matcher, UsageError } from "./cli/_select.ts";
import { human, label, pidList, summary, table } from "./cli/_table.ts";
import { describe } from "./cli/_describe.ts";
import { isStale, remove } from "./cli/_remove.ts";
import { HELP } from "./cli/_help.ts";
import { watch } from "./cli/_watch.ts";

const COMMANDS = ["ls", "stat", "rm", "watch", "help"];

/**
 * Runs `ls`, `stat`, `rm` or `help` with `args` and returns the exit code.
 * Output goes to `out`/`err`, one call per line or block. `watch` runs until
 * `q`, so it needs {@linkcode mainAsync}.
 *
 * @param args the command line after the program name
 * @param out where results go (default `console.log`)
 * @param err where errors go (default `console.error`)
 * @returns 0 done, 1 failed, 2 usage error or ambiguous target
 *
 * @example List this process's objects as JSON
 * ```ts
 * import { main } from "@ipc/shm/cli";
 * import { SharedMemory } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const name = `/doc-cli-${Deno.pid}`;
 * using shm = SharedMemory.create(name, { size: 4096 });
 * let json = "";
 * assertEquals(main(["ls", name, "--json"], (s) => (json += s)), 0);
 * assertEquals(JSON.parse(json).objects[0].kind, "shared-memory");
 * shm.unlink();
 * ```
 */
export function main(
  args: string[],
  out: (s: string) => void = console.log,
  err: (s: string) => void = console.error,
): number {
  return guarded(err, () => {
    const cmd = parse(args);
    if (cmd.command === "watch" && !cmd.help) {
      throw new UsageError("watch runs until q: call mainAsync(), or run ipc-shm watch");
    }
    return run(cmd, out, err);
  });
}

/**
 * {@linkcode main} for every command, `watch` included; resolves to the exit
 * code. This is what the `ipc-shm` program runs.
 *
 * @param args the command line after the program name
 * @param out where results go (default `console.log`)
 * @param err where errors go (default `console.error`)
 * @returns 0 done, 1 failed, 2 usage error or ambiguous target
 *
 * @example Watch for two refreshes
 * ```ts
 * import { mainAsync } from "@ipc/shm/cli";
 * import { assertEquals } from "@std/assert";
 * const printed: string[] = [];
 * const args = ["watch", "/doc-none-*", "--count", "2", "--interval", "0.05"];
 * assertEquals(await mainAsync(args, (s) => printed.push(s)), 0);
 * ```
 */
export async function mainAsync(
  args: string[],
  out: (s: string) => void = console.log,
  err: (s: string) => void = console.error,
): Promise<number> {
  let cmd: Parsed;
  try {
    cmd = parse(args);
  } catch (e) {
    return guarded(err, () => {
      throw e;
    });
  }
  if (cmd.command !== "watch" || cmd.help) return main(args, out, err);
  try {
    const { values, targets } = cmd;
    if (targets.length > 1) throw new UsageError("watch takes at most one name or glob");
    const filter = filterOf(cmd.filters);
    const match = targets[0] === undefined ? () => true : matcher(targets[0]);
    return await watch(() => listAll(), (o) => filter(o) && match(o), {
      interval: seconds(values.interval ?? "1", "--interval"),
      count: values.count === undefined ? Infinity : positiveInt(values.count, "--count"),
      out,
    });
  } catch (e) {
    return guarded(err, () => {
      throw e;
    });
  }
}

function guarded(err: (s: string) => void, fn: () => number): number {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UsageError) {
      err(`ipc-shm: ${(e as Error).message}\nTry: ipc-shm --help`);
      return 2;
    }
    err(`ipc-shm: ${(e as Error).message}`);
    return 1;
  }
}

type Parsed = ReturnType<typeof parse>;

function parse(args: string[]) {
  const values = parseArgs(args, {
    boolean: ["json", "shm", "sem", "queues", "help", "stale", "dry-run"],
    // Positionals stay strings: "0x7a2f" is a key to match, not the number 31279.
    string: ["_", "kind", "user", "pid", "interval", "count"],
    alias: { h: "help" },
    unknown: (arg) => {
      if (arg.startsWith("-")) throw new UsageError(`unknown option "${arg}"`);
      return true;
    },
  });
  const [command, ...targets] = values._.map(String);
  const filters: Filters = {
    shm: values.shm,
    sem: values.sem,
    queues: values.queues,
    kind: values.kind,
    user: values.user,
    pid: values.pid,
  };
  if (!values.help && command !== "help") {
    const only = (flag: string, allowed: string) => {
      const v = (values as Record<string, unknown>)[flag];
      if (v !== undefined && v !== false && command !== allowed) {
        throw new UsageError(`--${flag} is an option of ${allowed} only`);
      }
    };
    only("stale", "rm");
    only("dry-run", "rm");
    for (const flag of ["interval", "count"]) only(flag, "watch");
  }
  return { command, targets, values, filters, help: values.help };
}

function run(
  { command, targets, values, filters, help }: Parsed,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  if (command === "help") {
    out(HELP[targets[0] ?? ""] ?? HELP[""]!);
    return 0;
  }
  if (help) {
    out(HELP[command !== undefined && COMMANDS.includes(command) ? command : ""]!);
    return 0;
  }
  switch (command) {
    case "ls": {
      if (targets.length > 1) throw new UsageError("ls takes at most one name or glob");
      ls(select(filters, targets[0]), values.json, out);
      return 0;
    }
    case "stat": {
      if (targets.length !== 1) throw new UsageError("stat takes one target: /name, id or 0xkey");
      const found = resolve(targets[0]!, filters, false);
      out(values.json ? JSON.stringify(found[0], null, 2) : describe(found[0]!));
      return 0;
    }
    case "rm":
      return rm(targets, filters, values.stale, values["dry-run"], out, err);
    case undefined:
      throw new UsageError("a command is needed: ls, stat, rm or watch");
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function seconds(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0.05 || n > 3600) {
    throw new UsageError(`${flag} takes seconds from 0.05 to 3600, got "${s}"`);
  }
  return n;
}

function positiveInt(s: string, flag: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1) {
    throw new UsageError(`${flag} takes a positive integer, got "${s}"`);
  }
  return Number(s);
}

/** The listing narrowed by the filters and an optional name/glob/id/key. */
function select(filters: Filters, target: string | undefined): Listing {
  const filter = filterOf(filters);
  const match = target === undefined ? () => true : matcher(target);
  const listing = listAll();
  return { ...listing, objects: listing.objects.filter((o) => filter(o) && match(o)) };
}

/** The objects `target` names; one for a plain target (else NotFound or ambiguous). */
function resolve(target: string, filters: Filters, globOk: boolean): IpcObject[] {
  const match = matcher(target);
  const filter = filterOf(filters);
  const found = listAll().objects.filter((o) => match(o) && filter(o));
  const narrowed = [filters.shm && "--shm", filters.sem && "--sem", filters.queues && "--queues"]
    .filter(Boolean).join(" ");
  if (found.length === 0) {
    throw new Deno.errors.NotFound(
      `nothing matches ${target}${narrowed ? ` (with ${narrowed})` : ""}; ` +
        "`ipc-shm ls` lists what exists",
    );
  }
  if (found.length > 1 && !(globOk && isGlob(target))) {
    throw new UsageError(
      `${target} is ambiguous: ${found.map((o) => `${o.kind} ${label(o)}`).join(" and ")}; ` +
        "add --shm, --sem, --queues or --kind",
    );
  }
  return found;
}

function rm(
  targets: string[],
  filters: Filters,
  stale: boolean,
  dryRun: boolean,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  let chosen: IpcObject[];
  let failed = false;
  if (stale) {
    if (targets.length > 1) throw new UsageError("rm --stale takes at most one name or glob");
    chosen = select(filters, targets[0]).objects.filter(isStale);
    if (chosen.length === 0) out("nothing is stale");
  } else {
    if (targets.length === 0) {
      throw new UsageError("rm needs a target: /name, '/glob*', id or 0xkey");
    }
    // Every target is resolved before anything goes: one ambiguous target removes nothing.
    chosen = [];
    for (const t of targets) {
      try {
        chosen.push(...resolve(t, filters, true));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        err(`ipc-shm: ${e.message}`);
        failed = true;
      }
    }
  }
  const seen = new Set<string>();
  for (const o of chosen) {
    const id = `${o.kind} ${label(o)}`;
    if (seen.has(id)) continue; // two targets naming one object
    seen.add(id);
    if (dryRun) {
      out(`would ${o.id === null ? "unlink" : "remove"} ${label(o)} (${o.kind})`);
      continue;
    }
    try {
      out(remove(o));
    } catch (e) {
      err(`ipc-shm: ${(e as Error).message}`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

function ls(listing: Listing, json: boolean, out: (s: string) => void): void {
  if (json) {
    out(JSON.stringify(listing, null, 2));
    return;
  }
  const rows = listing.objects.map((o) => [
    o.kind,
    o.name ?? `${o.id}`,
    o.key ?? "-",
    o.user ?? `${o.uid}`,
    o.mode.slice(1),
    human(o.size),
    pidList(o.pids),
    summary(o),
  ]);
  out(table([["kind", "name/id", "key", "owner", "perms", "size", "pids", "state"], ...rows]));
  if (!listing.posixMessageQueues.mounted) out(`\nnote: ${listing.posixMessageQueues.hint}`);
}

if (import.meta.main) Deno.exit(await mainAsync(Deno.args));
