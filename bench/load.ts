// Round trips between two processes while busy processes load every CPU, each
// beside C blocking sem_wait/sem_post under the same load in the same run (#15):
//   deno run -A bench/load.ts [--busy 1,2] [--runs 3] [--rounds 500] [--rows a,b] [--quick] [--json FILE]
// --rows: only these rows (sem-wait, sem-waitSync, chan-async, chan-sync,
//   mutex-lock, mutex-lockSync); the C baseline always runs.
// --busy N[,N…]: busy loops per CPU (navigator.hardwareConcurrency CPUs); 0 is
//   the idle level. Default 1,2. The loops (bench/c/busy.c, compiled here, as
//   is bench/c/sem_pingpong.c) start before each measured row and are killed
//   after it (and on failure or Ctrl-C; they also exit by themselves if this
//   script dies).
// --runs R: measurements of every row per load level (default 3, 1 with
//   --quick); each run prints every row's median and p90 round trip and its
//   ratio to C in that same run, then a summary gives each row's worst and
//   best ratio over the runs: the target is ≤ 2× C in every run.
// --rounds N: timed round trips per row (default 500, 200 with --quick), after
//   a warm-up of 300 (100). --json FILE saves every figure.
// Rows: C sem_post + blocking sem_wait (the baseline, measured before every Deno
//   row and after the last; each row is compared with the median of the run's C
//   figures, since the round trip has modes here); posix.Semaphore post +
//   await wait() / waitSync(); Channel (64 B, one channel each way) await send +
//   await receive / sendSync + receiveSync; sync.Mutex hand-off (three mutexes
//   passed round, so each lock waits for one release of the peer) await lock() /
//   lockSync(). A round trip is timed one by one with clock_gettime through
//   FFI (monotonicMs: ~0.1 µs, where performance.now() costs 0.2–0.7 µs here).
// Each Deno row runs two fresh children of this script: a timing side that
//   posts/sends and waits for the answer, and an echo side. Both start before
//   the busy loops do and say "ready"; only then does the load start and the
//   timing side get its "go"; the script itself only waits on pipes, and kills
//   both if a row takes longer than a minute (a blocked sync wait cannot time out).
// Everything runs through the public API with default options, so the figures
// are those of whatever waiting strategy posix/, channel/ and sync/ hold now.
import { parseArgs } from "@std/cli/parse-args";
import { monotonicMs } from "../ffi/timespec.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { SEM_SIZE, Semaphore } from "../posix/semaphore.ts";
import { Channel } from "../channel/mod.ts";
import { Mutex, MUTEX_SIZE, type MutexGuard } from "../sync/mutex.ts";
import {
  atExit,
  benchLibc,
  Busy,
  cleanUpOnInterrupt,
  compileC,
  deadline,
  forget,
  kill,
  Lines,
  readStdinLine,
  sleep,
  track,
  writeLine,
} from "./_busy.ts";
import { num, printTable, ratio, type Stats, stats } from "./_table.ts";

const values = parseArgs(Deno.args, {
  boolean: ["quick"],
  string: ["_", "busy", "runs", "rounds", "json", "rows"],
  default: { busy: "1,2" },
});
const positionals = values._.map(String);
const self = new URL(import.meta.url).pathname;

/** The Deno rows: how each side of a round trip waits. */
const ROWS = {
  "sem-raw": "Deno, bare FFI sem_post + sem_wait (the floor: no library)",
  "sem-wait": "posix.Semaphore: post + await wait()",
  "sem-waitSync": "posix.Semaphore: post + waitSync()",
  "chan-async": "Channel 64 B: await send + await receive",
  "chan-sync": "Channel 64 B: sendSync + receiveSync",
  "mutex-lock": "sync.Mutex hand-off: release + await lock()",
  "mutex-lockSync": "sync.Mutex hand-off: release + lockSync()",
} as const;
type Row = keyof typeof ROWS;
const kindOf = (row: Row) => row.slice(0, row.indexOf("-")) as "sem" | "chan" | "mutex";
const C_LABEL = "C: sem_post + blocking sem_wait";
const MESSAGE_SIZE = 64;

