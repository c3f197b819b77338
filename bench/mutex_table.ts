// Mutex costs beside C, measured in one run:
//   deno run -A bench/mutex_table.ts [--quick]
// Rows: uncontended lock+unlock (sync and async) and a two-process contended
// hand-off, for @ipc/shm's Mutex, a C process-shared pthread mutex and a C
// process-shared sem_t used as a lock (bench/c/locks.c, compiled here).
import { parseArgs } from "@std/cli/parse-args";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Mutex, MUTEX_SIZE } from "../sync/mutex.ts";

const values = parseArgs(Deno.args, { boolean: ["quick"], string: ["_"] });
const positionals = values._.map(String);
const N_UNCONTENDED = values.quick ? 1_000_000 : 10_000_000;
const N_CONTENDED = values.quick ? 100_000 : 1_000_000;

if (positionals[0] === "child") {
  // Contended child: <name> <n> <sync|async>; counter at MUTEX_SIZE, ready flag after it.
  const [, name, nArg, mode] = positionals;
  const n = Number(nArg);
  using shm = SharedMemory.open(name!);
  using mutex = Mutex.attach(shm, 0);
  const cells = shm.view(Int32Array, MUTEX_SIZE, 2);
  Atomics.add(cells, 1, 1);
  while (Atomics.load(cells, 1) < 2) { /* start together */ }
  if (mode === "sync") {
    for (let i = 0; i < n; i++) {
      const g = mutex.lockSync();
      cells[0]!++;
      g.release();
    }
  } else {
    for (let i = 0; i < n; i++) {
      const g = await mutex.lock();
      cells[0]!++;
      g.release();
    }
  }
  Deno.exit(0);
}

async function contendedDeno(mode: "sync" | "async"): Promise<number> {
  const name = `/bench-mutex-c-${Deno.pid}-${mode}`;
  using shm = SharedMemory.create(name, { size: MUTEX_SIZE + 8 });
  try {
    using _m = Mutex.init(shm, 0);
    const self = new URL(import.meta.url).pathname;
    const t0 = performance.now();
    const outs = await Promise.all([0, 1].map(() =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", self, "child", name, `${N_CONTENDED}`, mode],
        stderr: "inherit",
      }).output()
    ));
    const elapsed = performance.now() - t0;
    for (const o of outs) if (o.code !== 0) throw new Error("child failed");
    const count = shm.view(Int32Array, MUTEX_SIZE, 1)[0];
    if (count !== 2 * N_CONTENDED) throw new Error(`lost updates: ${count}`);
    // Process start-up is included; subtract an empty run's cost.
    return (elapsed * 1e6) / (2 * N_CONTENDED);
  } finally {
    SharedMemory.unlink(name);
  }
}

async function startupCost(): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    [0, 1].map(() => new Deno.Command(Deno.execPath(), { args: ["eval", "0"] }).output()),
  );
  return performance.now() - t0;
}

async function c(args: string[]): Promise<number | undefined> {
  const src = new URL("./c/locks.c", import.meta.url).pathname;
  const exe = `${await Deno.makeTempDir()}/locks`;
  try {
    const cc = await new Deno.Command("cc", { args: ["-O2", "-pthread", "-o", exe, src] }).output();
    if (cc.code !== 0) return undefined;
    const out = await new Deno.Command(exe, { args }).output();
    return Number(new TextDecoder().decode(out.stdout));
  } catch {
    return undefined;
  } finally {
    await Deno.remove(exe, { recursive: true }).catch(() => {});
  }
}

const name = `/bench-mutex-${Deno.pid}`;
const shm = SharedMemory.create(name, { size: MUTEX_SIZE + 8 });
SharedMemory.unlink(name);
const mutex = Mutex.init(shm, 0);

// Each case gets its own loop: a shared measure(fn) helper would make the call
// site megamorphic and charge every case for an un-inlined closure call.
function timeSync(n: number): number {
  for (let i = 0; i < n / 10; i++) mutex.lockSync().release();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) mutex.lockSync().release();
  return ((performance.now() - t0) * 1e6) / n;
}
function timeTry(n: number): number {
  for (let i = 0; i < n / 10; i++) mutex.tryLock()!.release();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) mutex.tryLock()!.release();
  return ((performance.now() - t0) * 1e6) / n;
}
async function timeAsync(n: number): Promise<number> {
  for (let i = 0; i < n / 10; i++) (await mutex.lock()).release();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) (await mutex.lock()).release();
  return ((performance.now() - t0) * 1e6) / n;
}
function timeFloor(n: number, word: Int32Array): number {
  for (let i = 0; i < n / 10; i++) {
    Atomics.compareExchange(word, 0, 0, 1);
    Atomics.compareExchange(word, 0, 1, 0);
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    Atomics.compareExchange(word, 0, 0, 1);
    Atomics.compareExchange(word, 0, 1, 0);
  }
  return ((performance.now() - t0) * 1e6) / n;
}
const dSync = timeSync(N_UNCONTENDED);
const dTry = timeTry(N_UNCONTENDED);
const dAsync = await timeAsync(N_UNCONTENDED / 10);
const floor = timeFloor(N_UNCONTENDED, shm.view(Int32Array, MUTEX_SIZE, 1));
mutex.close();
shm.close();

const cPthread = await c(["pthread", "uncontended", `${N_UNCONTENDED}`]);
const cSem = await c(["sem", "uncontended", `${N_UNCONTENDED}`]);
const cPthreadC = await c(["pthread", "contended", `${N_CONTENDED}`]);
const cSemC = await c(["sem", "contended", `${N_CONTENDED}`]);
const startup = await startupCost();
const dContSync = (await contendedDeno("sync")) - (startup * 1e6) / (2 * N_CONTENDED);
const dContAsync = (await contendedDeno("async")) - (startup * 1e6) / (2 * N_CONTENDED);

const fmt = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(1)} ns`);
const ratio = (
  v: number,
  base: number | undefined,
) => (base === undefined ? "n/a" : `${(v / base).toFixed(2)}×`);
console.log(
  `\nMutex, ${Deno.build.arch}, ${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}\n`,
);
console.log(
  "| case | @ipc/shm Mutex | C pthread_mutex (pshared) | C sem_t as lock | Mutex ÷ pthread |",
);
console.log("|---|---|---|---|---|");
console.log(
  `| uncontended lockSync()+release() | ${fmt(dSync)} | ${fmt(cPthread)} | ${fmt(cSem)} | ${
    ratio(dSync, cPthread)
  } |`,
);
console.log(
  `| uncontended tryLock()+release() | ${fmt(dTry)} | ${fmt(cPthread)} | ${fmt(cSem)} | ${
    ratio(dTry, cPthread)
  } |`,
);
console.log(
  `| uncontended await lock()+release() | ${fmt(dAsync)} | ${fmt(cPthread)} | ${fmt(cSem)} | ${
    ratio(dAsync, cPthread)
  } |`,
);
console.log(
  `| 2 processes contending, lockSync() (per lock) | ${fmt(dContSync)} | ${fmt(cPthreadC)} | ${
    fmt(cSemC)
  } | ${ratio(dContSync, cPthreadC)} |`,
);
console.log(
  `| 2 processes contending, await lock() (per lock) | ${fmt(dContAsync)} | ${fmt(cPthreadC)} | ${
    fmt(cSemC)
  } | ${ratio(dContAsync, cPthreadC)} |`,
);
console.log(`\nFloor: two Atomics.compareExchange (lock + unlock) from Deno = ${fmt(floor)}.`);
