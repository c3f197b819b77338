/**
 * Shared test plumbing: unique names, child processes, C peers, and checks
 * that a test left nothing behind.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { join } from "@std/path";

/**
 * How long a test waits for another process: a bound that catches a hang, not
 * a speed check. Generous, so that a loaded or emulated (aarch64 under qemu)
 * machine, where starting a child Deno takes seconds, still passes.
 */
export const PEER_TIMEOUT_MS = 60_000;

/**
 * True when this Deno runs under qemu-user emulation (an aarch64 Deno on an
 * x86_64 host): /proc is the host's, so its CPU is not this architecture's.
 * Only for skipping what the emulator itself gets wrong, never for timing.
 */
export const emulated: boolean = (() => {
  if (Deno.build.arch !== "aarch64") return false;
  try {
    return /vendor_id\s*:\s*(GenuineIntel|AuthenticAMD)/.test(
      Deno.readTextFileSync("/proc/cpuinfo"),
    );
  } catch {
    return false;
  }
})();

let counter = 0;

/** A name unique to this process and call: `/t-<tag>-<pid>-<n>-<random>`. */
export function uniqueName(tag: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  return `/t-${tag}-${Deno.pid}-${++counter}-${rand}`;
}

/** Result of a finished child process. */
export interface ChildResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/**
 * Runs `deno run` on `script` (a path or an inline module written to a temp
 * file) with `--allow-ffi` plus `extraFlags`, and returns its output.
 */
export async function runDeno(
  script: string,
  args: string[] = [],
  options: { extraFlags?: string[]; stdin?: string; env?: Record<string, string> } = {},
): Promise<ChildResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-ffi", ...(options.extraFlags ?? []), script, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    signal: out.signal,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Writes `source` to a temporary module that imports the library by absolute URL. */
export async function tempModule(source: string): Promise<string> {
  const root = new URL("../", import.meta.url).href;
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(path, source.replaceAll("@lib/", root));
  return path;
}

/** Asserts that a child exited 0, showing its stderr when it did not. */
export function assertOk(r: ChildResult, what = "child"): void {
  assertEquals(
    r.code,
    0,
    `${what} exited ${r.code} (signal ${r.signal}):\n${r.stderr}\n${r.stdout}`,
  );
}

/**
 * The C compiler for the architecture this Deno runs on, or undefined when
 * there is none. `<arch>-linux-gnu-gcc` comes first: under emulation (an
 * aarch64 Deno on an x86_64 host) the host's `cc` would build programs, and
 * check layouts, for the wrong ABI. Debian names its native gcc that way too.
 */
export function findCC(): string | undefined {
  return findCompiler([`${Deno.build.arch}-linux-gnu-gcc`, "cc", "gcc", "clang"]);
}

/** The C++ compiler for the architecture this Deno runs on (see {@linkcode findCC}). */
export function findCXX(): string | undefined {
  return findCompiler([`${Deno.build.arch}-linux-gnu-g++`, "c++", "g++"]);
}

/** The first of `names` on PATH whose target (`-dumpmachine`) is this Deno's architecture. */
function findCompiler(names: string[]): string | undefined {
  for (const name of names) {
    for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
      const p = join(dir, name);
      try {
        if (!Deno.statSync(p).isFile) continue;
        const target = new Deno.Command(p, { args: ["-dumpmachine"], stdout: "piped" })
          .outputSync();
        if (new TextDecoder().decode(target.stdout).startsWith(Deno.build.arch)) return p;
      } catch { /* not here, or not runnable */ }
    }
  }
  return undefined;
}

/** True when a C compiler is available (tests that need one are skipped otherwise). */
export const hasCC: boolean = findCC() !== undefined;

/** Compiles C `source` into a temporary executable and returns its path. */
export async function compileC(source: string, extraArgs: string[] = []): Promise<string> {
  const cc = findCC();
  if (cc === undefined) throw new Error("no C compiler");
  const dir = await Deno.makeTempDir();
  const src = join(dir, "peer.c");
  const exe = join(dir, "peer");
  await Deno.writeTextFile(src, source);
  const out = await new Deno.Command(cc, {
    args: ["-O2", "-Wall", "-o", exe, src, "-pthread", ...extraArgs],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, `cc failed:\n${decoder.decode(out.stderr)}`);
  return exe;
}

/** Runs an executable and returns its output. */
export async function runExe(
  path: string,
  args: string[] = [],
  stdin?: string,
): Promise<ChildResult> {
  const child = new Deno.Command(path, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    signal: out.signal,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Lists `/dev/shm` entries whose names contain `fragment`. */
export function devShmEntries(fragment: string): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync("/dev/shm")) if (e.name.includes(fragment)) names.push(e.name);
  return names.sort();
}

/** Asserts that nothing this process created (names containing its pid) is left in /dev/shm. */
export function assertNoLeftovers(): void {
  assertEquals(devShmEntries(`-${Deno.pid}-`), [], "objects left behind in /dev/shm");
}

/**
 * `Deno.test` that, before it ends, waits for parked semaphore waits (see
 * `settled()`): a test that abandons a wait leaves a bounded
 * FFI call in flight for up to 50 ms, which the op sanitizer would report.
 */
export function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test(name, async () => {
    try {
      await fn();
    } finally {
      const { settled } = await import("../posix/settled.ts");
      await settled();
    }
  });
}