// ---------------------------------------------------------------- children
// `child echo <row> <name> <count>`: answers <count> round trips.
// `child time <row> <name> <warm> <rounds>`: after "go" on stdin, runs <warm>
// round trips, then times <rounds> one by one and prints their Stats as JSON.
if (positionals[0] === "child") {
  const [, role, row, name, a, b] = positionals as [string, string, Row, string, string, string];
  const kind = kindOf(row);
  const sync = row.endsWith("Sync") || row === "chan-sync";
  using shm = kind === "chan" ? undefined : SharedMemory.open(name);
  using ping = kind === "sem" ? Semaphore.attach(shm!, 0) : undefined;
  using pong = kind === "sem" ? Semaphore.attach(shm!, SEM_SIZE) : undefined;
  using there = kind === "chan" ? Channel.open(`${name}-a`) : undefined;
  using back = kind === "chan" ? Channel.open(`${name}-b`) : undefined;
  const msg = new Uint8Array(MESSAGE_SIZE).fill(1);
  // Mutex hand-off over three mutexes: in round k the timing side releases
  // k%3, on which the echo side waits, and the echo side releases (k+2)%3, on
  // which the timing side waits (the timing side starts holding 0 and 1, the
  // echo side 2, so every lock() waits for exactly one release of the peer).
  const mutexes = kind === "mutex" ? [0, 1, 2].map((i) => Mutex.attach(shm!, i * MUTEX_SIZE)) : [];
  const guards: (MutexGuard | undefined)[] = [];
  const take = async (i: number) => {
    guards[i] = sync ? mutexes[i]!.lockSync() : await mutexes[i]!.lock();
  };
  if (kind === "mutex") {
    for (const i of role === "echo" ? [2] : [0, 1]) await take(i);
  }
  let round = 0;
  // One round trip seen from either side: `out` is what this side posts or
  // sends, `into` what it waits on.
  const trip = async (timing: boolean): Promise<void> => {
    if (kind === "mutex") {
      const [mine, theirs] = [round % 3, (round + 2) % 3];
      round++;
      if (timing) {
        guards[mine]!.release();
        await take(theirs);
      } else {
        await take(mine);
        guards[theirs]!.release();
      }
    } else if (row === "sem-raw") {
      const [out, into] = timing ? [ping!, pong!] : [pong!, ping!];
      const base = shm!.unsafePointer!;
      const at = (s: Semaphore) => s === ping ? base : Deno.UnsafePointer.offset(base, SEM_SIZE);
      if (timing) benchLibc().sem_post(at(out));
      while (benchLibc().sem_wait(at(into)) !== 0) { /* EINTR */ }
      if (!timing) benchLibc().sem_post(at(out));
    } else if (kind === "sem") {
      const [out, into] = timing ? [ping!, pong!] : [pong!, ping!];
      if (timing) out.post();
      if (sync) into.waitSync();
      else await into.wait();
      if (!timing) out.post();
    } else {
      const [out, into] = timing ? [there!, back!] : [back!, there!];
      if (timing) {
        if (sync) {
          out.sendSync(msg);
          into.receiveSync();
        } else {
          await out.send(msg);
          await into.receive();
        }
      } else if (sync) {
        out.sendSync(into.receiveSync());
      } else {
        await out.send(await into.receive());
      }
    }
  };
  console.log("ready");
  if (role === "echo") {
    for (let i = 0, n = Number(a); i < n; i++) await trip(false);
  } else {
    if ((await readStdinLine()) !== "go") Deno.exit(1); // the script went away
    for (let i = 0, n = Number(a); i < n; i++) await trip(true);
    const samples = new Float64Array(Number(b));
    for (let i = 0; i < samples.length; i++) {
      const t0 = monotonicMs();
      await trip(true);
      samples[i] = (monotonicMs() - t0) * 1000;
    }
    console.log(JSON.stringify(stats(samples)));
  }
  Deno.exit(0);
}

// ---------------------------------------------------------------- the script
const CPUS = navigator.hardwareConcurrency;
const LEVELS = values.busy.split(",").map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 16 || s.trim() === "") {
    throw new RangeError(`--busy takes busy processes per CPU, 0 to 16 (got "${s}")`);
  }
  return n;
});
const RUNS = Number(values.runs ?? (values.quick ? 1 : 3));
const ROUNDS = Number(values.rounds ?? (values.quick ? 200 : 500));
const WARM = values.quick ? 100 : 300;
if (!(Number.isInteger(RUNS) && RUNS > 0 && Number.isInteger(ROUNDS) && ROUNDS > 0)) {
  throw new RangeError("--runs and --rounds take positive integers");
}
/** Time the load runs before the timing side starts: the scheduler spreads it. */
const SETTLE_MS = 100;
/** A row that takes longer is killed and reported as failed. */
const ROW_TIMEOUT_MS = 60_000;

cleanUpOnInterrupt();
const [busyExe, pingPongExe] = [await compileC("busy"), await compileC("sem_pingpong")];
if (busyExe === undefined && LEVELS.some((n) => n > 0)) {
  throw new Error("bench/load.ts needs cc to build its busy loops (bench/c/busy.c)");
}

let seq = 0;

