// Channel throughput and latency between two Deno processes, beside (same run)
// a C SPSC ring over shared memory (the limit), Deno over a Unix domain socket,
// and Deno over a pipe; then the two topologies side by side at 64 B:
//   deno run -A bench/channel.ts [--quick] [--runs N] [--async-only] [--json bench/results/channel.json]
// --async-only prints only the async-beside-sync table (64 B one-way and ping-pong).
// --json also saves the figures for bench/charts.ts (docs/charts/*.svg).
// Every figure is the best of N runs (default 3) of the same measurement, for
// every contender alike: these 2-vCPU VMs swing by 2× from run to run. Each run
// uses fresh processes, so no measurement inherits another's JIT state.
import { parseArgs } from "@std/cli/parse-args";
import { Channel } from "../channel/mod.ts";

const values = parseArgs(Deno.args, {
  boolean: ["quick", "async-only"],
  string: ["_", "runs", "json"],
  default: { runs: "3" },
});
const positionals = values._.map(String);
const Q = values.quick ? 0.2 : 1;
const RUNS = Number(values.runs);
const SIZES = [64, 4096, 1 << 20];
const COUNT: Record<number, number> = {
  64: 3_000_000 * Q,
  4096: 300_000 * Q,
  [1 << 20]: 3_000 * Q,
};
const SOCKET_COUNT: Record<number, number> = {
  64: 200_000 * Q,
  4096: 100_000 * Q,
  [1 << 20]: 2_000 * Q,
};
// Ping-pong rounds, after warm-up rounds that take about as long for either
// contender (~0.1–0.2 s: V8 needs that long to optimize the loops).
const ROUNDS = 200_000 * Q;
const WARM_ROUNDS = 200_000 * Q;
const SOCKET_ROUNDS = 10_000 * Q;
const SOCKET_WARM_ROUNDS = 5_000 * Q;
const BATCH = 64;
const self = new URL(import.meta.url).pathname;

// ---------------------------------------------------------------- children
// Each child's loop runs in a function, not in the module's top-level code:
// V8 optimizes a hot loop with awaits in it inside a function (at module top
// level an awaited send measured ~25% slower here), and it is the library's
// cost these rows compare.
const [role, ...rest] = positionals;
if (role === "chan-tx") {
  const [name, size, count, batched] = rest;
  await sendAll(name!, Number(size), Number(count), batched!);
  Deno.exit(0);
}
if (role === "chan-echo") {
  await echo(rest[0]!, rest[1]!, Number(rest[2]), rest[3] === "async");
  Deno.exit(0);
}

async function sendAll(name: string, size: number, n: number, how: string): Promise<void> {
  using ch = Channel.open(name);
  const msg = new Uint8Array(size).fill(7);
  if (how === "batch") {
    const batch = new Array<Uint8Array>(BATCH).fill(msg);
    for (let sent = 0; sent < n;) {
      const k = ch.trySendMany(sent + BATCH <= n ? batch : batch.slice(0, n - sent));
      if (k === 0) {
        ch.sendSync(msg);
        sent++;
      }
      sent += k;
    }
  } else if (how === "async") {
    for (let i = 0; i < n; i++) await ch.send(msg);
  } else {
    for (let i = 0; i < n; i++) ch.sendSync(msg);
  }
  ch.end();
}

async function echo(from: string, to: string, n: number, async: boolean): Promise<void> {
  using a = Channel.open(from);
  using b = Channel.open(to);
  if (async) {
    for (let i = 0; i < n; i++) await b.send(await a.receive());
  } else {
    for (let i = 0; i < n; i++) b.sendSync(a.receiveSync());
  }
}
if (role === "sock-tx" || role === "pipe-tx") {
  const [where, size, count] = rest;
  const msg = new Uint8Array(Number(size)).fill(7);
  const conn = role === "sock-tx"
    ? await Deno.connect({ transport: "unix", path: where! })
    : Deno.stdout;
  for (let i = 0, n = Number(count); i < n; i++) {
    for (let off = 0; off < msg.length;) off += await conn.write(msg.subarray(off));
  }
  if (role === "sock-tx") (conn as Deno.Conn).close();
  Deno.exit(0);
}
if (role === "sock-echo") {
  const conn = await Deno.connect({ transport: "unix", path: rest[0]! });
  const buf = new Uint8Array(64);
  for (let i = 0, n = Number(rest[1]); i < n; i++) {
    await readFull(conn, buf);
    await conn.write(buf);
  }
  conn.close();
  Deno.exit(0);
}

