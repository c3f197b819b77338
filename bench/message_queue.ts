// Message queues between two processes, beside C in the same run:
//   deno run -A bench/message_queue.ts [--rounds N] [--messages N]
// Round trip: the parent sends 64 B, the child echoes it on a second queue
// (POSIX) or as another type (System V). Throughput: the parent sends N
// messages one way and waits for the child's single ack. The C baseline
// (bench/c/mq.c, compiled here; skipped without cc) does the same with
// blocking calls between a parent and a forked child.
import { parseArgs } from "@std/cli/parse-args";
import { MessageQueue as PosixQueue } from "../posix/message_queue.ts";
import { MessageQueue as SysvQueue } from "../sysv/message_queue.ts";

const values = parseArgs(Deno.args, {
  string: ["_", "rounds", "messages"],
  default: { rounds: "5000", messages: "50000" },
});
const positionals = values._.map(String);
const ROUNDS = Number(values.rounds);
const MESSAGES = Number(values.messages);

type Kind = "posix" | "sysv";
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
  return {
    send: (dir, data, mode) => mode === "sync" ? qs[dir]!.sendSync(data) : qs[dir]!.send(data),
    receive: (dir, mode) => mode === "sync" ? qs[dir]!.receiveSync() : qs[dir]!.receive(),
    close: () => qs.forEach((q) => q.close()),
  };
}

function sysvPipe(q: SysvQueue): Pipe {
  return {
    send: (dir, data, mode) =>
      mode === "sync" ? q.sendSync(data, { type: dir + 1 }) : q.send(data, { type: dir + 1 }),
    receive: (dir, mode) =>
      mode === "sync" ? q.receiveSync({ type: dir + 1 }) : q.receive({ type: dir + 1 }),
    close: () => {},
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
  const pipe = kind === "posix"
    ? posixPipe(PosixQueue.open(a!), PosixQueue.open(b!))
    : sysvPipe(SysvQueue.fromId(Number(a)));
  await serve(pipe, test as Test, mode as Mode, Number(size), Number(count));
  pipe.close();
  Deno.exit(0);
}

/** Elapsed µs for `count` round trips or messages. */
async function deno(kind: Kind, test: Test, mode: Mode, size: number, count: number) {
  const tag = `${Deno.pid}-${kind}-${test}-${mode}-${size}`;
  let pipe: Pipe;
  let ids: [string, string];
  let cleanup: () => void;
  if (kind === "posix") {
    const opts = { maxMessages: 10, maxMessageSize: 8192 };
    const a = PosixQueue.create(`/bench-mq-a-${tag}`, opts);
    const b = PosixQueue.create(`/bench-mq-b-${tag}`, opts);
    pipe = posixPipe(a, b);
    ids = [a.name, b.name];
    cleanup = () => {
      a.unlink();
      b.unlink();
      pipe.close();
    };
  } else {
    const q = SysvQueue.private();
    pipe = sysvPipe(q);
    ids = [String(q.id), ""];
    cleanup = () => q.remove();
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
        `${count}`,
        ...ids,
      ],
    }).spawn();
    const data = new Uint8Array(size).fill(7);
    // The child needs a moment to start; the first message waits for it, untimed.
    await pipe.send(0, data, mode);
    if (test === "rtt") await pipe.receive(1, mode);
    const t0 = performance.now();
    for (let i = 1; i < count; i++) {
      await pipe.send(0, data, mode);
      if (test === "rtt") await pipe.receive(1, mode);
    }
    if (test === "tput") await pipe.receive(1, mode);
    const us = (performance.now() - t0) * 1000 * count / (count - 1);
    await child.status;
    return us;
  } finally {
    cleanup();
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
  return out.code === 0 ? Number(new TextDecoder().decode(out.stdout)) : undefined;
}

const exe = await buildC();
const cases: { label: string; test: Test; size: number; count: number }[] = [
  { label: "round trip, 64 B", test: "rtt", size: 64, count: ROUNDS },
  { label: "throughput, 64 B", test: "tput", size: 64, count: MESSAGES },
  { label: "throughput, 4 KiB", test: "tput", size: 4096, count: Math.ceil(MESSAGES / 4) },
];

const show = (test: Test, size: number, count: number, us: number | undefined) => {
  if (us === undefined) return "n/a";
  if (test === "rtt") return `${(us / count).toFixed(1)} µs`;
  const perSec = count / (us / 1e6);
  return `${(perSec / 1000).toFixed(0)} k msg/s (${(perSec * size / 1e6).toFixed(1)} MB/s)`;
};
const ratio = (us: number, cUs: number | undefined) =>
  cUs === undefined ? "n/a" : `${(us / cUs).toFixed(2)}×`;

console.log(
  `\nMessage queues between two processes, ${navigator.hardwareConcurrency} CPUs ` +
    `(time ÷ C: lower is better; target ≤ 1.5× sync, ≤ 2× async)\n`,
);
console.log("| queue | case | C (blocking) | Deno sync | ÷ C | Deno async | ÷ C |");
console.log("|---|---|---|---|---|---|---|");
for (const kind of ["posix", "sysv"] as const) {
  for (const { label, test, size, count } of cases) {
    const cUs = await c(exe, kind, test, size, count);
    const syncUs = await deno(kind, test, "sync", size, count);
    const asyncUs = await deno(kind, test, "async", size, count);
    console.log(
      `| ${kind === "posix" ? "POSIX" : "System V"} | ${label} | ${
        show(test, size, count, cUs)
      } | ${show(test, size, count, syncUs)} | ${ratio(syncUs, cUs)} | ${
        show(test, size, count, asyncUs)
      } | ${ratio(asyncUs, cUs)} |`,
    );
  }
}
