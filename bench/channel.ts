// Channel throughput and latency between two Deno processes, beside (same run)
// a C SPSC ring over shared memory (the limit), Deno over a Unix domain socket,
// and Deno over a pipe:
//   deno run -A bench/channel.ts [--quick]
import { parseArgs } from "node:util";
import { Channel } from "../channel/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean", default: false } },
  allowPositionals: true,
});
const Q = values.quick ? 0.2 : 1;
const SIZES = [64, 4096, 1 << 20];
const COUNT: Record<number, number> = {
  64: 2_000_000 * Q,
  4096: 300_000 * Q,
  [1 << 20]: 2_000 * Q,
};
const SOCKET_COUNT: Record<number, number> = {
  64: 200_000 * Q,
  4096: 100_000 * Q,
  [1 << 20]: 1_000 * Q,
};
const ROUNDS = 20_000 * Q;
const self = new URL(import.meta.url).pathname;

// ---------------------------------------------------------------- children
const [role, ...rest] = positionals;
if (role === "chan-tx") {
  const [name, size, count, batched] = rest;
  using ch = Channel.open(name!);
  const msg = new Uint8Array(Number(size)).fill(7);
  const n = Number(count);
  if (batched === "batch") {
    const batch = new Array<Uint8Array>(64).fill(msg);
    for (let sent = 0; sent < n;) {
      const k = ch.trySendMany(sent + 64 <= n ? batch : batch.slice(0, n - sent));
      if (k === 0) {
        ch.sendSync(msg);
        sent++;
      }
      sent += k;
    }
  } else {
    for (let i = 0; i < n; i++) if (!ch.trySend(msg)) ch.sendSync(msg);
  }
  ch.end();
  Deno.exit(0);
}
if (role === "chan-echo") {
  using a = Channel.open(rest[0]!);
  using b = Channel.open(rest[1]!);
  for (let i = 0, n = Number(rest[2]); i < n; i++) {
    const v = a.tryReceiveView() ?? waitView(a);
    b.sendSync(v.bytes);
    v.release();
  }
  Deno.exit(0);
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

function waitView(ch: Channel) {
  for (;;) {
    const v = ch.tryReceiveView();
    if (v) return v;
    const m = ch.receiveSync(); // rare path: copy, wrap as a view
    return { bytes: m, release() {}, [Symbol.dispose]() {} };
  }
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

// ---------------------------------------------------------------- measurements
async function channelThroughput(size: number, batched = false): Promise<number> {
  const name = `/bench-chan-${Deno.pid}-${size}`;
  const count = COUNT[size]!;
  using ch = Channel.create(name, { capacity: size > 65536 ? 8 : 1024, maxMessageSize: size });
  try {
    const tx = child(["chan-tx", name, `${size}`, `${count}`, batched ? "batch" : "single"]);
    let n = 0;
    let t0 = 0;
    const into = new Uint8Array(size);
    for (;;) {
      try {
        if (ch.tryReceiveInto(into) === undefined) ch.receiveSync();
      } catch (e) {
        if (e instanceof Deno.errors.UnexpectedEof) break;
        throw e;
      }
      if (n === 0) t0 = performance.now();
      n++;
    }
    const s = (performance.now() - t0) / 1000;
    await tx.status;
    if (n !== count) throw new Error(`got ${n} of ${count}`);
    return (n - 1) / s;
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
  let t0 = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    if (total === 0) t0 = performance.now();
    total += n;
  }
  const s = (performance.now() - t0) / 1000;
  conn.close();
  listener.close();
  await tx.status;
  if (total !== size * count) throw new Error(`socket got ${total}`);
  return count / s;
}

async function pipeThroughput(size: number): Promise<number> {
  const count = SOCKET_COUNT[size]!;
  const tx = child(["pipe-tx", "-", `${size}`, `${count}`], "piped");
  let total = 0;
  let t0 = 0;
  for await (const chunk of tx.stdout) {
    if (total === 0) t0 = performance.now();
    total += chunk.length;
  }
  const s = (performance.now() - t0) / 1000;
  await tx.status;
  if (total !== size * count) throw new Error(`pipe got ${total}`);
  return count / s;
}

/** Mean and median of per-round times (µs). */
function summary(times: number[]): { mean: number; median: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    median: sorted[sorted.length >> 1]!,
  };
}

async function channelPingPong(): Promise<{ mean: number; median: number }> {
  const a = `/bench-ping-${Deno.pid}`;
  const b = `/bench-pong-${Deno.pid}`;
  using ping = Channel.create(a, { capacity: 16, maxMessageSize: 64 });
  using pong = Channel.create(b, { capacity: 16, maxMessageSize: 64 });
  try {
    const echo = child(["chan-echo", a, b, `${ROUNDS + 1000}`]);
    const msg = new Uint8Array(64);
    const round = () => {
      ping.sendSync(msg);
      const v = pong.tryReceiveView() ?? waitView(pong);
      v.release();
    };
    for (let i = 0; i < 1000; i++) round();
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      round();
      times.push((performance.now() - t) * 1000);
    }
    await echo.status;
    return summary(times);
  } finally {
    Channel.unlink(a);
    Channel.unlink(b);
  }
}

