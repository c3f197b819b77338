/**
 * The corruption suite of issue #14: a child process overwrites each word of
 * a live Mutex, RwLock, sync.Semaphore and a named and an in-memory
 * posix.Semaphore (lock words, state words, parker sem_t bytes, holder table,
 * counts) with random and boundary values, while two other children use the
 * objects. Every outcome must be a success or a typed error; no child may die
 * of a signal or hang; and no two holders may be inside at once except where
 * the corrupter forged the very word that says who holds the lock (writing 0
 * to a held lock word frees it: no lock protocol can tell that from a release).
 *
 * The seed is printed; replay with `CORRUPTION_SEED=<seed>`.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { fromFileUrl } from "@std/path";
import { posix, SEM_SIZE, SharedMemory, sync } from "../mod.ts";
import { test, uniqueName } from "./_helpers.ts";

const child = fromFileUrl(new URL("./fixtures/corruption_child.ts", import.meta.url));
const seed = Number(Deno.env.get("CORRUPTION_SEED") ?? Math.floor(Math.random() * 2 ** 31) + 1);
/** A child still running this long after it started has hung. */
const HANG_MS = 30_000;

interface Ran {
  code: number;
  signal: Deno.Signal | null;
  hung: boolean;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<Ran> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", child, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    proc.kill("SIGKILL");
  }, HANG_MS);
  const out = await proc.output();
  clearTimeout(timer);
  const d = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    hung,
    stdout: d.decode(out.stdout),
    stderr: d.decode(out.stderr),
  };
}

test("corruption suite: overwriting any word of a live lock or semaphore gives success or a typed error, never a crash, hang or double holder", async () => {
  console.log(`corruption suite seed ${seed} (replay: CORRUPTION_SEED=${seed})`);
  const base = uniqueName("corrupt");
  const names = {
    mutex: `${base}-m`,
    rw: `${base}-rw`,
    pool: `${base}-p`,
    named: `${base}-n`,
    mem: `${base}-mem`,
  };
  const ctlName = `${base}-ctl`;
  const made: (() => void)[] = [];
  try {
    const ctl = SharedMemory.create(ctlName, { size: 128 });
    made.push(() => (ctl.close(), SharedMemory.unlink(ctlName)));
    const mutex = sync.Mutex.create(names.mutex);
    made.push(() => (mutex.close(), sync.Mutex.unlink(names.mutex)));
    const rw = sync.RwLock.create(names.rw, { maxHolders: 8 });
    made.push(() => (rw.close(), sync.RwLock.unlink(names.rw)));
    const pool = sync.Semaphore.create(names.pool, { permits: 2, maxHolders: 8 });
    made.push(() => (pool.close(), sync.Semaphore.unlink(names.pool)));
    const named = posix.Semaphore.create(names.named, { value: 1 });
    made.push(() => (named.close(), posix.Semaphore.unlink(names.named)));
    const memShm = SharedMemory.create(names.mem, { size: SEM_SIZE });
    made.push(() => (memShm.close(), SharedMemory.unlink(names.mem)));
    posix.Semaphore.init(memShm, 0, { value: 1 }).close();

    const json = JSON.stringify(names);
    const [corrupter, ...users] = await Promise.all([
      run(["corrupt", json, ctlName, String(seed)]),
      run(["use", json, ctlName, String(seed + 1)]),
      run(["use", json, ctlName, String(seed + 2)]),
    ]);
    const all = [corrupter!, ...users];
    for (const r of all) {
      assert(
        !r.hung,
        `a child hung (users' last operations: ${ctl.view(Int32Array, 64, 2)}):\n${r.stderr}`,
      );
      assertEquals(r.signal, null, `a child died of ${r.signal}:\n${r.stderr}`);
      assertEquals(r.code, 0, `a child exited ${r.code}:\n${r.stderr}`);
    }
    const rounds = JSON.parse(corrupter!.stdout).rounds as number;
    const outcomes: Record<string, number> = {};
    let double = 0;
    let doubleForged = 0;
    for (const u of users) {
      const r = JSON.parse(u.stdout.trim().split("\n").at(-1)!);
      for (const [k, n] of Object.entries(r.outcomes as Record<string, number>)) {
        outcomes[k] = (outcomes[k] ?? 0) + n;
      }
      double += r.double;
      doubleForged += r.doubleForged;
    }
    const cases = Object.values(outcomes).reduce((a, b) => a + b, 0);
    console.log(
      `corruption: ${rounds} overwrites, ${cases} operations: ${JSON.stringify(outcomes)}; ` +
        `crashes 0, hangs 0, double holders ${double} ` +
        `(and ${doubleForged} while the holder word itself was forged)`,
    );
    const untyped = Object.keys(outcomes).filter((k) => k.startsWith("untyped"));
    assertEquals(untyped, [], "untyped outcomes");
    assertEquals(double, 0, "two holders at once without a forged ownership word");
    assert((outcomes.ok ?? 0) > 0 && (outcomes.InvalidData ?? 0) > 0, JSON.stringify(outcomes));
  } finally {
    for (const undo of made.reverse()) {
      try {
        undo();
      } catch { /* already gone */ }
    }
  }
});