async function readFull(
  r: { read(p: Uint8Array): Promise<number | null> },
  buf: Uint8Array,
): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const n = await r.read(buf.subarray(off));
    if (n === null) throw new Error("eof");
    off += n;
  }
}

function child(args: string[], stdout: "piped" | "null" = "null") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", self, ...args],
    stdout,
    stderr: "inherit",
  }).spawn();
}

/**
 * Runs every measurement once per round, RUNS rounds, and keeps each one's
 * best: interleaving gives every contender the same share of a machine whose
 * speed drifts over a run.
 */
async function bestOfInterleaved(
  measures: (() => Promise<number | undefined>)[],
  higherIsBetter = true,
): Promise<(number | undefined)[]> {
  const top: (number | undefined)[] = measures.map(() => undefined);
  for (let r = 0; r < RUNS; r++) {
    for (const [k, measure] of measures.entries()) {
      const v = await measure();
      const t = top[k];
      if (v !== undefined && (t === undefined || (higherIsBetter ? v > t : v < t))) top[k] = v;
    }
  }
  return top;
}

// ---------------------------------------------------------------- measurements
// Each runs in a fresh child ("measure <name> <args>") that prints one number.
/**
 * Messages per second into the receiving process. `"copy"`: one at a time,
 * `sendSync` → `receiveIntoSync` (each message copied into the receiver's
 * buffer, as the C ring does). `"batch"`: `trySendMany` of 64 →
 * `receiveEachSync`, zero-copy (the receiver reads each message in place).
 * `"async"`: `await send()` → `for await` (a copy per message, as `receive()`).
 */
async function channelThroughput(
  size: number,
  how: "copy" | "batch" | "async",
  topology: Topology,
): Promise<number> {
  const name = `/bench-chan-${Deno.pid}-${size}`;
  const count = COUNT[size]!;
  using ch = Channel.create(name, {
    capacity: size > 65536 ? 8 : 1024,
    maxMessageSize: size,
    topology,
  });
  try {
    const tx = child(["chan-tx", name, `${size}`, `${count}`, how]);
    let n = 0;
    let first = 0;
    let t0 = 0;
    let check = 0;
    const into = new Uint8Array(size);
    const each = (bytes: Uint8Array) => {
      // Read each message's first and last byte in place: every cache line of a
      // 64-byte message (a larger one is made available, not read through).
      check += bytes[0]! + bytes[bytes.length - 1]!;
      n++;
    };
    if (how === "async") {
      for await (const m of ch) {
        check += m[0]! + m[m.length - 1]!;
        n++;
        if (t0 === 0 && n >= count / 4) {
          t0 = performance.now();
          first = n;
        }
      }
    }
    for (; how !== "async";) {
      try {
        if (how === "copy") {
          ch.receiveIntoSync(into);
          check += into[0]! + into[size - 1]!;
          n++;
        } else {
          ch.receiveEachSync(each);
        }
      } catch (e) {
        if (e instanceof Deno.errors.UnexpectedEof) break;
        throw e;
      }
      if (t0 === 0 && n >= count / 4) {
        t0 = performance.now(); // after a warm-up quarter: start-up and JIT are not the channel
        first = n;
      }
    }
    const s = (performance.now() - t0) / 1000;
    await tx.status;
    if (n !== count || check !== 14 * count) throw new Error(`got ${n} of ${count}`);
    return (n - first) / s;
  } finally {
    Channel.unlink(name);
  }
}

async function socketThroughput(size: number): Promise<number> {
  const path = `${await Deno.makeTempDir()}/s`;
  const listener = Deno.listen({ transport: "unix", path });
  const count = SOCKET_COUNT[size]!;
  const tx = child(["sock-tx", path, `${size}`, `${count}`]);
  const conn = await listener.accept();
  const buf = new Uint8Array(1 << 20);
  let total = 0;
  let first = 0;
  let t0 = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    total += n;
    if (t0 === 0 && total >= (size * count) / 4) {
      t0 = performance.now();
      first = total;
    }
  }
  const s = (performance.now() - t0) / 1000;
  conn.close();
  listener.close();
  await tx.status;
  await Deno.remove(path.slice(0, -2), { recursive: true });
  if (total !== size * count) throw new Error(`socket got ${total}`);
  return (total - first) / size / s;
}

