// CPU time a receiver process spends to take messages that arrive at a low,
// steady rate (#15), beside a C receiver blocking in sem_wait in the same run:
//   deno run -A bench/cpu.ts [--rate 1000] [--seconds 5] [--runs 1] [--rows a,b] [--quick] [--json FILE]
// --rows: only these receivers (sem-raw, sem-rawAsync, sem-worker, sock-read, sem-wait,
//   sem-waitSync, chan-receive, chan-for-await, chan-receiveSync); the C one always runs.
// sem-worker and sock-read are floors, not the library: a Worker thread blocking
// in sem_wait that wakes the main thread through Atomics.waitAsync (a sketch of
// an async wait without Deno's blocking-call pool), and Deno's own async I/O (a
// Unix socket read, fed one byte a message by a Deno sender).
// A sender posts or sends --rate messages a second (default 1,000: one every
// 1 ms) for --seconds (default 5; 2 with --quick), paced by clock_nanosleep on
// absolute CLOCK_MONOTONIC deadlines (it sleeps between messages, so it does
// not load the machine). The C sender (bench/c/feed.c, compiled here) feeds the
// C receiver and the posix.Semaphore receivers; a Deno sender (sendSync, the
// same pacing through FFI) feeds the Channel receivers with 64-byte messages.
// Measured: the receiver process's CPU time, user + system, between the start
// and the end of the feed only (the receiver says "ready" once it waits; the
// script reads its counters, lets the sender go, and reads them again when the
// sender says it is done, before the receiver is told to stop). Two sources:
// the sum over /proc/PID/task/*/schedstat (ns on CPU, every thread: Deno runs
// several; a thread that exits inside the window would be lost, so the table
// counts them) and utime+stime of /proc/PID/stat (whole process, in clock
// ticks of sysconf(_SC_CLK_TCK), coarse). The main thread's share is shown too.
// --runs R repeats every row (the C one first) and adds a worst/best summary.
// --json FILE saves every figure. Receivers run with default options: whatever
// waiting strategy the library holds now is what is measured. Target: ≤ 2× the
// C receiver (reported only).
import { parseArgs } from "@std/cli/parse-args";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Semaphore } from "../posix/semaphore.ts";
import { Channel } from "../channel/mod.ts";
import {
  atExit,
  benchLibc,
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
import { num, printTable, ratio } from "./_table.ts";

const values = parseArgs(Deno.args, {
  boolean: ["quick"],
  string: ["_", "rate", "seconds", "runs", "json", "rows"],
  default: { rate: "1000", runs: "1" },
});
const positionals = values._.map(String);
const self = new URL(import.meta.url).pathname;
const MESSAGE_SIZE = 64;
/** Byte offset of the stop word (0, then every unit posted) in a semaphore row's shared memory (feed.c agrees). */
const STOP_OFFSET = 64;
const SHM_SIZE = 128;

const ROWS = {
  "c": "C: blocking sem_wait",
  "sem-raw": "Deno, bare FFI sem_wait (the sync floor: no library)",
  "sem-rawAsync": "Deno, bare nonblocking FFI sem_wait (the async floor)",
  "sem-wait": "posix.Semaphore: await wait()",
  "sem-waitSync": "posix.Semaphore: waitSync()",
  "chan-receive": "Channel: await receive()",
  "chan-for-await": "Channel: for await (…of channel)",
  "chan-receiveSync": "Channel: receiveSync()",
  "sem-worker":
    "Deno, a Worker blocking in FFI sem_wait + Atomics.waitAsync (a sketch, not the library)",
  "sock-read": "Deno, await conn.read() on a Unix socket (Deno's own async I/O)",
} as const;
type Row = keyof typeof ROWS;

const CLOCK_MONOTONIC = 1;
const TIMER_ABSTIME = 1;
const SC_CLK_TCK = 2;

// ---------------------------------------------------------------- children
// The receivers' loops. The stop word, once set, is every unit posted: the
// messages and the stop post (a receiver that lags must still take them all).
function takeAllSync(take: () => void, stop: Int32Array): number {
  for (let taken = 1;; taken++) {
    take();
    const total = Atomics.load(stop, 0);
    if (total !== 0 && taken >= total) return taken;
  }
}

async function takeAll(take: () => Promise<unknown>, stop: Int32Array): Promise<number> {
  for (let taken = 1;; taken++) {
    await take();
    const total = Atomics.load(stop, 0);
    if (total !== 0 && taken >= total) return taken;
  }
}

function receiveAllSync(ch: Channel): number {
  let n = 0;
  try {
    for (;; n++) ch.receiveSync();
  } catch (e) {
    if (e instanceof Deno.errors.UnexpectedEof) return n;
    throw e;
  }
}

async function receiveAll(ch: Channel): Promise<number> {
  let n = 0;
  try {
    for (;; n++) await ch.receive();
  } catch (e) {
    if (e instanceof Deno.errors.UnexpectedEof) return n;
    throw e;
  }
}

async function forAwaitAll(ch: Channel): Promise<number> {
  let n = 0;
  for await (const _ of ch) n++;
  return n;
}

// `child sem-recv <wait|waitSync> <name>`, `child chan-recv <how> <name>`:
// print "ready", take messages until stopped, print the count.
// `child chan-send <name> <rate> <seconds>`: as feed.c's sender, over a Channel.
if (positionals[0] === "child") {
  const [, role, a, b, c] = positionals as [string, string, string, string, string];
  if (role === "sem-recv") {
    using shm = SharedMemory.open(b);
    using sem = Semaphore.attach(shm, 0);
    const stop = shm.view(Int32Array, STOP_OFFSET, 1);
    const raw = shm.unsafePointer!;
    // "worker": a thread blocks in sem_wait and counts each unit in `cell`;
    // this thread awaits the count with Atomics.waitAsync.
    const cell = new Int32Array(new SharedArrayBuffer(4));
    let seen = 0;
    const workerTake = async () => {
      while (Atomics.load(cell, 0) === seen) {
        const r = Atomics.waitAsync(cell, 0, seen);
        if (r.async) await r.value;
      }
      seen++;
    };
    if (a === "worker") {
      new Worker(new URL("./_sem_worker.ts", import.meta.url), { type: "module" })
        .postMessage({ cell, address: String(Deno.UnsafePointer.value(raw)) });
    }
    console.log("ready");
    const lib = benchLibc();
    // Each loop runs inside a function: V8 runs a loop at module top level
    // slower (bench/channel.ts measured ~25%), which would charge the bench
    // to every row.
    const count = a === "waitSync"
      ? takeAllSync(() => sem.waitSync(), stop)
      : a === "raw"
      ? takeAllSync(() => {
        while (lib.sem_wait(raw) !== 0) { /* EINTR */ }
      }, stop)
      : await takeAll(
        a === "rawAsync"
          ? async () => {
            while ((await lib.sem_wait_nb(raw)) !== 0) { /* EINTR */ }
          }
          : a === "worker"
          ? workerTake
          : () => sem.wait(),
        stop,
      );
    console.log(count - 1);
  } else if (role === "chan-recv") {
    using ch = Channel.open(b);
    console.log("ready");
    const n = a === "for-await"
      ? await forAwaitAll(ch)
      : a === "receiveSync"
      ? receiveAllSync(ch)
      : await receiveAll(ch);
    console.log(n);
  } else if (role === "sock-recv") {
    using listener = Deno.listen({ transport: "unix", path: a });
    console.log("ready");
    using conn = await listener.accept();
    const buf = new Uint8Array(MESSAGE_SIZE);
    let n = 0;
    for (let got; (got = await conn.read(buf)) !== null;) n += got;
    console.log(n);
  } else if (role === "chan-send") {
    using ch = Channel.open(a);
    const msg = new Uint8Array(MESSAGE_SIZE).fill(1);
    console.log("ready");
    await paced(Number(b), Number(c), () => ch.sendSync(msg));
    ch.end();
  } else if (role === "sock-send") {
    // One byte a message: the receiver counts bytes, and at 1 ms apart no two coalesce.
    const conn = await Deno.connect({ transport: "unix", path: a });
    const byte = new Uint8Array([1]);
    console.log("ready");
    await paced(Number(b), Number(c), () => conn.write(byte));
    conn.close();
  }
  Deno.exit(0);
}

/**
 * A Deno sender's feed, paced as feed.c's: waits for "go", sends `rate`
 * messages a second for `seconds` on absolute CLOCK_MONOTONIC deadlines,
 * prints "fed N ELAPSED_S", then waits for the line that stops it.
 */
async function paced(rate: number, seconds: number, send: () => unknown): Promise<void> {
  const count = Math.floor(rate * seconds);
  const period = Math.round(1e9 / rate);
  const { clock_gettime, clock_nanosleep } = benchLibc();
  const ts = new BigInt64Array(2);
  const tsBytes = new Uint8Array(ts.buffer);
  if ((await readStdinLine()) !== "go") Deno.exit(1);
  clock_gettime(CLOCK_MONOTONIC, tsBytes);
  const start = Number(ts[0]) * 1e9 + Number(ts[1]);
  for (let i = 1; i <= count; i++) {
    const next = start + i * period;
    ts[0] = BigInt(Math.floor(next / 1e9));
    ts[1] = BigInt(next % 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, tsBytes, null) !== 0) { /* EINTR */ }
    await send();
  }
  clock_gettime(CLOCK_MONOTONIC, tsBytes);
  const elapsed = (Number(ts[0]) * 1e9 + Number(ts[1]) - start) / 1e9;
  console.log(`fed ${count} ${elapsed.toFixed(3)}`);
  await readStdinLine();
}

