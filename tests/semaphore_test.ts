import { fromFileUrl } from "@std/path";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { SEM_SIZE, SEM_VALUE_MAX, Semaphore } from "../posix/semaphore.ts";
import { settled } from "../posix/settled.ts";
import {
  assertNoLeftovers,
  compileC,
  devShmEntries,
  hasCC,
  runExe,
  test,
  uniqueName,
} from "./_helpers.ts";

const semUrl = new URL("../posix/semaphore.ts", import.meta.url).href;
const shmUrl = new URL("../posix/shared_memory.ts", import.meta.url).href;

function denoEval(script: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  });
}

test("posix.Semaphore: a Deno child posts and the parent's wait() wakes, and back", async () => {
  const ping = uniqueName("ping");
  const pong = uniqueName("pong");
  using a = Semaphore.create(ping);
  using b = Semaphore.create(pong);
  try {
    const child = denoEval(`
      import { Semaphore } from ${JSON.stringify(semUrl)};
      using ping = Semaphore.open(${JSON.stringify(ping)});
      using pong = Semaphore.open(${JSON.stringify(pong)});
      for (let i = 0; i < 200; i++) {
        if (i % 2) ping.waitSync({ timeout: 10000 }); else await ping.wait({ timeout: 10000 });
        pong.post();
      }
    `).spawn();
    for (let i = 0; i < 200; i++) {
      a.post();
      if (i % 2) await b.wait({ timeout: 10000 });
      else b.waitSync({ timeout: 10000 });
    }
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(a.value, 0);
    assertEquals(b.value, 0);
  } finally {
    Semaphore.unlink(ping);
    Semaphore.unlink(pong);
  }
});

test("posix.Semaphore: waitSync() fed slowly stops planning its waits and still takes every unit; a timeout is still honoured and a closed handle still refuses", async () => {
  const name = uniqueName("slow-feed");
  const sem = Semaphore.create(name);
  try {
    // 2 ms apart: every wait outlasts a spin, so the budget goes and the waits turn quiet.
    const child = denoEval(`
      import { Semaphore } from ${JSON.stringify(semUrl)};
      using sem = Semaphore.open(${JSON.stringify(name)});
      for (let i = 0; i < 60; i++) {
        await new Promise((r) => setTimeout(r, 2));
        sem.post();
      }
    `).spawn();
    for (let i = 0; i < 60; i++) sem.waitSync();
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(sem.value, 0);
    assertThrows(() => sem.waitSync({ timeout: 5 }), Deno.errors.TimedOut);
    sem.post();
    sem.waitSync();
    sem.close();
    assertThrows(() => sem.waitSync(), Deno.errors.BadResource);
  } finally {
    sem.close();
    Semaphore.unlink(name);
  }
});

Deno.test({
  name: "posix.Semaphore interoperates with a C peer (sem_open, sem_post, sem_timedwait)",
  ignore: !hasCC,
  async fn() {
    const toC = uniqueName("toc");
    const fromC = uniqueName("fromc");
    using a = Semaphore.create(toC);
    using b = Semaphore.create(fromC);
    try {
      const exe = await compileC(`
        #include <fcntl.h>
        #include <semaphore.h>
        #include <stdio.h>
        #include <time.h>
        int main(int argc, char **argv) {
          sem_t *in = sem_open(argv[1], 0), *out = sem_open(argv[2], 0);
          if (in == SEM_FAILED || out == SEM_FAILED) { perror("sem_open"); return 2; }
          for (int i = 0; i < 100; i++) {
            struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); ts.tv_sec += 10;
            if (sem_timedwait(in, &ts) != 0) { perror("sem_timedwait"); return 3; }
            sem_post(out);
          }
          printf("done\\n");
          return 0;
        }`);
      const peer = runExe(exe, [toC, fromC]);
      for (let i = 0; i < 100; i++) {
        a.post();
        await b.wait({ timeout: 10000 });
      }
      const r = await peer;
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim(), "done");
    } finally {
      Semaphore.unlink(toC);
      Semaphore.unlink(fromC);
    }
  },
});