/** Starts `perCpu` busy loops per CPU (none for 0) and lets them spread. */
async function load(perCpu: number): Promise<Busy | undefined> {
  if (perCpu === 0) return undefined;
  const busy = Busy.start(busyExe!, perCpu * CPUS, 120);
  await sleep(SETTLE_MS);
  return busy;
}

/** The C baseline under `perCpu` loops: bench/c/sem_pingpong.c in its stats mode. */
async function measureC(perCpu: number): Promise<Stats | undefined> {
  if (pingPongExe === undefined) return undefined;
  const busy = await load(perCpu);
  try {
    const out = await new Deno.Command(pingPongExe, {
      args: [`${ROUNDS}`, "0", "stats", `${WARM}`],
      signal: AbortSignal.timeout(ROW_TIMEOUT_MS),
      stderr: "inherit",
    }).output();
    if (out.code !== 0) throw new Error(`sem_pingpong exited with ${out.code}`);
    const [median, p90, mean] = new TextDecoder().decode(out.stdout).trim().split(" ").map(Number);
    return { median: median!, p90: p90!, mean: mean! };
  } finally {
    await busy?.stop();
  }
}

function spawnSelf(args: string[], stdin: "piped" | "null"): Deno.ChildProcess {
  return track(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", self, "child", ...args],
      stdin,
      stdout: "piped",
      stderr: "inherit",
    }).spawn(),
  );
}

/** One Deno row under `perCpu` loops, in two fresh children. */
async function measureDeno(row: Row, perCpu: number): Promise<Stats> {
  const name = `/bench-load-${Deno.pid}-${seq++}`;
  const kind = kindOf(row);
  const unlink = () => {
    if (kind !== "chan") {
      SharedMemory.unlink(name);
    } else {
      Channel.unlink(`${name}-a`);
      Channel.unlink(`${name}-b`);
    }
  };
  if (kind === "sem") {
    using shm = SharedMemory.create(name, { size: 2 * SEM_SIZE });
    atExit(name, unlink);
    Semaphore.init(shm, 0).close();
    Semaphore.init(shm, SEM_SIZE).close();
  } else if (kind === "mutex") {
    using shm = SharedMemory.create(name, { size: 3 * MUTEX_SIZE });
    atExit(name, unlink);
    for (let i = 0; i < 3; i++) Mutex.init(shm, i * MUTEX_SIZE).close();
  } else {
    atExit(name, unlink);
    const options = { capacity: 16, maxMessageSize: MESSAGE_SIZE };
    Channel.create(`${name}-a`, options).close();
    Channel.create(`${name}-b`, options).close();
  }
  const children: Deno.ChildProcess[] = [];
  const limit = deadline(ROW_TIMEOUT_MS, ROWS[row]);
  let busy: Busy | undefined;
  try {
    // The timing side first: it must hold its starting locks (Mutex rows)
    // before the echo side begins.
    const timing = spawnSelf(["time", row, name, `${WARM}`, `${ROUNDS}`], "piped");
    children.push(timing);
    const timingOut = new Lines(timing.stdout);
    await Promise.race([timingOut.next("ready"), limit.promise]);
    const echo = spawnSelf(["echo", row, name, `${WARM + ROUNDS}`], "null");
    children.push(echo);
    const echoOut = new Lines(echo.stdout);
    await Promise.race([echoOut.next("ready"), limit.promise]);
    busy = await load(perCpu);
    await writeLine(timing, "go");
    const result = await Promise.race([timingOut.next("its result"), limit.promise]);
    await timing.stdin.close();
    echoOut.drain();
    timingOut.drain();
    return JSON.parse(result) as Stats;
  } finally {
    limit.cancel();
    await busy?.stop();
    // Both children end by themselves after a full run; a failed one is killed.
    const ended = await Promise.race([
      Promise.all(children.map((c) => c.status)).then(() => true),
      sleep(5000).then(() => false),
    ]);
    if (!ended) await Promise.all(children.map(kill));
    forget(name);
    unlink();
  }
}

interface RunResult {
  c: Stats | undefined;
  /** Every C median of the run, in order (the C row shows their median). */
  cAll?: number[];
  rows: Partial<Record<Row, Stats>>;
  errors: Partial<Record<Row | "c", string>>;
}

/** The run's C baseline: the median of its C medians, and of their p90s and means. */
function medianStats(all: Stats[]): Stats | undefined {
  if (all.length === 0) return undefined;
  const mid = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return {
    median: mid(all.map((s) => s.median)),
    p90: mid(all.map((s) => s.p90)),
    mean: mid(all.map((s) => s.mean)),
  };
}

