import { fromFileUrl } from "@std/path";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import type { ErrnoError } from "../ffi/errno.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Mutex, MUTEX_SIZE } from "../sync/mutex.ts";
import { assertNoLeftovers, test, uniqueName } from "./_helpers.ts";

const child = fromFileUrl(new URL("./fixtures/counter_child.ts", import.meta.url));
const COUNTER = 1, DIRTY = 2, STUCK = 3, RECOVERED = 4, DONE = 8;

function spawnCounter(name: string, index: number, children: number, iters: number, mode: string) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-ffi",
      child,
      name,
      `${index}`,
      `${children}`,
      `${iters}`,
      mode,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function runCounters(children: number, iters: number, mode: string) {
  const name = uniqueName("mxc");
  using shm = SharedMemory.create(name, { size: MUTEX_SIZE + 64 * 4 });
  try {
    using _mutex = Mutex.init(shm, 0);
    const procs = Array.from(
      { length: children },
      (_, i) => spawnCounter(name, i, children, iters, mode),
    );
    const outs = await Promise.all(procs.map((p) => p.output()));
    for (const o of outs) assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
    return shm.view(Int32Array, MUTEX_SIZE).slice();
  } finally {
    SharedMemory.unlink(name);
  }
}

test("Mutex: 3 processes × 20,000 locked increments end at exactly 60,000", async () => {
  const cells = await runCounters(3, 20_000, "locked");
  assertEquals(cells[COUNTER], 60_000);
  assertEquals(cells[DIRTY], 0);
});

test("Mutex: the same increments without the lock lose updates (the test above can fail)", async () => {
  // Losing an update needs two processes on two CPUs at once; on a loaded machine the scheduler
  // may run them one after another for a whole attempt, so a few attempts are allowed.
  const totals: number[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const cells = await runCounters(3, 2_000_000, "unlocked");
    totals.push(cells[COUNTER]!);
    if (cells[COUNTER]! < 6_000_000) return;
  }
  assert(false, `expected lost updates in one of 4 attempts, got ${totals.join(", ")}`);
});

test("Mutex: a holder killed with SIGKILL is recovered and the others finish consistently", async () => {
  const name = uniqueName("mxk");
  using shm = SharedMemory.create(name, { size: MUTEX_SIZE + 64 * 4 });
  try {
    using mutex = Mutex.init(shm, 0);
    const cells = shm.view(Int32Array, MUTEX_SIZE);
    const iters = 2_000;
    const victim = spawnCounter(name, 0, 3, iters, "victim");
    const others = [1, 2].map((i) => spawnCounter(name, i, 3, iters, "locked-after-victim"));
    const deadline = Date.now() + 20_000;
    while (Atomics.load(cells, STUCK) === 0) {
      assert(Date.now() < deadline, "victim never took the lock");
      await new Promise((r) => setTimeout(r, 5));
    }
    victim.kill("SIGKILL");
    const killed = await victim.output();
    assertEquals(killed.signal, "SIGKILL");
    const outs = await Promise.all(others.map((p) => p.output()));
    for (const o of outs) assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
    assert(cells[RECOVERED]! >= 1, "nobody was told the lock was recovered");
    assert(mutex.recoveries >= 1);
    const done = cells[DONE]! + cells[DONE + 1]! + cells[DONE + 2]!;
    assertEquals(cells[DONE + 1], iters);
    assertEquals(cells[DONE + 2], iters);
    assertEquals(cells[DONE], iters / 2);
    assertEquals(cells[COUNTER], done);
    assertEquals(cells[DIRTY], 0);
    // The lock works normally afterwards.
    using g = mutex.lockSync({ timeout: 1000 });
    assertEquals(g.recovered, false);
  } finally {
    SharedMemory.unlink(name);
  }
});

