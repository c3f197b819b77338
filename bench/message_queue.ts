// Message queues between two processes, beside C, a Channel and a Unix socket in the same run:
//   deno run -A bench/message_queue.ts [--runs N] [--rounds N] [--messages N] [--only posix,sysv,channel,socket]
// Round trip: the parent sends 64 B, the child echoes it on a second queue
// (POSIX, Channel) or as another type (System V), or back on the socket.
// Throughput: the parent sends N messages one way and waits for the child's
// single ack. The C baseline (bench/c/mq.c, compiled here; skipped without cc)
// does the same with blocking calls between a parent and a forked child.
//
// Fair by construction: the same message sizes, queue depth (10), blocking
// semantics (the sync rows block in the kernel, as C does) and two processes.
// Receives go into a reused buffer, as C's do (`receiveIntoSync`/`receiveInto`;
// System V has no receive-into call, so its Deno rows also copy each message
// out). Deno peers first run untimed warm-up rounds so V8 has optimised the
// loops (C needs none). These 2-vCPU VMs are shared and swing by 2× between
// runs, so every contender runs `--runs` times (default 3), interleaved, in
// fresh processes; the table shows the median and, for ratios, the range of the
// per-run ratios (each run's Deno time ÷ that same run's C time).
import { parseArgs } from "@std/cli/parse-args";
import { MessageQueue as PosixQueue } from "../posix/message_queue.ts";
import { MessageQueue as SysvQueue } from "../sysv/message_queue.ts";
import { Channel } from "../channel/mod.ts";

const values = parseArgs(Deno.args, {
  string: ["_", "rounds", "messages", "runs", "only"],
  default: { rounds: "5000", messages: "50000", runs: "3", only: "posix,sysv,channel,socket" },
});
const positionals = values._.map(String);
const ROUNDS = Number(values.rounds);
const MESSAGES = Number(values.messages);
const RUNS = Number(values.runs);
const ONLY = new Set(values.only.split(","));
const DEPTH = 10;
const MAX_SIZE = 8192;

type Kind = "posix" | "sysv" | "channel" | "socket";
type Mode = "sync" | "async";
type Test = "rtt" | "tput";

/** The two directions of one benchmark, with sync and async calls. */
interface Pipe {
  send(dir: 0 | 1, data: Uint8Array, mode: Mode): void | Promise<void>;
  receive(dir: 0 | 1, mode: Mode): unknown;
  close(): void;
}

function posixPipe(a: PosixQueue, b: PosixQueue): Pipe {
  const qs = [a, b];
  const buf = new Uint8Array(MAX_SIZE);
  return {
    send: (dir, data, mode) => mode === "sync" ? qs[dir]!.sendSync(data) : qs[dir]!.send(data),
    receive: (dir, mode) =>
      mode === "sync" ? qs[dir]!.receiveIntoSync(buf) : qs[dir]!.receiveInto(buf),
    close: () => qs.forEach((q) => q.close()),
  };
}

function sysvPipe(q: SysvQueue): Pipe {
  return {
    send: (dir, data, mode) =>
      mode === "sync" ? q.sendSync(data, { type: dir + 1 }) : q.send(data, { type: dir + 1 }),
    receive: (dir, mode) =>
      mode === "sync" ? q.receiveSync({ type: dir + 1 }) : q.receive({ type: dir + 1 }),
    close: () => q.close(),
  };
}

function channelPipe(a: Channel, b: Channel): Pipe {
  const chs = [a, b];
  const buf = new Uint8Array(MAX_SIZE);
  return {
    send: (dir, data, mode) => mode === "sync" ? chs[dir]!.sendSync(data) : chs[dir]!.send(data),
    receive: (dir, mode) =>
      mode === "sync" ? chs[dir]!.receiveIntoSync(buf) : chs[dir]!.receiveInto(buf),
    close: () => chs.forEach((c) => c.close()),
  };
}

/** A Unix stream socket carrying fixed-size messages (each read fills `size` bytes). */
function socketPipe(conn: Deno.Conn, size: number, test: Test): Pipe {
  const buf = new Uint8Array(Math.max(size, 1));
  return {
    send: async (_dir, data) => {
      for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
    },
    receive: async (dir) => {
      // The ack of a throughput run is one byte.
      const want = dir === 1 && test === "tput" ? 1 : size;
      for (let off = 0; off < want;) {
        const n = await conn.read(buf.subarray(off, want));
        if (n === null) throw new Error("socket closed");
        off += n;
      }
    },
    close: () => conn.close(),
  };
}

