// Processes the load and CPU benches start: C programs compiled in the run,
// busy loops that load the CPUs, child processes whose stdout is read line by
// line, and one SIGINT handler that kills them all and removes what the run
// created. Private to bench/ (not part of the library).

/** Every child still running, killed on SIGINT or by `killAll()`. */
const live = new Set<Deno.ChildProcess>();
/** Removals to run once, at exit or on SIGINT (unlinks, temp directories). */
const cleanups = new Map<string, () => void>();
let interruptInstalled = false;

/** Registers a child so that an interrupted run kills it. Returns it. */
export function track(child: Deno.ChildProcess): Deno.ChildProcess {
  live.add(child);
  child.status.finally(() => live.delete(child));
  return child;
}

/** SIGKILLs a child (if still running) and waits for it. */
export async function kill(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // already exited
  }
  await child.status;
}

/** SIGKILLs every tracked child. */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }
}

/** Runs `fn` at exit and on SIGINT, unless `forget(key)` ran first. */
export function atExit(key: string, fn: () => void): void {
  cleanups.set(key, fn);
}

/** Drops a cleanup registered with `atExit` (its object is already gone). */
export function forget(key: string): void {
  cleanups.delete(key);
}

function runCleanups(): void {
  for (const [key, fn] of cleanups) {
    cleanups.delete(key);
    try {
      fn();
    } catch {
      // best effort: the object may already be gone
    }
  }
}

/**
 * Kills every child and runs every cleanup on SIGINT (then exits 130) and at
 * normal exit. Call once at the top of the orchestrating process.
 */
export function cleanUpOnInterrupt(): void {
  if (interruptInstalled) return;
  interruptInstalled = true;
  Deno.addSignalListener("SIGINT", () => {
    killAll();
    runCleanups();
    console.error("\ninterrupted: children killed, objects removed");
    Deno.exit(130);
  });
  addEventListener("unload", () => {
    killAll();
    runCleanups();
  });
}

let buildDir: string | undefined;

/**
 * Compiles `bench/c/<name>.c` with `cc -O2` into a temporary directory (removed
 * at exit). Returns the executable's path, or undefined when there is no C
 * compiler or the build fails (the C column then reads n/a).
 */
export async function compileC(name: string, flags: string[] = []): Promise<string | undefined> {
  if (buildDir === undefined) {
    const dir = await Deno.makeTempDir({ prefix: "ipc-bench-" });
    buildDir = dir;
    atExit(`dir:${dir}`, () => Deno.removeSync(dir, { recursive: true }));
  }
  const exe = `${buildDir}/${name}`;
  const src = new URL(`./c/${name}.c`, import.meta.url).pathname;
  try {
    const built = await new Deno.Command("cc", {
      args: ["-O2", "-pthread", "-o", exe, src, ...flags],
      stderr: "piped",
    }).output();
    if (built.code !== 0) {
      console.error(`cc ${name}.c failed:\n${new TextDecoder().decode(built.stderr)}`);
      return undefined;
    }
    return exe;
  } catch {
    return undefined; // no cc
  }
}

/** A set of busy-loop processes, one CPU's worth of work each. */
export class Busy {
  #children: Deno.ChildProcess[];

  private constructor(children: Deno.ChildProcess[]) {
    this.#children = children;
  }

  /**
   * Starts `count` busy loops (`bench/c/busy.c`, compiled: `exe`), each of
   * which also exits by itself after `maxSeconds` or when this process dies.
   */
  static start(exe: string, count: number, maxSeconds = 300): Busy {
    const children: Deno.ChildProcess[] = [];
    for (let i = 0; i < count; i++) {
      children.push(
        track(
          new Deno.Command(exe, {
            args: [`${maxSeconds}`],
            stdin: "null",
            stdout: "null",
            stderr: "inherit",
          }).spawn(),
        ),
      );
    }
    return new Busy(children);
  }

  /** How many loops run. */
  get count(): number {
    return this.#children.length;
  }

  /** Kills every loop and waits for them to be gone. Idempotent. */
  async stop(): Promise<void> {
    const children = this.#children;
    this.#children = [];
    await Promise.all(children.map(kill));
  }
}

/** Reads a child's stdout one line at a time. */
export class Lines {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line without its newline; throws if the stream ends first. */
  async next(what: string): Promise<string> {
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl !== -1) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`child exited before printing ${what}`);
      this.#buffer += value;
    }
  }

  /** Reads (and drops) the rest, so that the child never blocks on a full pipe. */
  async drain(): Promise<void> {
    try {
      while (!(await this.#reader.read()).done) { /* drop */ }
    } catch {
      // the child was killed
    }
  }
}

/** Writes one line to a child's stdin. */
export async function writeLine(child: Deno.ChildProcess, line: string): Promise<void> {
  const writer = child.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(`${line}\n`));
  } finally {
    writer.releaseLock();
  }
}

/** Reads one line from this process's stdin (a child waiting for its "go"). */
export async function readStdinLine(): Promise<string> {
  const buf = new Uint8Array(256);
  let line = "";
  for (;;) {
    const n = await Deno.stdin.read(buf);
    if (n === null) return line;
    line += new TextDecoder().decode(buf.subarray(0, n));
    const nl = line.indexOf("\n");
    if (nl !== -1) return line.slice(0, nl);
  }
}

/** A promise that rejects after `ms` (for `Promise.race`), and its `cancel`. */
export function deadline(ms: number, what: string): { promise: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Bare libc for the benches' own rows (the floors: what Deno costs without
 * the library, and the Deno senders' pacing), opened once per process.
 */
export function benchLibc(): ReturnType<typeof openBenchLibc> {
  return benchLib ??= openBenchLibc();
}
let benchLib: ReturnType<typeof openBenchLibc> | undefined;
function openBenchLibc() {
  return Deno.dlopen("libc.so.6", {
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    clock_nanosleep: { parameters: ["i32", "i32", "buffer", "pointer"], result: "i32" },
    sysconf: { parameters: ["i32"], result: "i64" },
    sem_post: { parameters: ["pointer"], result: "i32" },
    sem_wait: { parameters: ["pointer"], result: "i32" },
    sem_wait_nb: { name: "sem_wait", parameters: ["pointer"], result: "i32", nonblocking: true },
  }).symbols;
}