test("posix.Semaphore.init(): an in-memory semaphore works across two processes", async () => {
  const name = uniqueName("insem");
  using shm = SharedMemory.create(name, { size: 4096 });
  try {
    using ready = Semaphore.init(shm, 0);
    using go = Semaphore.init(shm, SEM_SIZE);
    const child = denoEval(`
      import { Semaphore } from ${JSON.stringify(semUrl)};
      import { SharedMemory } from ${JSON.stringify(shmUrl)};
      using shm = SharedMemory.open(${JSON.stringify(name)});
      using ready = Semaphore.attach(shm, 0);
      using go = Semaphore.attach(shm, ${SEM_SIZE});
      for (let i = 0; i < 100; i++) { ready.post(); await go.wait({ timeout: 10000 }); }
      shm.bytes[100] = 42;
      ready.post();
    `).spawn();
    for (let i = 0; i < 100; i++) {
      await ready.wait({ timeout: 10000 });
      go.post();
    }
    ready.waitSync({ timeout: 10000 });
    assertEquals(shm.bytes[100], 42);
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  } finally {
    SharedMemory.unlink(name);
  }
});

test("posix.Semaphore: tryWait, timeouts (sync and async) and aborts", async () => {
  const name = uniqueName("tmo");
  using sem = Semaphore.create(name, { value: 1 });
  try {
    assertEquals(sem.tryWait(), true);
    assertEquals(sem.tryWait(), false);
    assertThrows(() => sem.waitSync({ timeout: 0 }), Deno.errors.TimedOut);
    const t0 = performance.now();
    assertThrows(() => sem.waitSync({ timeout: 30 }), Deno.errors.TimedOut);
    assert(performance.now() - t0 >= 25);
    await assertRejects(() => sem.wait({ timeout: 0 }), Deno.errors.TimedOut);
    await assertRejects(() => sem.wait({ timeout: 30 }), Deno.errors.TimedOut);
    const reason = new Error("no longer needed");
    const ac = new AbortController();
    const p = sem.wait({ signal: ac.signal });
    setTimeout(() => ac.abort(reason), 10);
    assertStrictEquals(await assertRejects(() => p), reason);
    assertStrictEquals(
      await assertRejects(() => sem.wait({ signal: AbortSignal.abort(reason) })),
      reason,
    );
    // The abandoned waits consumed nothing: a post is still there for the next waiter.
    sem.post();
    await sem.wait({ timeout: 1000 });
    assertEquals(sem.value, 0);
  } finally {
    Semaphore.unlink(name);
  }
});

test("posix.Semaphore: 100 concurrent waits are all served by posts, FIFO, on one park", async () => {
  const name = uniqueName("many");
  using sem = Semaphore.create(name);
  try {
    const order: number[] = [];
    const waits = Array.from(
      { length: 100 },
      (_, i) => sem.wait({ timeout: 10000 }).then(() => order.push(i)),
    );
    for (let i = 0; i < 100; i++) sem.post();
    await Promise.all(waits);
    assertEquals(order.length, 100);
    assertEquals(sem.value, 0);
  } finally {
    Semaphore.unlink(name);
  }
});

test("posix.Semaphore: waits on 20 semaphores at once (more than the park cap) all complete", async () => {
  const names = Array.from({ length: 20 }, () => uniqueName("cap"));
  const sems = names.map((n) => Semaphore.create(n));
  try {
    const waits = sems.map((s) => s.wait({ timeout: 10000 }));
    await new Promise((r) => setTimeout(r, 20));
    for (const s of sems) s.post();
    await Promise.all(waits);
  } finally {
    for (const s of sems) s.close();
    for (const n of names) Semaphore.unlink(n);
  }
});