async function serve(pipe: Pipe, test: Test, mode: Mode, size: number, count: number) {
  const data = new Uint8Array(size).fill(7);
  for (let i = 0; i < count; i++) {
    await pipe.receive(0, mode);
    if (test === "rtt") await pipe.send(1, data, mode);
  }
  if (test === "tput") await pipe.send(1, data.subarray(0, 1), mode);
}

if (positionals[0] === "child") {
  const [, kind, test, mode, size, count, a, b] = positionals;
  let pipe: Pipe;
  if (kind === "posix") pipe = posixPipe(PosixQueue.open(a!), PosixQueue.open(b!));
  else if (kind === "sysv") pipe = sysvPipe(SysvQueue.fromId(Number(a)));
  else if (kind === "channel") pipe = channelPipe(Channel.open(a!), Channel.open(b!));
  else {
    const conn = await Deno.connect({ transport: "unix", path: a! });
    pipe = socketPipe(conn, Number(size), test as Test);
  }
  await serve(pipe, test as Test, mode as Mode, Number(size), Number(count));
  pipe.close();
  Deno.exit(0);
}

/** Untimed rounds (or messages) before the timed ones. */
const warmFor = (test: Test, count: number) => Math.min(count, test === "rtt" ? 2000 : 10000);

/** Mean µs per round trip (rtt) or per message (tput), over a timed loop. */
async function deno(kind: Kind, test: Test, mode: Mode, size: number, count: number) {
  const tag = `${Deno.pid}-${kind}-${test}-${mode}-${size}`;
  const warm = warmFor(test, count);
  let pipe: Pipe | undefined;
  let ids: [string, string];
  let cleanup: () => void | Promise<void>;
  let listener: Deno.UnixListener | undefined;
  let dir: string | undefined;
  if (kind === "posix") {
    const opts = { maxMessages: DEPTH, maxMessageSize: MAX_SIZE };
    const a = PosixQueue.create(`/bench-mq-a-${tag}`, opts);
    const b = PosixQueue.create(`/bench-mq-b-${tag}`, opts);
    pipe = posixPipe(a, b);
    ids = [a.name, b.name];
    cleanup = () => {
      a.unlink();
      b.unlink();
    };
  } else if (kind === "sysv") {
    const q = SysvQueue.private();
    pipe = sysvPipe(q);
    ids = [String(q.id), ""];
    cleanup = () => q.remove();
  } else if (kind === "channel") {
    const opts = { capacity: DEPTH, maxMessageSize: MAX_SIZE };
    const names: [string, string] = [`/bench-ch-a-${tag}`, `/bench-ch-b-${tag}`];
    const a = Channel.create(names[0], opts);
    const b = Channel.create(names[1], opts);
    pipe = channelPipe(a, b);
    ids = names;
    cleanup = () => names.forEach((n) => Channel.unlink(n));
  } else {
    dir = await Deno.makeTempDir();
    listener = Deno.listen({ transport: "unix", path: `${dir}/s` });
    ids = [`${dir}/s`, ""];
    cleanup = () => Deno.remove(dir!, { recursive: true });
  }
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "child",
        kind,
        test,
        mode,
        `${size}`,
        `${warm + count}`,
        ...ids,
      ],
    }).spawn();
    if (listener !== undefined) {
      pipe = socketPipe(await listener.accept(), size, test);
      listener.close();
    }
    const p = pipe!;
    const data = new Uint8Array(size).fill(7);
    // The child needs a moment to start; the first message waits for it, untimed.
    for (let i = 0; i < warm; i++) {
      await p.send(0, data, mode);
      if (test === "rtt") await p.receive(1, mode);
    }
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      await p.send(0, data, mode);
      if (test === "rtt") await p.receive(1, mode);
    }
    if (test === "tput") await p.receive(1, mode);
    const us = (performance.now() - t0) * 1000 / count;
    await child.status;
    return us;
  } finally {
    await cleanup();
    pipe?.close();
  }
}

async function buildC(): Promise<string | undefined> {
  try {
    const dir = await Deno.makeTempDir();
    const src = new URL("./c/mq.c", import.meta.url).pathname;
    const built = await new Deno.Command("cc", { args: ["-O2", "-o", `${dir}/mq`, src] }).output();
    return built.code === 0 ? `${dir}/mq` : undefined;
  } catch {
    return undefined;
  }
}

