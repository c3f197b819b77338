// Round trip through two semaphores between two processes, beside C in the same run:
//   deno run -A bench/semaphore_pingpong.ts [--rounds N] [--json bench/results/semaphore.json]
// --json also saves the figures for bench/charts.ts (docs/charts/*.svg).
// The C baseline (bench/c/sem_pingpong.c, compiled here) uses blocking
// sem_wait and, in a second row, the same spin-then-block strategy as wait().
import { parseArgs } from "@std/cli/parse-args";
import { SharedMemory } from "../posix/shared_memory.ts";
import { SEM_SIZE, Semaphore } from "../posix/semaphore.ts";

const values = parseArgs(Deno.args, {
  string: ["_", "rounds", "json"],
  default: { rounds: "5000" },
});
const positionals = values._.map(String);
const ROUNDS = Number(values.rounds);
const WARMUP = 200;

type Mode = "waitSync" | "wait" | "wait-nospin" | "waitSync-nospin";

async function take(sem: Semaphore, mode: Mode): Promise<void> {
  switch (mode) {
    case "waitSync":
      return sem.waitSync();
    case "waitSync-nospin":
      return sem.waitSync({ spinMicros: 0 });
    case "wait":
      return await sem.wait();
    case "wait-nospin":
      return await sem.wait({ spinMicros: 0 });
  }
}

if (positionals[0] === "child") {
  const [, name, mode, n] = positionals;
  using shm = SharedMemory.open(name!);
  using ping = Semaphore.attach(shm, 0);
  using pong = Semaphore.attach(shm, SEM_SIZE);
  for (let i = 0; i < Number(n); i++) {
    await take(ping, mode as Mode);
    pong.post();
  }
  Deno.exit(0);
}

async function deno(mode: Mode): Promise<number> {
  const name = `/bench-sem-${Deno.pid}-${mode}`;
  using shm = SharedMemory.create(name, { size: 2 * SEM_SIZE });
  try {
    using ping = Semaphore.init(shm, 0);
    using pong = Semaphore.init(shm, SEM_SIZE);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "child",
        name,
        mode,
        `${ROUNDS + WARMUP}`,
      ],
    }).spawn();
    for (let i = 0; i < WARMUP; i++) {
      ping.post();
      await take(pong, mode);
    }
    const t0 = performance.now();
    for (let i = 0; i < ROUNDS; i++) {
      ping.post();
      await take(pong, mode);
    }
    const us = ((performance.now() - t0) * 1000) / ROUNDS;
    await child.status;
    return us;
  } finally {
    SharedMemory.unlink(name);
  }
}

async function c(spinUs: number): Promise<number | undefined> {
  const dir = await Deno.makeTempDir();
  try {
    const src = new URL("./c/sem_pingpong.c", import.meta.url).pathname;
    const built = await new Deno.Command("cc", {
      args: ["-O2", "-pthread", "-o", `${dir}/pp`, src],
    }).output();
    if (built.code !== 0) return undefined;
    const out = await new Deno.Command(`${dir}/pp`, { args: [`${ROUNDS}`, `${spinUs}`] }).output();
    return Number(new TextDecoder().decode(out.stdout));
  } catch {
    return undefined;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const cBlocking = await c(0);
const cSpin = await c(20);
const rows: [string, number][] = [
  ["Deno waitSync() (adaptive spin, then futex)", await deno("waitSync")],
  ["Deno waitSync({ spinMicros: 0 })", await deno("waitSync-nospin")],
  ["Deno await wait() (adaptive spin, then park)", await deno("wait")],
  ["Deno await wait({ spinMicros: 0 })", await deno("wait-nospin")],
];
const fmt = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(2)} µs`);
console.log(
  `\nSemaphore ping-pong between two processes, ${ROUNDS} round trips, ${navigator.hardwareConcurrency} CPUs\n`,
);
console.log("| round trip | time | ÷ C blocking sem_wait |");
console.log("|---|---|---|");
console.log(`| C sem_post + blocking sem_wait | ${fmt(cBlocking)} | 1.00× |`);
console.log(
  `| C sem_post + spin 20 µs, then sem_wait | ${fmt(cSpin)} | ${
    cBlocking && cSpin ? (cSpin / cBlocking).toFixed(2) : "n/a"
  }× |`,
);
for (const [label, v] of rows) {
  console.log(`| ${label} | ${fmt(v)} | ${cBlocking ? (v / cBlocking).toFixed(2) : "n/a"}× |`);
}

if (values.json !== undefined) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify(
      {
        bench: "semaphore",
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        arch: Deno.build.arch,
        cpus: navigator.hardwareConcurrency,
        rounds: ROUNDS,
        // Other processes share these CPUs: the figures mean little without it.
        loadAverage: Deno.loadavg(),
        roundTrip: {
          unit: "µs",
          rows: [
            { label: "C sem_post + blocking sem_wait", value: cBlocking ?? null, c: true },
            { label: "C sem_post + spin 20 µs, then sem_wait", value: cSpin ?? null, c: true },
            ...rows.map(([label, value]) => ({
              // The table's label without "Deno " and its parenthesis, short enough for a chart.
              label: `posix.Semaphore ${label.replace(/^Deno | \(.*\)$/g, "")}`,
              value,
            })),
          ],
        },
      },
      null,
      2,
    ) + "\n",
  );
}