test("posix.Semaphore: 100 abandoned waits do not starve file reads", async () => {
  const names = Array.from({ length: 100 }, () => uniqueName("starve"));
  const sems = names.map((n) => Semaphore.create(n));
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "still readable");
    const ac = new AbortController();
    const waits = sems.map((s) => s.wait({ signal: ac.signal }).catch((e) => e));
    await new Promise((r) => setTimeout(r, 10));
    // While 100 waits are pending, Deno's own file I/O still gets threads.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const text = await Promise.race([
      Deno.readTextFile(file),
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error("file read starved")), 2000)
      ),
    ]).finally(() => clearTimeout(timer));
    assertEquals(text, "still readable");
    ac.abort(new Error("done"));
    for (const r of await Promise.all(waits)) assertEquals((r as Error).message, "done");
  } finally {
    for (const s of sems) s.close();
    for (const n of names) Semaphore.unlink(n);
    await Deno.remove(file);
  }
});

test("posix.Semaphore: a script whose waits were all aborted exits on its own", async () => {
  const name = uniqueName("exit");
  using _sem = Semaphore.create(name);
  try {
    const t0 = performance.now();
    const out = await denoEval(`
      import { Semaphore } from ${JSON.stringify(semUrl)};
      const sem = Semaphore.open(${JSON.stringify(name)});
      const ac = new AbortController();
      const waits = Array.from({ length: 10 }, () => sem.wait({ signal: ac.signal }).catch(() => {}));
      setTimeout(() => ac.abort(), 20);
      await Promise.all(waits);
      console.log("aborted");
    `).output();
    const elapsed = performance.now() - t0;
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "aborted");
    assert(elapsed < 10_000, `took ${elapsed} ms to exit`);
  } finally {
    Semaphore.unlink(name);
  }
});

test("posix.Semaphore: closing the mapping under a parked wait rejects it without a crash", async () => {
  const name = uniqueName("closepark");
  const shm = SharedMemory.create(name, { size: 4096 });
  try {
    const sem = Semaphore.init(shm, 64);
    const p = sem.wait({ timeout: 5000 }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 10));
    shm.close(); // the park is still in flight: the range is overlaid, not unmapped
    sem.close();
    const e = await p;
    assert(e instanceof Deno.errors.BadResource, String(e));
    assertThrows(() => sem.post(), Deno.errors.BadResource);
  } finally {
    SharedMemory.unlink(name);
  }
});

test("posix.Semaphore: bad names, values and options give typed errors", () => {
  assertThrows(() => Semaphore.create("no-slash"), TypeError);
  assertThrows(() => Semaphore.create("/a/b"), TypeError);
  assertThrows(() => Semaphore.create("/"), TypeError);
  assertThrows(() => Semaphore.create(`/${"x".repeat(252)}`), RangeError);
  assertThrows(() => Semaphore.create(42 as unknown as string), TypeError);
  assertThrows(() => Semaphore.create(uniqueName("v"), { value: -1 }), RangeError);
  assertThrows(() => Semaphore.create(uniqueName("v"), { value: 1.5 }), RangeError);
  assertThrows(() => Semaphore.create(uniqueName("v"), { value: SEM_VALUE_MAX + 1 }), RangeError);
  assertThrows(
    () => Semaphore.create(uniqueName("v"), { value: "1" as unknown as number }),
    TypeError,
  );
  assertThrows(() => Semaphore.create(uniqueName("v"), { mode: 0o1777 }), RangeError);
  assertThrows(() => Semaphore.open(uniqueName("missing")), Deno.errors.NotFound);
  assertThrows(() => Semaphore.unlink(uniqueName("missing")), Deno.errors.NotFound);
  const name = uniqueName("dup");
  using sem = Semaphore.create(name);
  try {
    assertThrows(() => Semaphore.create(name), Deno.errors.AlreadyExists);
    assertThrows(() => sem.waitSync({ timeout: -1 }), RangeError);
    assertThrows(() => sem.waitSync({ timeout: "1" as unknown as number }), TypeError);
  } finally {
    Semaphore.unlink(name);
  }
  const shm = SharedMemory.create(uniqueName("align"), { size: 64 });
  try {
    assertThrows(() => Semaphore.init(shm, 4), RangeError);
    assertThrows(() => Semaphore.init(shm, 40), RangeError);
    assertThrows(() => Semaphore.init(shm, -8), RangeError);
  } finally {
    shm.unlink();
    shm.close();
  }
});