// ---------------------------------------------------------------- CPU counters
interface CpuSample {
  /** ns on CPU per thread id, from /proc/PID/task/TID/schedstat. */
  tasks: Map<number, number>;
  /** utime + stime of the whole process, in clock ticks. */
  ticks: number;
}

async function sampleCpu(pid: number): Promise<CpuSample> {
  const tasks = new Map<number, number>();
  for await (const entry of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      const text = await Deno.readTextFile(`/proc/${pid}/task/${entry.name}/schedstat`);
      tasks.set(Number(entry.name), Number(text.split(" ")[0]));
    } catch {
      // the thread exited between the listing and the read
    }
  }
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[14 - 3]) + Number(fields[15 - 3]);
  return { tasks, ticks };
}

interface CpuResult {
  /** ns on CPU over the window, every thread (schedstat). */
  allNs: number;
  /** ns on CPU over the window, main thread only. */
  mainNs: number;
  /** utime+stime over the window, in ms (clock-tick resolution). */
  statMs: number;
  threads: number;
  /** Threads alive at the first read and gone at the second (their time is missing). */
  lost: number;
  messages: number;
  /** Seconds the feed took (the sender's own clock). */
  feedSeconds: number;
}

// ---------------------------------------------------------------- the script
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds ?? (values.quick ? 2 : 5));
const RUNS = Number(values.runs);
if (!(RATE > 0 && RATE <= 100_000 && SECONDS > 0 && Number.isInteger(RUNS) && RUNS > 0)) {
  throw new RangeError("--rate takes 1–100000, --seconds a positive number, --runs an integer > 0");
}
/** The receiver's idle time after "ready", before the first read: it settles into its wait. */
const SETTLE_MS = 300;