test("Mutex: a dead holder is recovered even before its parent reaps it (zombie)", async () => {
  const name = uniqueName("mxz");
  using mutex = Mutex.create(name);
  try {
    const script = `
      import { Mutex } from ${JSON.stringify(new URL("../sync/mutex.ts", import.meta.url).href)};
      const m = Mutex.open(${JSON.stringify(name)});
      m.lockSync();
      console.log("held");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    `;
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = proc.stdout.getReader();
    const first = await reader.read();
    assertMatch(new TextDecoder().decode(first.value), /held/);
    assertEquals(mutex.tryLock(), undefined);
    proc.kill("SIGKILL");
    // Do not reap yet: the child stays a zombie while we lock.
    const t0 = performance.now();
    using g = await mutex.lock({ timeout: 5000 });
    assertEquals(g.recovered, true);
    assert(performance.now() - t0 < 5000);
    reader.releaseLock();
    await proc.stdout.cancel();
    await proc.status;
  } finally {
    Mutex.unlink(name);
  }
});

test("Mutex: two handles in one thread contend like two processes", () => {
  const name = uniqueName("mxh");
  using a = Mutex.create(name);
  using b = Mutex.open(name);
  try {
    const g = a.tryLock();
    assert(g);
    assertEquals(b.tryLock(), undefined);
    assertThrows(() => b.lockSync({ timeout: 0 }), Deno.errors.TimedOut);
    assertThrows(() => b.lockSync({ timeout: 20 }), Deno.errors.TimedOut);
    g.release();
    g.release(); // idempotent
    const h = b.tryLock();
    assert(h);
    assertEquals(a.tryLock(), undefined);
    h.release();
  } finally {
    Mutex.unlink(name);
  }
});

test("Mutex.lock() times out, and an aborted lock() rejects with signal.reason", async () => {
  const name = uniqueName("mxa");
  using a = Mutex.create(name);
  using b = Mutex.open(name);
  try {
    using _held = await a.lock();
    await assertRejects(() => b.lock({ timeout: 30 }), Deno.errors.TimedOut);
    const ac = new AbortController();
    const reason = new Error("stop waiting");
    const p = b.lock({ signal: ac.signal });
    setTimeout(() => ac.abort(reason), 20);
    assertStrictEquals(await assertRejects(() => p), reason);
    const pre = AbortSignal.abort(reason);
    assertStrictEquals(await assertRejects(() => b.lock({ signal: pre })), reason);
  } finally {
    Mutex.unlink(name);
  }
});

test("Mutex.lock() waiting in the event loop is woken by an unlock", async () => {
  const name = uniqueName("mxw");
  using a = Mutex.create(name);
  using b = Mutex.open(name);
  try {
    const held = a.lockSync();
    let got = false;
    const p = b.lock({ timeout: 5000 }).then((g) => {
      got = true;
      return g;
    });
    await new Promise((r) => setTimeout(r, 30));
    assertEquals(got, false);
    held.release();
    const g = await p;
    assertEquals(g.recovered, false);
    g.release();
  } finally {
    Mutex.unlink(name);
  }
});

test("Mutex: Workers of one process increment a shared counter exactly", async () => {
  const name = uniqueName("mxwk");
  using shm = SharedMemory.create(name, { size: MUTEX_SIZE + 8 });
  try {
    using _m = Mutex.init(shm, 0);
    const src = `
      import { SharedMemory } from ${
      JSON.stringify(new URL("../posix/shared_memory.ts", import.meta.url).href)
    };
      import { Mutex, MUTEX_SIZE } from ${
      JSON.stringify(new URL("../sync/mutex.ts", import.meta.url).href)
    };
      self.onmessage = async (e) => {
        using shm = SharedMemory.open(e.data.name);
        using m = Mutex.attach(shm, 0);
        const c = shm.view(Int32Array, MUTEX_SIZE, 1);
        for (let i = 0; i < e.data.n; i++) {
          using _g = i % 2 ? m.lockSync({ timeout: 10000 }) : await m.lock({ timeout: 10000 });
          c[0] = c[0] + 1;
        }
        self.postMessage("done");
        self.close();
      };
    `;
    const url = `data:application/javascript;base64,${btoa(src)}`;
    const workers = [0, 1].map(() => new Worker(url, { type: "module" }));
    await Promise.all(workers.map((w) =>
      new Promise<void>((resolve, reject) => {
        w.onmessage = () => resolve();
        w.onerror = (e) => reject(e.message);
        w.postMessage({ name, n: 20_000 });
      })
    ));
    for (const w of workers) w.terminate();
    assertEquals(shm.view(Int32Array, MUTEX_SIZE, 1)[0], 40_000);
  } finally {
    SharedMemory.unlink(name);
  }
});