async function pipeThroughput(size: number): Promise<number> {
  const count = SOCKET_COUNT[size]!;
  const tx = child(["pipe-tx", "-", `${size}`, `${count}`], "piped");
  let total = 0;
  let first = 0;
  let t0 = 0;
  for await (const chunk of tx.stdout) {
    total += chunk.length;
    if (t0 === 0 && total >= (size * count) / 4) {
      t0 = performance.now();
      first = total;
    }
  }
  const s = (performance.now() - t0) / 1000;
  await tx.status;
  if (total !== size * count) throw new Error(`pipe got ${total}`);
  return (total - first) / size / s;
}

/**
 * Mean µs per 64-byte round trip over a whole timed loop (no clock read per round).
 * `async`: both sides `await send()` and `await receive()` instead.
 */
async function channelPingPong(topology: Topology, async = false): Promise<number> {
  const a = `/bench-ping-${Deno.pid}`;
  const b = `/bench-pong-${Deno.pid}`;
  using ping = Channel.create(a, { capacity: 16, maxMessageSize: 64, topology });
  using pong = Channel.create(b, { capacity: 16, maxMessageSize: 64, topology });
  try {
    const echo = child(["chan-echo", a, b, `${ROUNDS + WARM_ROUNDS}`, async ? "async" : "sync"]);
    const msg = new Uint8Array(64);
    if (async) {
      for (let i = 0; i < WARM_ROUNDS; i++) {
        await ping.send(msg);
        await pong.receive();
      }
      const t0 = performance.now();
      for (let i = 0; i < ROUNDS; i++) {
        await ping.send(msg);
        await pong.receive();
      }
      const us = ((performance.now() - t0) * 1000) / ROUNDS;
      await echo.status;
      return us;
    }
    for (let i = 0; i < WARM_ROUNDS; i++) {
      ping.sendSync(msg);
      pong.receiveSync();
    }
    const t0 = performance.now();
    for (let i = 0; i < ROUNDS; i++) {
      ping.sendSync(msg);
      pong.receiveSync();
    }
    const us = ((performance.now() - t0) * 1000) / ROUNDS;
    await echo.status;
    return us;
  } finally {
    Channel.unlink(a);
    Channel.unlink(b);
  }
}

async function socketPingPong(): Promise<number> {
  const dir = await Deno.makeTempDir();
  const listener = Deno.listen({ transport: "unix", path: `${dir}/p` });
  const echo = child(["sock-echo", `${dir}/p`, `${SOCKET_ROUNDS + SOCKET_WARM_ROUNDS}`]);
  const conn = await listener.accept();
  const msg = new Uint8Array(64);
  for (let i = 0; i < SOCKET_WARM_ROUNDS; i++) {
    await conn.write(msg);
    await readFull(conn, msg);
  }
  const t0 = performance.now();
  for (let i = 0; i < SOCKET_ROUNDS; i++) {
    await conn.write(msg);
    await readFull(conn, msg);
  }
  const us = ((performance.now() - t0) * 1000) / SOCKET_ROUNDS;
  conn.close();
  listener.close();
  await echo.status;
  await Deno.remove(dir, { recursive: true });
  return us;
}

let ringExe: string | undefined | null;
async function c(args: string[]): Promise<number | undefined> {
  if (ringExe === undefined) {
    const dir = await Deno.makeTempDir();
    try {
      const built = await new Deno.Command("cc", {
        args: ["-O2", "-o", `${dir}/ring`, new URL("./c/ring.c", import.meta.url).pathname],
      }).output();
      ringExe = built.code === 0 ? `${dir}/ring` : null;
    } catch {
      ringExe = null; // no C compiler: the C column says n/a
    }
    addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  }
  if (ringExe === null) return undefined;
  const out = await new Deno.Command(ringExe, { args }).output();
  return Number(new TextDecoder().decode(out.stdout));
}

type Topology = "spsc" | "mpmc";