cleanUpOnInterrupt();
const feedExe = await compileC("feed");
if (feedExe === undefined) throw new Error("bench/cpu.ts needs cc for bench/c/feed.c");
const TICK_MS = 1000 / Number(benchLibc().sysconf(SC_CLK_TCK));
let seq = 0;

function spawn(cmd: string, args: string[], stdin: "piped" | "null"): Deno.ChildProcess {
  return track(
    new Deno.Command(cmd, { args, stdin, stdout: "piped", stderr: "inherit" }).spawn(),
  );
}
const spawnSelf = (args: string[], stdin: "piped" | "null") =>
  spawn(Deno.execPath(), ["run", "-A", self, "child", ...args], stdin);

async function measure(row: Row): Promise<CpuResult> {
  const isChannel = row.startsWith("chan-");
  const isSocket = row.startsWith("sock-");
  const name = isSocket
    ? `${Deno.makeTempDirSync({ prefix: "ipc-bench-" })}/cpu.sock`
    : `/bench-cpu-${Deno.pid}-${seq++}`;
  const unlink = () =>
    isChannel
      ? Channel.unlink(name)
      : isSocket
      ? Deno.removeSync(name.slice(0, name.lastIndexOf("/")), { recursive: true })
      : SharedMemory.unlink(name);
  if (isSocket) {
    atExit(name, unlink);
  } else if (isChannel) {
    atExit(name, unlink);
    Channel.create(name, { capacity: 64, maxMessageSize: MESSAGE_SIZE }).close();
  } else {
    using shm = SharedMemory.create(name, { size: SHM_SIZE });
    atExit(name, unlink);
    Semaphore.init(shm, 0).close();
  }
  const children: Deno.ChildProcess[] = [];
  const limit = deadline(SECONDS * 1000 + 60_000, ROWS[row]);
  const race = <T>(p: Promise<T>) => Promise.race([p, limit.promise]);
  try {
    const receiver = row === "c"
      ? spawn(feedExe!, ["recv", name], "null")
      : isChannel
      ? spawnSelf(["chan-recv", row.slice("chan-".length), name], "null")
      : isSocket
      ? spawnSelf(["sock-recv", name], "null")
      : spawnSelf(["sem-recv", row.slice("sem-".length), name], "null");
    children.push(receiver);
    const receiverOut = new Lines(receiver.stdout);
    await race(receiverOut.next("ready"));
    const sender = isChannel || isSocket
      ? spawnSelf([isSocket ? "sock-send" : "chan-send", name, `${RATE}`, `${SECONDS}`], "piped")
      : spawn(feedExe!, ["send", name, `${RATE}`, `${SECONDS}`], "piped");
    children.push(sender);
    const senderOut = new Lines(sender.stdout);
    await race(senderOut.next("ready"));
    await sleep(SETTLE_MS);
    const before = await sampleCpu(receiver.pid);
    await writeLine(sender, "go");
    const fed = (await race(senderOut.next("fed"))).split(" ");
    const after = await sampleCpu(receiver.pid);
    await writeLine(sender, "stop");
    const got = Number(await race(receiverOut.next("its count")));
    await sender.stdin.close();
    senderOut.drain();
    receiverOut.drain();
    const sent = Number(fed[1]);
    if (got !== sent) throw new Error(`the receiver took ${got} of ${sent} messages`);
    let allNs = 0;
    for (const [tid, ns] of after.tasks) allNs += ns - (before.tasks.get(tid) ?? 0);
    const lost = [...before.tasks.keys()].filter((tid) => !after.tasks.has(tid)).length;
    const main = receiver.pid;
    return {
      allNs,
      mainNs: (after.tasks.get(main) ?? 0) - (before.tasks.get(main) ?? 0),
      statMs: (after.ticks - before.ticks) * TICK_MS,
      threads: after.tasks.size,
      lost,
      messages: got,
      feedSeconds: Number(fed[2]),
    };
  } finally {
    limit.cancel();
    const ended = await Promise.race([
      Promise.all(children.map((c) => c.status)).then(() => true),
      sleep(5000).then(() => false),
    ]);
    if (!ended) await Promise.all(children.map(kill));
    forget(name);
    unlink();
  }
}

