/**
 * Model tests (fast-check): random sequences of lock, tryLock, release,
 * timed-out waits, close and kill (a child process killed while it holds the
 * lock) against a model as simple as the promise: at most one holder of a
 * Mutex, and a dead holder's lock is taken over with `recovered: true`; never
 * more than N permits of a sync.Semaphore held, and a dead holder's permits
 * come back.
 *
 * The seed is printed; replay with `MODEL_SEED=<seed>`.
 *
 * @module
 */

import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { fromFileUrl } from "@std/path";
import { sync } from "../mod.ts";
import { test, uniqueName } from "./_helpers.ts";

const holderScript = fromFileUrl(new URL("./fixtures/model_holder.ts", import.meta.url));
const seed = Number(Deno.env.get("MODEL_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = 25;
const MAX_COMMANDS = 12;

let kills = 0;

/** Starts a child that takes `name`, waits until it holds it, and kills it. */
async function killedHolder(kind: "mutex" | "permit", name: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", holderScript, kind, name],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("held")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  child.kill("SIGKILL");
  reader.releaseLock();
  await child.stdout.cancel();
  const status = await child.status; // reaped: not even a zombie holds it now
  kills++;
  assert(text.includes("held"), `the holder never took ${name} (exit ${status.code})`);
}

// ---------- Mutex ----------

interface MutexModel {
  /** Handle index that holds, "dead" for a killed child, or null. */
  holder: number | "dead" | null;
}

interface MutexReal {
  name: string;
  handles: sync.Mutex[];
  guards: (sync.MutexGuard | undefined)[];
}

class TryLock implements fc.AsyncCommand<MutexModel, MutexReal> {
  constructor(readonly h: number) {}
  check = () => true;
  async run(m: MutexModel, r: MutexReal) {
    const g = r.handles[this.h]!.tryLock();
    if (m.holder === null) {
      assert(g !== undefined && !g.recovered, "a free mutex was not taken");
    } else if (m.holder === "dead") {
      // A try looks for a dead owner at most every 5 ms: either answer is right.
      if (g === undefined) return;
      assert(g.recovered, "a dead owner's lock was taken without recovered: true");
    } else {
      assertEquals(g, undefined, "two holders at once");
      return;
    }
    r.guards[this.h] = g;
    m.holder = this.h;
    await Promise.resolve();
  }
  toString = () => `tryLock(${this.h})`;
}

class Lock implements fc.AsyncCommand<MutexModel, MutexReal> {
  constructor(readonly h: number, readonly async: boolean) {}
  check = () => true;
  async run(m: MutexModel, r: MutexReal) {
    const handle = r.handles[this.h]!;
    const take = () => this.async ? handle.lock({ timeout: 20 }) : handle.lockSync({ timeout: 20 });
    if (typeof m.holder === "number") {
      let err: unknown;
      try {
        await take();
      } catch (e) {
        err = e;
      }
      assert(err instanceof Deno.errors.TimedOut, `expected TimedOut, got ${err}`);
      return;
    }
    const g = await take();
    assertEquals(g.recovered, m.holder === "dead", "recovered must say the owner died");
    r.guards[this.h] = g;
    m.holder = this.h;
  }
  toString = () => `${this.async ? "lock" : "lockSync"}(${this.h}, 20 ms)`;
}

class Release implements fc.AsyncCommand<MutexModel, MutexReal> {
  constructor(readonly h: number) {}
  check = (m: Readonly<MutexModel>) => m.holder === this.h;
  async run(m: MutexModel, r: MutexReal) {
    r.guards[this.h]!.release();
    r.guards[this.h] = undefined;
    m.holder = null;
    await Promise.resolve();
  }
  toString = () => `release(${this.h})`;
}

class CloseMutex implements fc.AsyncCommand<MutexModel, MutexReal> {
  constructor(readonly h: number) {}
  check = () => true;
  async run(m: MutexModel, r: MutexReal) {
    const handle = r.handles[this.h]!;
    handle.close();
    assertThrows(() => handle.tryLock(), Deno.errors.BadResource);
    if (m.holder === this.h) m.holder = null; // close gives the lock back
    r.guards[this.h] = undefined;
    r.handles[this.h] = sync.Mutex.open(r.name);
    await Promise.resolve();
  }
  toString = () => `close(${this.h}) and reopen`;
}

class KillMutexHolder implements fc.AsyncCommand<MutexModel, MutexReal> {
  check = (m: Readonly<MutexModel>) => m.holder === null;
  async run(m: MutexModel, r: MutexReal) {
    await killedHolder("mutex", r.name);
    m.holder = "dead";
  }
  toString = () => "kill(a child holding it)";
}

test("model: Mutex lock/tryLock/release/timeout/close/kill never has two holders, and recovers a dead one", async () => {
  console.log(`Mutex model seed ${seed} (replay: MODEL_SEED=${seed})`);
  const h = fc.integer({ min: 0, max: 1 });
  const commands = [
    h.map((i) => new TryLock(i)),
    fc.tuple(h, fc.boolean()).map(([i, a]) => new Lock(i, a)),
    h.map((i) => new Release(i)),
    h.map((i) => new CloseMutex(i)),
    fc.constant(new KillMutexHolder()),
  ];
  let steps = 0;
  kills = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: MAX_COMMANDS }), async (cmds) => {
      const name = uniqueName("model-mx");
      const first = sync.Mutex.create(name);
      const r: MutexReal = { name, handles: [first, sync.Mutex.open(name)], guards: [] };
      try {
        await fc.asyncModelRun(() => ({ model: { holder: null }, real: r }), cmds);
        steps += [...cmds].length;
      } finally {
        for (const handle of r.handles) handle.close();
        sync.Mutex.unlink(name);
      }
    }),
    { seed, numRuns: RUNS },
  );
  console.log(
    `Mutex model: ${RUNS} sequences, ${steps} commands, ${kills} holders killed; double holders 0`,
  );
});