const rowKeys = (values.rows?.split(",") ?? Object.keys(ROWS)) as Row[];
for (const row of rowKeys) {
  if (!(row in ROWS)) {
    throw new RangeError(`--rows takes some of ${Object.keys(ROWS).join(",")} (got "${row}")`);
  }
}
const results: { busyPerCpu: number; runs: RunResult[] }[] = [];
const started = performance.now();
console.log(
  `\nRound trip between two processes under CPU load (${CPUS} CPUs, ${ROUNDS} timed round trips a row after ${WARM} warm-up, ${RUNS} run${
    RUNS > 1 ? "s" : ""
  } a level; load average ${Deno.loadavg().map((v) => v.toFixed(2)).join(" ")})`,
);
for (const perCpu of LEVELS) {
  const runs: RunResult[] = [];
  results.push({ busyPerCpu: perCpu, runs });
  const levelName = perCpu === 0
    ? "idle (no busy processes)"
    : `${perCpu} busy process${perCpu > 1 ? "es" : ""} per CPU (${perCpu * CPUS} in all)`;
  for (let run = 0; run < RUNS; run++) {
    const result: RunResult = { c: undefined, rows: {}, errors: {} };
    // Rotate the order run by run, so that no row always meets the same drift.
    const order: Row[] = [...rowKeys];
    for (let k = 0; k < run % order.length; k++) order.push(order.shift()!);
    // C runs before every Deno row and once after the last: the round trip
    // has modes here (both peers on one CPU, or a cross-CPU wake-up: 7.5 or
    // 23 µs for C), so one C figure a run would make the ratios a coin toss.
    // Each row is compared with the median of the run's C figures.
    const cs: Stats[] = [];
    const baseline = async () => {
      try {
        const s = await measureC(perCpu);
        if (s !== undefined) cs.push(s);
      } catch (e) {
        result.errors.c = e instanceof Error ? e.message : String(e);
      }
    };
    for (const key of order) {
      await baseline();
      try {
        result.rows[key] = await measureDeno(key, perCpu);
      } catch (e) {
        result.errors[key] = e instanceof Error ? e.message : String(e);
      }
    }
    await baseline();
    result.c = medianStats(cs);
    result.cAll = cs.map((s) => s.median);
    runs.push(result);
    console.log(`\n${levelName}, run ${run + 1} of ${RUNS}\n`);
    const c = result.c;
    printTable(["round trip", "median µs", "p90 µs", "median ÷ C", "p90 ÷ C p90"], [
      [
        `${C_LABEL} (median of ${result.cAll?.length ?? 0}: ${
          result.cAll?.map((v) => v.toFixed(1)).join(", ") ?? ""
        } µs)`,
        num(c?.median),
        num(c?.p90),
        c ? "1.00×" : "n/a",
        c ? "1.00×" : "n/a",
      ],
      ...rowKeys.map((row) => {
        const s = result.rows[row];
        const error = result.errors[row];
        if (s === undefined) return [ROWS[row], `failed: ${error ?? "?"}`, "", "", ""];
        return [
          ROWS[row],
          num(s.median),
          num(s.p90),
          ratio(s.median, c?.median),
          ratio(s.p90, c?.p90),
        ];
      }),
    ]);
    if (result.errors.c !== undefined) console.log(`C failed: ${result.errors.c}`);
  }
  console.log(`\nSummary, ${levelName}: median round trip ÷ C median of the same run\n`);
  printTable(["round trip", "worst", "best", "every run ≤ 2× C", "worst p90 ÷ C p90"], [
    ...rowKeys.map((row) => {
      const ratios = runs.map((r) => ratioOf(r.rows[row]?.median, r.c?.median));
      const p90s = runs.map((r) => ratioOf(r.rows[row]?.p90, r.c?.p90));
      const known = ratios.filter((v) => v !== undefined);
      const worst = known.length === ratios.length ? Math.max(...known) : undefined;
      return [
        ROWS[row],
        worst === undefined ? "n/a" : `${worst.toFixed(2)}×`,
        known.length ? `${Math.min(...known).toFixed(2)}×` : "n/a",
        worst === undefined ? "n/a" : worst <= 2 ? "yes" : "no",
        p90s.every((v) => v !== undefined) ? `${Math.max(...p90s).toFixed(2)}×` : "n/a",
      ];
    }),
  ]);
}
console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);

function ratioOf(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || !(b > 0) ? undefined : a / b;
}

if (values.json !== undefined) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify(
      {
        bench: "load",
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        arch: Deno.build.arch,
        cpus: CPUS,
        rounds: ROUNDS,
        warmup: WARM,
        // Other processes share these CPUs: the figures mean little without it.
        loadAverage: Deno.loadavg(),
        unit: "µs",
        labels: { c: C_LABEL, ...ROWS },
        levels: results,
      },
      null,
      2,
    ) + "\n",
  );
}