const rowKeys = ["c", ...(values.rows?.split(",") ?? Object.keys(ROWS).slice(1))] as Row[];
for (const row of rowKeys) {
  if (!(row in ROWS)) {
    throw new RangeError(`--rows takes some of ${Object.keys(ROWS).join(",")} (got "${row}")`);
  }
}
const runs: Partial<Record<Row, CpuResult | string>>[] = [];
console.log(
  `\nCPU time of a receiver process fed ${RATE} messages/s for ${SECONDS} s (${navigator.hardwareConcurrency} CPUs, clock tick ${TICK_MS} ms; load average ${
    Deno.loadavg().map((v) => v.toFixed(2)).join(" ")
  })`,
);
for (let run = 0; run < RUNS; run++) {
  const results: Partial<Record<Row, CpuResult | string>> = {};
  runs.push(results);
  // The C baseline first, then the rest; later runs rotate the Deno rows.
  const deno = rowKeys.slice(1);
  for (let k = 0; k < run % deno.length; k++) deno.push(deno.shift()!);
  for (const row of ["c" as const, ...deno]) {
    try {
      results[row] = await measure(row);
    } catch (e) {
      results[row] = e instanceof Error ? e.message : String(e);
    }
  }
  const c = results.c;
  const cNs = typeof c === "object" ? c.allNs : undefined;
  if (RUNS > 1) console.log(`\nrun ${run + 1} of ${RUNS}`);
  console.log("");
  printTable(
    [
      "receiver",
      "CPU ms (all threads)",
      "µs / message",
      "÷ C",
      "main thread ms",
      "utime+stime ms",
      "threads",
      "feed s",
    ],
    rowKeys.map((row) => {
      const r = results[row];
      if (typeof r !== "object") return [ROWS[row], `failed: ${r ?? "?"}`, "", "", "", "", "", ""];
      return [
        ROWS[row],
        num(r.allNs / 1e6, 1),
        num(r.allNs / 1e3 / r.messages, 2),
        ratio(r.allNs, cNs),
        num(r.mainNs / 1e6, 1),
        num(r.statMs, 0),
        r.lost ? `${r.threads} (+${r.lost} exited)` : `${r.threads}`,
        num(r.feedSeconds, 2),
      ];
    }),
  );
}

