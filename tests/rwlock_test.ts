import assert from "node:assert/strict";
import { SharedMemory } from "../posix/shared_memory.ts";
import { RwLock, rwLockSize } from "../sync/rwlock.ts";
import { assertNoLeftovers, test, uniqueName } from "./_helpers.ts";

const child = new URL("./fixtures/rw_child.ts", import.meta.url).pathname;
const A = 0, B = 1, TORN = 2, WRITES = 3, STUCK = 4, RECOVERED = 5;

function spawn(name: string, role: string, iters: number) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-ffi", child, name, role, `${iters}`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

test("RwLock: 2 writer and 2 reader processes never see a torn pair", async () => {
  const name = uniqueName("rw");
  using shm = SharedMemory.create(name, { size: rwLockSize() + 32 });
  try {
    using _lock = RwLock.init(shm, 0);
    const procs = [
      spawn(name, "writer", 3000),
      spawn(name, "writer", 3000),
      spawn(name, "reader", 3000),
      spawn(name, "reader", 3000),
    ];
    const outs = await Promise.all(procs.map((p) => p.output()));
    for (const o of outs) assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    const c = shm.view(Int32Array, rwLockSize(), 8);
    assert.equal(c[TORN], 0);
    assert.equal(c[WRITES], 6000);
    assert.equal(c[A], 6000);
    assert.equal(c[B], 6000);
  } finally {
    SharedMemory.unlink(name);
  }
});

test("RwLock: a writer killed while holding is recovered and reported once", async () => {
  const name = uniqueName("rwk");
  using shm = SharedMemory.create(name, { size: rwLockSize() + 32 });
  try {
    using lock = RwLock.init(shm, 0);
    const c = shm.view(Int32Array, rwLockSize(), 8);
    const victim = spawn(name, "dying-writer", 100);
    const deadline = Date.now() + 20_000;
    while (Atomics.load(c, STUCK) === 0) {
      assert.ok(Date.now() < deadline, "victim never got stuck");
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(lock.tryRead(), undefined);
    victim.kill("SIGKILL");
    await victim.output();
    const w = await lock.write({ timeout: 5000 });
    assert.equal(w.recovered, true);
    assert.equal(c[A], c[B]! + 1); // the dead writer's half-done update
    c[B] = c[A]!;
    w.release();
    using r = lock.readSync({ timeout: 1000 });
    assert.equal(r.recovered, false);
    assert.equal(c[RECOVERED], 0);
  } finally {
    SharedMemory.unlink(name);
  }
});

test("RwLock: readers share, a writer excludes, a waiting writer holds off new readers", async () => {
  const name = uniqueName("rws");
  using a = RwLock.create(name);
  using b = RwLock.open(name);
  using c = RwLock.open(name);
  try {
    const r1 = a.readSync();
    const r2 = b.tryRead();
    assert.ok(r2, "two handles read at once");
    assert.equal(c.tryWrite(), undefined);
    // A writer starts waiting: new readers queue behind it.
    const w = c.write({ timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(a.read({ timeout: 30 }), Deno.errors.TimedOut);
    r1.release();
    r2.release();
    const wg = await w;
    assert.equal(wg.mode, "write");
    assert.equal(a.tryRead(), undefined);
    assert.throws(() => b.writeSync({ timeout: 10 }), Deno.errors.TimedOut);
    wg.release();
    wg.release();
    const r3 = a.tryRead();
    assert.ok(r3);
    r3.release();
  } finally {
    RwLock.remove(name);
  }
});

test("RwLock: an aborted write wait does not keep readers out", async () => {
  const name = uniqueName("rwa");
  using a = RwLock.create(name);
  using b = RwLock.open(name);
  try {
    const r = a.readSync();
    const reason = new Error("enough");
    await assert.rejects(b.write({ signal: AbortSignal.timeout(30) }));
    await assert.rejects(b.write({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    const r2 = b.tryRead();
    assert.ok(r2, "the abandoned writer left no mark");
    r2.release();
    r.release();
  } finally {
    RwLock.remove(name);
  }
});

test("RwLock misuse gives typed errors", () => {
  const name = uniqueName("rwm");
  using shm = SharedMemory.create(name, { size: rwLockSize(4) });
  try {
    assert.throws(() => RwLock.init(shm, 4), RangeError);
    assert.throws(() => RwLock.init(shm, 0, { maxHolders: 0 }), RangeError);
    assert.throws(() => RwLock.init(shm, 0, { maxHolders: 64 }), RangeError);
    assert.throws(() => RwLock.attach(shm, 0), Deno.errors.InvalidData);
    const l = RwLock.init(shm, 0, { maxHolders: 4 });
    assert.throws(() => l.readSync({ timeout: -5 }), RangeError);
    l.close();
    assert.throws(() => l.tryRead(), Deno.errors.BadResource);
    assert.throws(() => RwLock.open(uniqueName("none")), Deno.errors.NotFound);
  } finally {
    SharedMemory.unlink(name);
  }
  assertNoLeftovers();
});
