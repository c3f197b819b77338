import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Semaphore, semaphoreSize } from "../sync/semaphore.ts";
import { assertNoLeftovers, test, uniqueName } from "./_helpers.ts";

const semUrl = new URL("../sync/semaphore.ts", import.meta.url).href;
const shmUrl = new URL("../posix/shared_memory.ts", import.meta.url).href;

test("sync.Semaphore: 4 processes never hold more than 2 of 2 permits", async () => {
  const name = uniqueName("ssp");
  using shm = SharedMemory.create(name, { size: semaphoreSize() + 16 });
  try {
    using _sem = Semaphore.init(shm, 0, { permits: 2 });
    const script = `
      import { Semaphore, semaphoreSize } from ${JSON.stringify(semUrl)};
      import { SharedMemory } from ${JSON.stringify(shmUrl)};
      using shm = SharedMemory.open(${JSON.stringify(name)});
      using sem = Semaphore.attach(shm, 0);
      const c = shm.view(Int32Array, semaphoreSize(), 4);
      for (let i = 0; i < 200; i++) {
        const p = i % 2 ? sem.acquireSync({ timeout: 20000 }) : await sem.acquire({ timeout: 20000 });
        const inside = Atomics.add(c, 0, 1) + 1;
        for (;;) { const m = Atomics.load(c, 1); if (inside <= m || Atomics.compareExchange(c, 1, m, inside) === m) break; }
        const t = performance.now(); while (performance.now() - t < 0.05) {}
        Atomics.sub(c, 0, 1);
        Atomics.add(c, 2, 1);
        p.release();
      }
    `;
    const procs = Array.from(
      { length: 4 },
      () =>
        new Deno.Command(Deno.execPath(), { args: ["eval", "--quiet", script], stderr: "piped" })
          .output(),
    );
    for (const o of await Promise.all(procs)) {
      assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
    }
    const c = shm.view(Int32Array, semaphoreSize(), 4);
    assertEquals(c[2], 800);
    assert(c[1]! <= 2, `max concurrent holders ${c[1]}`);
    assert(c[1]! >= 1);
  } finally {
    SharedMemory.unlink(name);
  }
});

test("sync.Semaphore: permits of a process killed while holding them come back", async () => {
  const name = uniqueName("ssk");
  using sem = Semaphore.create(name, { permits: 2 });
  try {
    const script = `
      import { Semaphore } from ${JSON.stringify(semUrl)};
      const s = Semaphore.open(${JSON.stringify(name)});
      s.acquireSync(); s.acquireSync();
      console.log("holding");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    `;
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      stdout: "piped",
    }).spawn();
    const reader = proc.stdout.getReader();
    assertMatch(new TextDecoder().decode((await reader.read()).value), /holding/);
    assertEquals(sem.tryAcquire(), undefined);
    proc.kill("SIGKILL");
    const p1 = await sem.acquire({ timeout: 5000 });
    const p2 = sem.acquireSync({ timeout: 5000 });
    assertEquals(sem.available, 0);
    p1.release();
    p2.release();
    assertEquals(sem.available, 2);
    reader.releaseLock();
    await proc.stdout.cancel();
    await proc.status;
  } finally {
    Semaphore.unlink(name);
  }
});

test("sync.Semaphore: timeouts, aborts and idempotent permits", async () => {
  const name = uniqueName("sst");
  using a = Semaphore.create(name, { permits: 1 });
  using b = Semaphore.open(name);
  try {
    const p = a.acquireSync();
    assertThrows(() => b.acquireSync({ timeout: 0 }), Deno.errors.TimedOut);
    assertThrows(() => b.acquireSync({ timeout: 20 }), Deno.errors.TimedOut);
    await assertRejects(() => b.acquire({ timeout: 20 }), Deno.errors.TimedOut);
    const reason = new Error("cancelled");
    const ac = new AbortController();
    const waiting = b.acquire({ signal: ac.signal });
    setTimeout(() => ac.abort(reason), 10);
    assertStrictEquals(await assertRejects(() => waiting), reason);
    const later = b.acquire({ timeout: 5000 });
    p.release();
    p.release();
    const q = await later;
    assertEquals(a.available, 0);
    q.release();
    assertEquals(a.available, 1);
  } finally {
    Semaphore.unlink(name);
  }
});

test("sync.Semaphore: bad arguments give typed errors", () => {
  assertThrows(() => Semaphore.create(uniqueName("ssb"), { permits: 0 }), RangeError);
  assertThrows(() => Semaphore.create(uniqueName("ssb"), { permits: 1.5 }), RangeError);
  assertThrows(
    () => Semaphore.create(uniqueName("ssb"), { permits: "2" as unknown as number }),
    TypeError,
  );
  assertThrows(
    () => Semaphore.create(uniqueName("ssb"), { permits: 1, maxHolders: 0 }),
    RangeError,
  );
  assertThrows(() => Semaphore.create(uniqueName("ssb"), { permits: 1, mode: -1 }), RangeError);
  assertThrows(() => Semaphore.open(uniqueName("ssb")), Deno.errors.NotFound);
  const name = uniqueName("ssc");
  const s = Semaphore.create(name, { permits: 1 });
  s.close();
  assertThrows(() => s.tryAcquire(), Deno.errors.BadResource);
  Semaphore.unlink(name);
  assertNoLeftovers();
});

test("sync.Semaphore.close() rejects a pending acquire() with BadResource, and every method after close throws BadResource", async () => {
  const name = uniqueName("semcw");
  using a = Semaphore.create(name, { permits: 1 });
  try {
    const b = Semaphore.open(name);
    const permit = a.acquireSync();
    const pending = b.acquire();
    await new Promise((r) => setTimeout(r, 30));
    b.close();
    const e = await assertRejects(() => pending, Deno.errors.BadResource);
    assertMatch(e.message, /Semaphore .* was closed while waiting to acquire a permit/);
    permit.release();
    assertEquals(a.available, 1);
    assertThrows(() => b.tryAcquire(), Deno.errors.BadResource);
    assertThrows(() => b.acquireSync({ timeout: 10 }), Deno.errors.BadResource);
    assertThrows(() => b.available, Deno.errors.BadResource);
    assertThrows(() => b.capacity, Deno.errors.BadResource);
    await assertRejects(() => b.acquire(), Deno.errors.BadResource);
    a.acquireSync({ timeout: 1000 }).release();
  } finally {
    Semaphore.unlink(name);
  }
  assertNoLeftovers();
});