// ---------- sync.Semaphore ----------

const PERMITS = 2;

interface PoolModel {
  held: number[];
  dead: number;
}

interface PoolReal {
  name: string;
  handles: sync.Semaphore[];
  permits: sync.Permit[][];
}

function free(m: Readonly<PoolModel>): number {
  return PERMITS - m.held[0]! - m.held[1]! - m.dead;
}

class Acquire implements fc.AsyncCommand<PoolModel, PoolReal> {
  constructor(readonly h: number, readonly how: "try" | "sync" | "async") {}
  check = () => true;
  async run(m: PoolModel, r: PoolReal) {
    const handle = r.handles[this.h]!;
    let p: sync.Permit | undefined;
    let err: unknown;
    try {
      p = this.how === "try"
        ? handle.tryAcquire()
        : this.how === "sync"
        ? handle.acquireSync({ timeout: 20 })
        : await handle.acquire({ timeout: 20 });
    } catch (e) {
      err = e;
    }
    if (free(m) === 0 && m.dead === 0) {
      if (this.how === "try") assertEquals(p, undefined, `more than ${PERMITS} permits held`);
      else assert(err instanceof Deno.errors.TimedOut, `expected TimedOut, got ${err ?? p}`);
      return;
    }
    assert(p !== undefined, `a permit was free (model ${JSON.stringify(m)}) but: ${err}`);
    // Taking the last free one, or one a dead holder had: either way dead ones were recovered
    // only when needed.
    if (free(m) === 0) m.dead = 0;
    m.held[this.h]!++;
    r.permits[this.h]!.push(p);
  }
  toString = () => `${this.how}Acquire(${this.h})`;
}

class ReleasePermit implements fc.AsyncCommand<PoolModel, PoolReal> {
  constructor(readonly h: number) {}
  check = (m: Readonly<PoolModel>) => m.held[this.h]! > 0;
  async run(m: PoolModel, r: PoolReal) {
    r.permits[this.h]!.pop()!.release();
    m.held[this.h]!--;
    await Promise.resolve();
  }
  toString = () => `release(${this.h})`;
}

class ClosePool implements fc.AsyncCommand<PoolModel, PoolReal> {
  constructor(readonly h: number) {}
  check = () => true;
  async run(m: PoolModel, r: PoolReal) {
    r.handles[this.h]!.close();
    m.held[this.h] = 0;
    r.permits[this.h] = [];
    r.handles[this.h] = sync.Semaphore.open(r.name);
    await Promise.resolve();
  }
  toString = () => `close(${this.h}) and reopen`;
}

class KillPermitHolder implements fc.AsyncCommand<PoolModel, PoolReal> {
  check = (m: Readonly<PoolModel>) => free(m) > 0 && m.dead === 0;
  async run(m: PoolModel, r: PoolReal) {
    await killedHolder("permit", r.name);
    m.dead++;
  }
  toString = () => "kill(a child holding a permit)";
}

test("model: sync.Semaphore never hands out more than N permits, and takes back a dead holder's", async () => {
  console.log(`Semaphore model seed ${seed} (replay: MODEL_SEED=${seed})`);
  const h = fc.integer({ min: 0, max: 1 });
  const commands = [
    fc.tuple(h, fc.constantFrom("try", "sync", "async") as fc.Arbitrary<"try" | "sync" | "async">)
      .map(([i, how]) => new Acquire(i, how)),
    h.map((i) => new ReleasePermit(i)),
    h.map((i) => new ClosePool(i)),
    fc.constant(new KillPermitHolder()),
  ];
  let steps = 0;
  kills = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: MAX_COMMANDS }), async (cmds) => {
      const name = uniqueName("model-sem");
      const first = sync.Semaphore.create(name, { permits: PERMITS, maxHolders: 8 });
      const r: PoolReal = {
        name,
        handles: [first, sync.Semaphore.open(name)],
        permits: [[], []],
      };
      try {
        await fc.asyncModelRun(() => ({ model: { held: [0, 0], dead: 0 }, real: r }), cmds);
        steps += [...cmds].length;
      } finally {
        for (const handle of r.handles) handle.close();
        sync.Semaphore.unlink(name);
      }
    }),
    { seed, numRuns: RUNS },
  );
  console.log(
    `Semaphore model: ${RUNS} sequences, ${steps} commands, ${kills} holders killed; ` +
      `over-capacity holds 0`,
  );
});