if (RUNS > 1) {
  console.log(
    `\nSummary over ${RUNS} runs: CPU (all threads) ÷ the C receiver's in the same run\n`,
  );
  printTable(
    ["receiver", "worst", "best", "every run ≤ 2× C"],
    rowKeys.slice(1).map((row) => {
      const ratios = runs.map((r) => {
        const [x, c] = [r[row], r.c];
        return typeof x === "object" && typeof c === "object" && c.allNs > 0
          ? x.allNs / c.allNs
          : undefined;
      });
      const known = ratios.filter((v) => v !== undefined);
      const worst = known.length === ratios.length ? Math.max(...known) : undefined;
      return [
        ROWS[row],
        worst === undefined ? "n/a" : `${worst.toFixed(2)}×`,
        known.length ? `${Math.min(...known).toFixed(2)}×` : "n/a",
        worst === undefined ? "n/a" : worst <= 2 ? "yes" : "no",
      ];
    }),
  );
}

if (values.json !== undefined) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify(
      {
        bench: "cpu",
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        arch: Deno.build.arch,
        cpus: navigator.hardwareConcurrency,
        rate: RATE,
        seconds: SECONDS,
        clockTickMs: TICK_MS,
        // Other processes share these CPUs: the figures mean little without it.
        loadAverage: Deno.loadavg(),
        labels: ROWS,
        runs,
      },
      null,
      2,
    ) + "\n",
  );
}