const MEASURES = {
  channelThroughput: (size: string, how: string, topology: string) =>
    channelThroughput(Number(size), how as "copy" | "batch" | "async", topology as Topology),
  socketThroughput: (size: string) => socketThroughput(Number(size)),
  pipeThroughput: (size: string) => pipeThroughput(Number(size)),
  channelPingPong: (topology: string, how?: string) =>
    channelPingPong(topology as Topology, how === "async"),
  socketPingPong: () => socketPingPong(),
};
type Measure = keyof typeof MEASURES;

if (role === "measure") {
  const [what, ...args] = rest as [Measure, string, string, string];
  console.log(await MEASURES[what](args[0], args[1], args[2]));
  Deno.exit(0);
}

async function fresh(what: Measure, ...args: unknown[]): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", self, "measure", what, ...args.map(String)],
    stderr: "inherit",
  }).output();
  if (out.code !== 0) throw new Error(`${what} failed`);
  return Number(new TextDecoder().decode(out.stdout));
}

const rate = (msgs: number, size: number) =>
  `${(msgs / 1e6).toFixed(2)} M/s · ${((msgs * size) / 1e9).toFixed(2)} GB/s`;
const label = (
  size: number,
) => (size >= 1 << 20 ? "1 MiB" : size >= 1024 ? `${size / 1024} KiB` : `${size} B`);

/**
 * Async beside sync, same run, both topologies: 64 B one-way (`await send()` →
 * `for await` against `sendSync` → `receiveIntoSync`) and ping-pong.
 */
async function asyncBesideSync(): Promise<void> {
  console.log(
    `\n| 64 B, async beside sync (best of ${RUNS} runs) | topology | sync | async | async ÷ sync |`,
  );
  console.log("|---|---|---|---|---|");
  for (const topology of ["spsc", "mpmc"] as const) {
    const [syncRate, asyncRate] = await bestOfInterleaved([
      () => fresh("channelThroughput", 64, "copy", topology),
      () => fresh("channelThroughput", 64, "async", topology),
    ]) as number[];
    console.log(
      `| one-way: sendSync → receiveIntoSync vs await send → for await | ${topology} | ${
        rate(syncRate!, 64)
      } | ${rate(asyncRate!, 64)} | ${((asyncRate! / syncRate!) * 100).toFixed(0)}% |`,
    );
    const [syncPing, asyncPing] = await bestOfInterleaved([
      () => fresh("channelPingPong", topology, "sync"),
      () => fresh("channelPingPong", topology, "async"),
    ], false) as number[];
    console.log(
      `| ping-pong round trip (µs): sync vs await send + await receive | ${topology} | ${
        syncPing!.toFixed(2)
      } | ${asyncPing!.toFixed(2)} | ${(asyncPing! / syncPing!).toFixed(2)}× |`,
    );
  }
}

if (values["async-only"]) {
  await asyncBesideSync();
  Deno.exit(0);
}