test("posix.Semaphore.post() past SEM_VALUE_MAX is EOVERFLOW", () => {
  const name = uniqueName("ovf");
  using sem = Semaphore.create(name, { value: SEM_VALUE_MAX });
  try {
    const ovf = assertThrows(() => sem.post(), Error) as Error & { code?: string };
    assertEquals(ovf.code, "EOVERFLOW");
    assertEquals(sem.value, SEM_VALUE_MAX);
  } finally {
    Semaphore.unlink(name);
  }
});

test("posix.Semaphore: mode 0o600 by default, the asked mode exactly otherwise; nothing left in /dev/shm", () => {
  const a = uniqueName("mode");
  const b = uniqueName("mode");
  using sa = Semaphore.create(a);
  using sb = Semaphore.create(b, { mode: 0o666 });
  try {
    assertEquals(Deno.statSync(`/dev/shm/sem.${a.slice(1)}`).mode! & 0o777, 0o600);
    assertEquals(Deno.statSync(`/dev/shm/sem.${b.slice(1)}`).mode! & 0o777, 0o666);
  } finally {
    sa.unlink();
    sb.unlink();
  }
  sa.close();
  sa.close();
  assertEquals(sa.closed, true);
  assertThrows(() => sa.tryWait(), Deno.errors.BadResource);
  assertEquals(devShmEntries(`sem.t-mode-${Deno.pid}-`), []);
  assertNoLeftovers();
});

test("examples/producer_consumer.ts moves every item exactly once, in order, between two processes", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fromFileUrl(new URL("../examples/producer_consumer.ts", import.meta.url)),
      "3000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  assertMatch(stdout, /received all 3000 items exactly once, in order/);
});

for (const where of ["named", "in a mapping"] as const) {
  test(`posix.Semaphore (${where}).close() rejects pending waits with BadResource, and every method after close throws BadResource`, async () => {
    const name = uniqueName("psemcw");
    using shm = SharedMemory.create(name, { size: SEM_SIZE });
    shm.unlink();
    const named = uniqueName("psemcwn");
    using a = where === "named" ? Semaphore.create(named) : Semaphore.init(shm, 0);
    try {
      const b = where === "named" ? Semaphore.open(named) : Semaphore.attach(shm, 0);
      const waiting = b.wait();
      const acquiring = b.acquire();
      await new Promise((r) => setTimeout(r, 30));
      b.close();
      await assertRejects(() => waiting, Deno.errors.BadResource, "closed while waiting");
      await assertRejects(() => acquiring, Deno.errors.BadResource, "closed while waiting");
      assertThrows(() => b.post(), Deno.errors.BadResource);
      assertThrows(() => b.tryWait(), Deno.errors.BadResource);
      assertThrows(() => b.waitSync({ timeout: 10 }), Deno.errors.BadResource);
      assertThrows(() => b.value, Deno.errors.BadResource);
      await assertRejects(() => b.wait({ timeout: 10 }), Deno.errors.BadResource);
      await assertRejects(() => b.acquire(), Deno.errors.BadResource);
      // A unit posted while the closed handle's park was still out is not lost.
      a.post();
      await settled();
      await a.wait({ timeout: 1000 });
    } finally {
      if (where === "named") Semaphore.unlink(named);
    }
    assertNoLeftovers();
  });
}
