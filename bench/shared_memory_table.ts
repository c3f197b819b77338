// Moving bytes from one process to another, measured in one run:
//   deno run -A bench/shared_memory_table.ts [--mib 256]
// A child fills N MiB and the parent checks every byte; for shared memory the
// child writes into the mapping, for the baseline it writes the same bytes to
// a pipe the parent reads. Process start-up (an empty child) is subtracted.
import { parseArgs } from "@std/cli/parse-args";
import { SharedMemory } from "../posix/shared_memory.ts";

const values = parseArgs(Deno.args, { string: ["_", "mib"], default: { mib: "256" } });
const positionals = values._.map(String);
const MIB = Number(values.mib);
const CHUNK = 1 << 20;

if (positionals[0] === "child") {
  const [, how, name] = positionals;
  const chunk = new Uint8Array(CHUNK);
  if (how === "shm") {
    using shm = SharedMemory.open(name!);
    for (let i = 0; i < MIB; i++) shm.bytes.set(chunk.fill(i & 0xff), i * CHUNK);
  } else if (how === "pipe") {
    const w = Deno.stdout.writable.getWriter();
    for (let i = 0; i < MIB; i++) await w.write(chunk.slice().fill(i & 0xff));
    await w.close();
  }
  Deno.exit(0);
}

const self = new URL(import.meta.url).pathname;
function child(how: string, name = "-", stdout: "piped" | "null" = "null") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", self, "child", how, name, "--mib", `${MIB}`],
    stdout,
  }).spawn();
}

async function emptyChild(): Promise<number> {
  const t0 = performance.now();
  await child("none").status;
  return performance.now() - t0;
}

async function viaShm(): Promise<number> {
  const name = `/bench-copy-${Deno.pid}`;
  using shm = SharedMemory.create(name, { size: MIB * CHUNK });
  try {
    const t0 = performance.now();
    await child("shm", name).status;
    for (let i = 0; i < MIB; i++) {
      if (shm.bytes[i * CHUNK] !== (i & 0xff) || shm.bytes[i * CHUNK + CHUNK - 1] !== (i & 0xff)) {
        throw new Error("bad data");
      }
    }
    return performance.now() - t0;
  } finally {
    SharedMemory.unlink(name);
  }
}

async function viaPipe(): Promise<number> {
  const t0 = performance.now();
  const proc = child("pipe", "-", "piped");
  let received = 0;
  for await (const part of proc.stdout) {
    if (part[0] !== (Math.floor(received / CHUNK) & 0xff)) throw new Error("bad data");
    received += part.length;
  }
  await proc.status;
  if (received !== MIB * CHUNK) throw new Error(`got ${received} bytes`);
  return performance.now() - t0;
}

const base = Math.min(await emptyChild(), await emptyChild());
const shmMs = Math.min(await viaShm(), await viaShm()) - base;
const pipeMs = Math.min(await viaPipe(), await viaPipe()) - base;
const gbps = (ms: number) => ((MIB * CHUNK) / (ms / 1000) / 1e9).toFixed(2);
console.log(
  `\n${MIB} MiB from a child process to its parent (process start-up of ${
    base.toFixed(0)
  } ms subtracted)\n`,
);
console.log("| transport | time | GB/s | vs pipe |");
console.log("|---|---|---|---|");
console.log(`| Deno pipe (baseline) | ${pipeMs.toFixed(0)} ms | ${gbps(pipeMs)} | 1.00× |`);
console.log(
  `| SharedMemory | ${shmMs.toFixed(0)} ms | ${gbps(shmMs)} | ${
    (pipeMs / shmMs).toFixed(1)
  }× faster |`,
);