console.log(
  `\nOne-way throughput between two processes (${navigator.hardwareConcurrency} CPUs, best of ${RUNS} runs each)\n`,
);
console.log(
  "| message | C SPSC ring, copy out (limit) | Channel: sendSync → receiveIntoSync (copy out) | Channel: trySendMany(64) → receiveEachSync (zero-copy) | Deno Unix socket | Deno pipe | Channel copy ÷ C | Channel copy ÷ socket | Channel zero-copy ÷ socket |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
// Bytes per second per contender, by message size, for --json.
const throughput: Record<string, (number | null)[]> = {
  "C SPSC ring (limit)": [],
  "Channel, copy out": [],
  "Channel, zero-copy batch": [],
  "Deno Unix socket": [],
  "Deno pipe": [],
};
for (const size of SIZES) {
  const [cRate, copy, batch, sock, pipe] = await bestOfInterleaved([
    () =>
      c([
        "throughput",
        `${size}`,
        `${size >= 1 << 20 ? 6000 * Q : size >= 4096 ? 1_000_000 * Q : 20_000_000 * Q}`,
        size >= 1 << 20 ? "8" : "1024",
      ]),
    () => fresh("channelThroughput", size, "copy", "spsc"),
    () => fresh("channelThroughput", size, "batch", "spsc"),
    () => fresh("socketThroughput", size),
    () => fresh("pipeThroughput", size),
  ]) as [number | undefined, number, number, number, number];
  const cells = [
    label(size),
    cRate ? rate(cRate, size) : "n/a",
    rate(copy, size),
    rate(batch, size),
    rate(sock, size),
    rate(pipe, size),
    cRate ? `${((copy / cRate) * 100).toFixed(0)}%` : "n/a",
    `${(copy / sock).toFixed(1)}×`,
    `${(batch / sock).toFixed(1)}×`,
  ];
  console.log(`| ${cells.join(" | ")} |`);
  [cRate, copy, batch, sock, pipe].forEach((v, k) =>
    Object.values(throughput)[k]!.push(v === undefined ? null : v * size)
  );
}

const [cPing, chanPing, sockPing] = await bestOfInterleaved([
  () => c(["pingpong", `${ROUNDS}`]),
  () => fresh("channelPingPong", "spsc"),
  () => fresh("socketPingPong"),
], false) as [number | undefined, number, number];
console.log(
  `\n| 64 B ping-pong round trip (mean over a timed loop, best of ${RUNS} runs) | µs | vs Unix socket |`,
);
console.log("|---|---|---|");
console.log(
  `| C SPSC rings (limit, spinning) | ${cPing?.toFixed(2) ?? "n/a"} | ${
    cPing ? `${(sockPing / cPing).toFixed(1)}× faster` : ""
  } |`,
);
console.log(
  `| @ipc/shm Channel "spsc": sendSync + receiveSync (adaptive poll, then sleeps) | ${
    chanPing.toFixed(2)
  } | ${(sockPing / chanPing).toFixed(1)}× faster |`,
);
console.log(`| Deno Unix socket: write + read | ${sockPing.toFixed(2)} | 1× |`);

// The default topology ("mpmc": a compare-exchange per message, any number of
// senders and receivers) beside the "spsc" fast path the tables above use.
const [spscCopy, mpmcCopy, spscBatch, mpmcBatch] = await bestOfInterleaved([
  () => fresh("channelThroughput", 64, "copy", "spsc"),
  () => fresh("channelThroughput", 64, "copy", "mpmc"),
  () => fresh("channelThroughput", 64, "batch", "spsc"),
  () => fresh("channelThroughput", 64, "batch", "mpmc"),
]) as number[];
const [spscPing, mpmcPing] = await bestOfInterleaved([
  () => fresh("channelPingPong", "spsc"),
  () => fresh("channelPingPong", "mpmc"),
], false) as number[];
console.log(
  `\n| 64 B, one sender and one receiver process | "spsc" | "mpmc" (default) | mpmc ÷ spsc |`,
);
console.log("|---|---|---|---|");
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
console.log(
  `| sendSync → receiveIntoSync | ${rate(spscCopy!, 64)} | ${rate(mpmcCopy!, 64)} | ${
    ratio(mpmcCopy!, spscCopy!)
  } |`,
);
console.log(
  `| trySendMany(64) → receiveEachSync | ${rate(spscBatch!, 64)} | ${rate(mpmcBatch!, 64)} | ${
    ratio(mpmcBatch!, spscBatch!)
  } |`,
);
console.log(
  `| ping-pong round trip (µs) | ${spscPing!.toFixed(2)} | ${mpmcPing!.toFixed(2)} | ${
    ratio(mpmcPing!, spscPing!)
  } |`,
);

await asyncBesideSync();

if (values.json !== undefined) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify(
      {
        bench: "channel",
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        arch: Deno.build.arch,
        cpus: navigator.hardwareConcurrency,
        runs: RUNS,
        quick: values.quick,
        // Other processes share these CPUs: the figures mean little without it.
        loadAverage: Deno.loadavg(),
        throughput: { unit: "bytes/s", sizes: SIZES, series: throughput },
        roundTrip: {
          unit: "µs",
          rows: [
            { label: "C SPSC rings (spinning)", value: cPing ?? null, c: true },
            { label: 'Channel "spsc"', value: spscPing },
            { label: 'Channel "mpmc"', value: mpmcPing },
            { label: "Deno Unix socket", value: sockPing },
          ],
        },
      },
      null,
      2,
    ) + "\n",
  );
}
