import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { RwLock, rwLockSize } from "../sync/rwlock.ts";
import { assertNoLeftovers, test, uniqueName } from "./_helpers.ts";
import { fromFileUrl } from "@std/path";

const child = fromFileUrl(new URL("./fixtures/rw_child.ts", import.meta.url));
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
    for (const o of outs) assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
    const c = shm.view(Int32Array, rwLockSize(), 8);
    assertEquals(c[TORN], 0);
    assertEquals(c[WRITES], 6000);
    assertEquals(c[A], 6000);
    assertEquals(c[B], 6000);
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
      assert(Date.now() < deadline, "victim never got stuck");
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(lock.tryRead(), undefined);
    victim.kill("SIGKILL");
    await victim.output();
    const w = await lock.write({ timeout: 5000 });
    assertEquals(w.recovered, true);
    assertEquals(c[A], c[B]! + 1); // the dead writer's half-done update
    c[B] = c[A]!;
    w.release();
    using r = lock.readSync({ timeout: 1000 });
    assertEquals(r.recovered, false);
    assertEquals(c[RECOVERED], 0);
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
    assert(r2, "two handles read at once");
    assertEquals(c.tryWrite(), undefined);
    // A writer starts waiting: new readers queue behind it.
    const w = c.write({ timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    await assertRejects(() => a.read({ timeout: 30 }), Deno.errors.TimedOut);
    r1.release();
    r2.release();
    const wg = await w;
    assertEquals(wg.mode, "write");
    assertEquals(a.tryRead(), undefined);
    assertThrows(() => b.writeSync({ timeout: 10 }), Deno.errors.TimedOut);
    wg.release();
    wg.release();
    const r3 = a.tryRead();
    assert(r3);
    r3.release();
  } finally {
    RwLock.unlink(name);
  }
});

test("RwLock: an aborted write wait does not keep readers out", async () => {
  const name = uniqueName("rwa");
  using a = RwLock.create(name);
  using b = RwLock.open(name);
  try {
    const r = a.readSync();
    const reason = new Error("enough");
    await assertRejects(() => b.write({ signal: AbortSignal.timeout(30) }));
    assertStrictEquals(
      await assertRejects(() => b.write({ signal: AbortSignal.abort(reason) })),
      reason,
    );
    const r2 = b.tryRead();
    assert(r2, "the abandoned writer left no mark");
    r2.release();
    r.release();
  } finally {
    RwLock.unlink(name);
  }
});

test("RwLock misuse gives typed errors", () => {
  const name = uniqueName("rwm");
  using shm = SharedMemory.create(name, { size: rwLockSize(4) });
  try {
    assertThrows(() => RwLock.init(shm, 4), RangeError);
    assertThrows(() => RwLock.init(shm, 0, { maxHolders: 0 }), RangeError);
    assertThrows(() => RwLock.init(shm, 0, { maxHolders: 64 }), RangeError);
    assertThrows(() => RwLock.attach(shm, 0), Deno.errors.InvalidData);
    const l = RwLock.init(shm, 0, { maxHolders: 4 });
    assertThrows(() => l.readSync({ timeout: -5 }), RangeError);
    l.close();
    assertThrows(() => l.tryRead(), Deno.errors.BadResource);
    assertThrows(() => RwLock.open(uniqueName("none")), Deno.errors.NotFound);
  } finally {
    SharedMemory.unlink(name);
  }
  assertNoLeftovers();
});

test("RwLock.close() rejects pending read() and write() with BadResource, and every method after close throws BadResource", async () => {
  const name = uniqueName("rwcw");
  using a = RwLock.create(name);
  try {
    const b = RwLock.open(name);
    const c = RwLock.open(name);
    const held = a.writeSync();
    const reading = b.read();
    const writing = c.write();
    await new Promise((r) => setTimeout(r, 30));
    b.close();
    c.close();
    const r = await assertRejects(() => reading, Deno.errors.BadResource);
    assertMatch(r.message, /RwLock .* was closed while waiting to take a read lock/);
    const w = await assertRejects(() => writing, Deno.errors.BadResource);
    assertMatch(w.message, /RwLock .* was closed while waiting to take the write lock/);
    held.release();
    // The closed writer's waiting mark went with it: readers get in.
    const again = a.tryRead();
    assert(again);
    again.release();
    for (const h of [b, c]) {
      assertThrows(() => h.tryRead(), Deno.errors.BadResource);
      assertThrows(() => h.tryWrite(), Deno.errors.BadResource);
      assertThrows(() => h.readSync(), Deno.errors.BadResource);
      assertThrows(() => h.writeSync({ timeout: 10 }), Deno.errors.BadResource);
      await assertRejects(() => h.read(), Deno.errors.BadResource);
      await assertRejects(() => h.write({ timeout: 10 }), Deno.errors.BadResource);
    }
  } finally {
    RwLock.unlink(name);
  }
  assertNoLeftovers();
});