async function socketPingPong(): Promise<{ mean: number; median: number }> {
  const path = `${await Deno.makeTempDir()}/p`;
  const listener = Deno.listen({ transport: "unix", path });
  const rounds = Math.min(ROUNDS, 5000);
  const echo = child(["sock-echo", path, `${rounds + 200}`]);
  const conn = await listener.accept();
  const msg = new Uint8Array(64);
  const round = async () => {
    await conn.write(msg);
    await readFull(conn, msg);
  };
  for (let i = 0; i < 200; i++) await round();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await round();
    times.push((performance.now() - t) * 1000);
  }
  conn.close();
  listener.close();
  await echo.status;
  return summary(times);
}

async function c(args: string[]): Promise<number | undefined> {
  const dir = await Deno.makeTempDir();
  try {
    const built = await new Deno.Command("cc", {
      args: ["-O2", "-o", `${dir}/ring`, new URL("./c/ring.c", import.meta.url).pathname],
    }).output();
    if (built.code !== 0) return undefined;
    const out = await new Deno.Command(`${dir}/ring`, { args }).output();
    return Number(new TextDecoder().decode(out.stdout));
  } catch {
    return undefined;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const rate = (msgs: number, size: number) =>
  `${(msgs / 1e6).toFixed(2)} M/s · ${((msgs * size) / 1e9).toFixed(2)} GB/s`;
const label = (
  size: number,
) => (size >= 1 << 20 ? "1 MiB" : size >= 1024 ? `${size / 1024} KiB` : `${size} B`);

console.log(`\nOne-way throughput between two processes (${navigator.hardwareConcurrency} CPUs)\n`);
console.log(
  "| message | C SPSC ring (limit) | Channel: trySend → tryReceiveInto | Channel: trySendMany (64) → tryReceiveInto | Deno Unix socket | Deno pipe | best Channel ÷ C | best Channel ÷ socket |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const size of SIZES) {
  const cRate = await c([
    "throughput",
    `${size}`,
    `${size >= 1 << 20 ? 4000 * Q : 5_000_000 * Q}`,
    size >= 1 << 20 ? "8" : "1024",
  ]);
  const chan = await channelThroughput(size);
  const batch = await channelThroughput(size, true);
  const best = Math.max(chan, batch);
  const sock = await socketThroughput(size);
  const pipe = await pipeThroughput(size);
  const cells = [
    label(size),
    cRate ? rate(cRate, size) : "n/a",
    rate(chan, size),
    rate(batch, size),
    rate(sock, size),
    rate(pipe, size),
    cRate ? `${((best / cRate) * 100).toFixed(0)}%` : "n/a",
    `${(best / sock).toFixed(1)}×`,
  ];
  console.log(`| ${cells.join(" | ")} |`);
}
const cPing = await c(["pingpong", `${ROUNDS * 10}`]);
const chanPing = await channelPingPong();
const sockPing = await socketPingPong();
console.log("\n| 64 B ping-pong round trip | mean | median | mean vs Unix socket |");
console.log("|---|---|---|---|");
console.log(`| C SPSC rings (limit, spinning) | ${cPing?.toFixed(2) ?? "n/a"} µs | | |`);
console.log(
  `| @ipc/shm Channel (sendSync + receiveSync: spin ≤ 200 µs, then park) | ${
    chanPing.mean.toFixed(2)
  } µs | ${chanPing.median.toFixed(2)} µs | ${
    (sockPing.mean / chanPing.mean).toFixed(1)
  }× faster |`,
);
console.log(
  `| Deno Unix socket | ${sockPing.mean.toFixed(2)} µs | ${sockPing.median.toFixed(2)} µs | 1× |`,
);