test("Mutex misuse gives typed errors", () => {
  const name = uniqueName("mxm");
  using shm = SharedMemory.create(name, { size: 256 });
  try {
    assertThrows(() => Mutex.init(shm, 4), RangeError);
    assertThrows(() => Mutex.init(shm, 256), RangeError);
    assertThrows(() => Mutex.init(shm, -8), RangeError);
    assertThrows(() => Mutex.attach(shm, 64), Deno.errors.InvalidData);
    const m = Mutex.init(shm, 0);
    assertThrows(() => m.lockSync({ timeout: -1 }), RangeError);
    assertThrows(() => m.lockSync({ timeout: "1" as unknown as number }), TypeError);
    const g = m.lockSync();
    // Someone else's write takes the word away: releasing is refused with EPERM.
    Atomics.store(shm.view(Int32Array, 0, 1), 0, 1);
    const stolen = assertThrows(() => g.release(), Deno.errors.PermissionDenied);
    assertEquals((stolen as ErrnoError).code, "EPERM");
    Atomics.store(shm.view(Int32Array, 0, 1), 0, 0);
    m.close();
    m.close();
    assertEquals(m.closed, true);
    assertThrows(() => m.tryLock(), Deno.errors.BadResource);
    assertThrows(() => m.lockSync(), Deno.errors.BadResource);
    const m2 = Mutex.attach(shm, 0);
    shm.close();
    assertThrows(() => m2.tryLock(), Deno.errors.BadResource);
    assertThrows(() => Mutex.open(uniqueName("missing")), Deno.errors.NotFound);
    assertThrows(() => Mutex.create("no-slash"), TypeError);
  } finally {
    SharedMemory.unlink(name);
  }
  assertThrows(() => Mutex.create(name, { mode: 0o1000 }), RangeError);
});

test("Mutex.close() while holding the lock releases it for the others", () => {
  const name = uniqueName("mxcl");
  using b = Mutex.create(name);
  try {
    const a = Mutex.open(name);
    const g = a.lockSync();
    a.close();
    g.release(); // a stale guard is harmless
    const h = b.tryLock();
    assert(h);
    h.release();
  } finally {
    Mutex.unlink(name);
  }
  assertNoLeftovers();
});

for (const where of ["named", "in a mapping"] as const) {
  test(`Mutex (${where}).close() rejects a pending lock() with BadResource, and every method after close throws BadResource`, async () => {
    const name = uniqueName("mxcw");
    using shm = SharedMemory.create(name, { size: MUTEX_SIZE });
    shm.unlink();
    const named = uniqueName("mxcwn");
    using a = where === "named" ? Mutex.create(named) : Mutex.init(shm, 0);
    try {
      const b = where === "named" ? Mutex.open(named) : Mutex.attach(shm, 0);
      const held = a.lockSync();
      const pending = b.lock();
      await new Promise((r) => setTimeout(r, 30)); // past the spin: parked
      b.close();
      const e = await assertRejects(() => pending, Deno.errors.BadResource);
      assertMatch(e.message, /Mutex .* was closed while waiting to lock/);
      held.release();
      assertThrows(() => b.tryLock(), Deno.errors.BadResource);
      assertThrows(() => b.lockSync(), Deno.errors.BadResource);
      assertThrows(() => b.lockSync({ timeout: 10 }), Deno.errors.BadResource);
      assertThrows(() => b.withLockSync(() => 1), Deno.errors.BadResource);
      assertThrows(() => b.recoveries, Deno.errors.BadResource);
      await assertRejects(() => b.lock(), Deno.errors.BadResource);
      await assertRejects(() => b.lock({ timeout: 10 }), Deno.errors.BadResource);
      await assertRejects(() => b.withLock(() => 1), Deno.errors.BadResource);
      // The other handle is untouched, and no wake-up was lost with the closed waiter.
      a.lockSync({ timeout: 1000 }).release();
    } finally {
      if (where === "named") Mutex.unlink(named);
    }
    assertNoLeftovers();
  });
}