async function c(exe: string | undefined, kind: Kind, test: Test, size: number, count: number) {
  if (exe === undefined) return undefined;
  const out = await new Deno.Command(exe, { args: [kind, test, `${size}`, `${count}`] }).output();
  return out.code === 0 ? Number(new TextDecoder().decode(out.stdout)) / count : undefined;
}

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const exe = await buildC();
const cases: { label: string; test: Test; size: number; count: number }[] = [
  { label: "round trip, 64 B", test: "rtt", size: 64, count: ROUNDS },
  { label: "throughput, 64 B", test: "tput", size: 64, count: MESSAGES },
  { label: "throughput, 4 KiB", test: "tput", size: 4096, count: Math.ceil(MESSAGES / 4) },
];
type Column = "c" | "sync" | "async";
const contenders: { kind: Kind; col: Column; mode: Mode }[] = [
  { kind: "posix", col: "c", mode: "sync" },
  { kind: "posix", col: "sync", mode: "sync" },
  { kind: "posix", col: "async", mode: "async" },
  { kind: "sysv", col: "c", mode: "sync" },
  { kind: "sysv", col: "sync", mode: "sync" },
  { kind: "sysv", col: "async", mode: "async" },
  { kind: "channel", col: "sync", mode: "sync" },
  { kind: "channel", col: "async", mode: "async" },
  { kind: "socket", col: "async", mode: "async" },
];
/** results[kind][col][case index] = per-run µs */
const results = new Map<string, number[]>();
const key = (kind: Kind, col: Column, i: number) => `${kind}/${col}/${i}`;

const loads = [loadavg()];
for (let run = 0; run < RUNS; run++) {
  for (const [i, { test, size, count }] of cases.entries()) {
    for (const { kind, col, mode } of contenders) {
      if (!ONLY.has(kind) && !(kind === "posix" && col === "c")) continue;
      const us = col === "c"
        ? await c(exe, kind, test, size, count)
        : await deno(kind, test, mode, size, count);
      if (us === undefined) continue;
      const k = key(kind, col, i);
      results.set(k, [...(results.get(k) ?? []), us]);
    }
  }
  loads.push(loadavg());
}

const show = (test: Test, size: number, us: number | undefined) => {
  if (us === undefined) return "n/a";
  if (test === "rtt") return `${us.toFixed(1)} µs`;
  const perSec = 1e6 / us;
  return `${(perSec / 1000).toFixed(0)} k msg/s (${(perSec * size / 1e6).toFixed(0)} MB/s)`;
};
const cell = (kind: Kind, col: Column, i: number) => {
  const xs = results.get(key(kind, col, i));
  return show(cases[i]!.test, cases[i]!.size, xs === undefined ? undefined : median(xs));
};
/** Median of the per-run ratios against `base`, with their range. */
const ratio = (kind: Kind, col: Column, i: number, base: Kind = kind) => {
  const xs = results.get(key(kind, col, i));
  const cs = results.get(key(base, "c", i));
  if (xs === undefined || cs === undefined) return "n/a";
  const rs = xs.map((x, r) => x / cs[r]!);
  const lo = Math.min(...rs), hi = Math.max(...rs);
  return `${median(rs).toFixed(2)}× (${lo.toFixed(2)}–${hi.toFixed(2)})`;
};

console.log(
  `\nMessage queues between two processes, ${navigator.hardwareConcurrency} CPUs, median of ` +
    `${RUNS} interleaved runs (÷ C: median per-run ratio (range); lower is better; ` +
    `target ≤ 1.5× sync, ≤ 2× async). Load average before and after each run: ` +
    `${loads.join(" → ")}\n`,
);
console.log("| queue | case | C (blocking) | Deno sync | ÷ C | Deno async | ÷ C |");
console.log("|---|---|---|---|---|---|---|");
for (const kind of ["posix", "sysv"] as const) {
  for (const [i, { label }] of cases.entries()) {
    console.log(
      `| ${kind === "posix" ? "POSIX" : "System V"} | ${label} | ${cell(kind, "c", i)} | ${
        cell(kind, "sync", i)
      } | ${ratio(kind, "sync", i)} | ${cell(kind, "async", i)} | ${ratio(kind, "async", i)} |`,
    );
  }
}
console.log("\nThe same cases between two Deno processes over a Channel and a Unix socket ");
console.log("(÷ C POSIX: against the C POSIX queue of the same run)\n");
console.log(
  "| case | Channel sync | ÷ C POSIX | Channel async | ÷ C POSIX | Unix socket (async) | ÷ C POSIX |",
);
console.log("|---|---|---|---|---|---|---|");
for (const [i, { label }] of cases.entries()) {
  console.log(
    `| ${label} | ${cell("channel", "sync", i)} | ${ratio("channel", "sync", i, "posix")} | ${
      cell("channel", "async", i)
    } | ${ratio("channel", "async", i, "posix")} | ${cell("socket", "async", i)} | ${
      ratio("socket", "async", i, "posix")
    } |`,
  );
}
