/**
 * Placing locks and semaphores in shared memory that several processes
 * reach at once: init never resets a live object, initOrAttach lets them race,
 * `created` tells exactly one of them it came first.
 */

import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { SEM_SIZE, Semaphore as PosixSemaphore } from "../posix/semaphore.ts";
import { Mutex, MUTEX_SIZE } from "../sync/mutex.ts";
import { RwLock, rwLockSize } from "../sync/rwlock.ts";
import { Semaphore, semaphoreSize } from "../sync/semaphore.ts";
import { PARKER_SIZE } from "../sync/_parker.ts";
import {
  assertNoLeftovers,
  compileC,
  hasCC,
  runExe,
  tempModule,
  test,
  uniqueName,
} from "./_helpers.ts";

const CHILD = `
import { SharedMemory } from "@lib/posix/shared_memory.ts";
import { Semaphore as PosixSemaphore } from "@lib/posix/semaphore.ts";
import { Mutex, MUTEX_SIZE } from "@lib/sync/mutex.ts";
import { RwLock } from "@lib/sync/rwlock.ts";
import { Semaphore } from "@lib/sync/semaphore.ts";

const [role, name, go, arg] = Deno.args;

/** Start barrier: say we are here, then wait for the parent's posts. */
async function barrier() {
  using start = PosixSemaphore.open(go);
  console.log("ready");
  await start.wait({ timeout: 60_000 });
}

async function untilStdinCloses() {
  for await (const _ of Deno.stdin.readable) { /* the parent decides when we let go */ }
}

switch (role) {
  case "race-mutex": {
    await barrier();
    using shm = SharedMemory.openOrCreate(name, { size: MUTEX_SIZE + 8 });
    using mutex = Mutex.initOrAttach(shm, 0);
    const counter = shm.view(Int32Array, MUTEX_SIZE, 1);
    for (let i = 0; i < Number(arg); i++) {
      const g = mutex.lockSync({ timeout: 60_000 });
      counter[0] = counter[0] + 1; // not atomic: only the lock keeps it exact
      g.release();
    }
    console.log("created=" + mutex.created);
    break;
  }
  case "race-named": {
    await barrier();
    const open = {
      Mutex: () => Mutex.openOrCreate(name),
      RwLock: () => RwLock.openOrCreate(name),
      Semaphore: () => Semaphore.openOrCreate(name, { permits: 1 }),
      PosixSemaphore: () => PosixSemaphore.openOrCreate(name, { value: 1 }),
    }[arg];
    using handle = open();
    console.log("created=" + handle.created);
    break;
  }
  case "hold": {
    // Attach to what the parent placed at byte 0 of shared memory "name", take it, hold it.
    using shm = SharedMemory.open(name);
    if (arg === "Mutex") {
      using m = Mutex.attach(shm, 0);
      using _g = m.lockSync({ timeout: 5000 });
      console.log("held");
      await untilStdinCloses();
    } else if (arg === "RwLock") {
      using l = RwLock.attach(shm, 0);
      using _g = l.writeSync({ timeout: 5000 });
      console.log("held");
      await untilStdinCloses();
    } else if (arg === "Semaphore") {
      using s = Semaphore.attach(shm, 0);
      using _p = s.acquireSync({ timeout: 5000 });
      console.log("held");
      await untilStdinCloses();
    } else {
      using s = PosixSemaphore.attach(shm, 0);
      s.waitSync({ timeout: 5000 });
      console.log("held");
      await untilStdinCloses();
      s.post();
    }
    console.log("released");
    break;
  }
}
`;

const decoder = new TextDecoder();

/** Spawns `count` children of CHILD with `args`, releases them together, returns their stdout. */
async function raceChildren(count: number, args: (go: string) => string[]): Promise<string[]> {
  const module = await tempModule(CHILD);
  const go = uniqueName("go");
  using start = PosixSemaphore.create(go);
  try {
    const children = Array.from({ length: count }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-ffi", module, ...args(go)],
        stdout: "piped",
        stderr: "piped",
      }).spawn());
    const readers = children.map((c) => c.stdout.getReader());
    // Everyone has opened the barrier before anyone passes it.
    const firsts = await Promise.all(readers.map((r) => r.read()));
    for (const f of firsts) assertMatch(decoder.decode(f.value), /ready/);
    for (let i = 0; i < count; i++) start.post();
    const outs = await Promise.all(children.map(async (c, i) => {
      let text = "";
      for (;;) {
        const { value, done } = await readers[i]!.read();
        if (done) break;
        text += decoder.decode(value);
      }
      const status = await c.status;
      const stderr = decoder.decode(await new Response(c.stderr).arrayBuffer());
      assertEquals(status.code, 0, `child ${i} failed:\n${stderr}`);
      return text;
    }));
    return outs;
  } finally {
    PosixSemaphore.unlink(go);
    await Deno.remove(module);
  }
}

function unlinkQuietly(unlink: () => void): void {
  try {
    unlink();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function createdCount(outs: string[]): number {
  let n = 0;
  for (const o of outs) {
    const m = o.match(/created=(true|false)/);
    assert(m, `no created= line in ${JSON.stringify(o)}`);
    if (m[1] === "true") n++;
  }
  return n;
}

test("Mutex.initOrAttach(): 8 processes racing into one new mapping place one mutex, and it excludes", async () => {
  const name = uniqueName("race");
  const N = 2_000;
  try {
    const outs = await raceChildren(8, (go) => ["race-mutex", name, go, `${N}`]);
    assertEquals(createdCount(outs), 1, outs.join(""));
    using shm = SharedMemory.open(name);
    assertEquals(shm.view(Int32Array, MUTEX_SIZE, 1)[0], 8 * N);
  } finally {
    unlinkQuietly(() => SharedMemory.unlink(name));
  }
  assertNoLeftovers();
});

for (const kind of ["Mutex", "RwLock", "Semaphore", "PosixSemaphore"] as const) {
  test(`${kind}.openOrCreate(): of 6 processes racing on one name, exactly one has created === true`, async () => {
    const name = uniqueName("ooc");
    try {
      const outs = await raceChildren(6, (go) => ["race-named", name, go, kind]);
      assertEquals(createdCount(outs), 1, outs.join(""));
    } finally {
      // A child that failed may have made nothing: do not hide its error behind NotFound.
      unlinkQuietly(() =>
        kind === "PosixSemaphore" ? PosixSemaphore.unlink(name) : SharedMemory.unlink(name)
      );
    }
    assertNoLeftovers();
  });
}

const SIZES = {
  Mutex: MUTEX_SIZE,
  RwLock: rwLockSize(),
  Semaphore: semaphoreSize(),
  PosixSemaphore: SEM_SIZE,
};

/** The kind's init, and a check from a second handle that someone else holds it. */
const KINDS = {
  Mutex: {
    init: (shm: SharedMemory) => Mutex.init(shm, 0),
    stillHeld: (shm: SharedMemory) => {
      using m = Mutex.attach(shm, 0);
      return m.tryLock() === undefined;
    },
  },
  RwLock: {
    init: (shm: SharedMemory) => RwLock.init(shm, 0),
    stillHeld: (shm: SharedMemory) => {
      using l = RwLock.attach(shm, 0);
      return l.tryRead() === undefined;
    },
  },
  Semaphore: {
    init: (shm: SharedMemory) => Semaphore.init(shm, 0, { permits: 1 }),
    stillHeld: (shm: SharedMemory) => {
      using s = Semaphore.attach(shm, 0);
      return s.tryAcquire() === undefined;
    },
  },
  PosixSemaphore: {
    init: (shm: SharedMemory) => PosixSemaphore.init(shm, 0, { value: 1 }),
    stillHeld: (shm: SharedMemory) => {
      using s = PosixSemaphore.attach(shm, 0);
      return s.value === 0;
    },
  },
} as const;

for (const kind of ["Mutex", "RwLock", "Semaphore", "PosixSemaphore"] as const) {
  test(`${kind}.init() over one another process holds is AlreadyExists, and the holder keeps it`, async () => {
    const name = uniqueName("held");
    const module = await tempModule(CHILD);
    using shm = SharedMemory.create(name, { size: SIZES[kind] });
    try {
      const first = KINDS[kind].init(shm);
      assertEquals(first.created, true);
      first.close();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-ffi", module, "hold", name, "-", kind],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      const held = await reader.read();
      assertMatch(decoder.decode(held.value), /held/);
      const label = kind === "PosixSemaphore" ? "Semaphore" : kind;
      const e = assertThrows(() => KINDS[kind].init(shm), Deno.errors.AlreadyExists);
      assertMatch(
        e.message,
        new RegExp(
          `A ${label} is already initialised at byte 0 of ${name}; use ${label}\\.attach\\(\\) or ${label}\\.initOrAttach\\(\\)`,
        ),
      );
      assert(KINDS[kind].stillHeld(shm), "the refused init reset the holder's lock");
      await child.stdin.close();
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += decoder.decode(value);
      }
      const status = await child.status;
      const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
      assertEquals(status.code, 0, stderr);
      assertMatch(rest, /released/);
    } finally {
      SharedMemory.unlink(name);
      await Deno.remove(module);
    }
    assertNoLeftovers();
  });
}

test("initOrAttach() and attach() refuse memory that holds another kind or garbage with InvalidData", () => {
  const name = uniqueName("kind");
  using shm = SharedMemory.create(name, { size: 4096 });
  try {
    shm.bytes.fill(0xa5);
    assertThrows(() => Mutex.initOrAttach(shm, 0), Deno.errors.InvalidData, "Mutex");
    assertThrows(() => RwLock.attach(shm, 0), Deno.errors.InvalidData, "RwLock");
    assertThrows(
      () => Semaphore.initOrAttach(shm, 0, { permits: 1 }),
      Deno.errors.InvalidData,
      "Semaphore",
    );
    assertThrows(() => PosixSemaphore.initOrAttach(shm, 0), Deno.errors.InvalidData, "Semaphore");
    shm.bytes.fill(0);
    using _rw = RwLock.init(shm, 0);
    assertThrows(() => Semaphore.attach(shm, 0), Deno.errors.InvalidData, "Semaphore");
  } finally {
    SharedMemory.unlink(name);
  }
});

test("posix.Semaphore.destroy() clears the placement, so init() may place one there again", () => {
  const name = uniqueName("destroy");
  using shm = SharedMemory.create(name, { size: SEM_SIZE });
  try {
    const a = PosixSemaphore.init(shm, 0, { value: 3 });
    assertThrows(() => PosixSemaphore.init(shm, 0), Deno.errors.AlreadyExists);
    a.destroy();
    assertThrows(() => PosixSemaphore.attach(shm, 0), Deno.errors.InvalidData);
    using b = PosixSemaphore.init(shm, 0, { value: 1 });
    assertEquals([b.created, b.value], [true, 1]);
  } finally {
    SharedMemory.unlink(name);
  }
});

test("A placement whose initialiser died is taken over by initOrAttach(), refused by attach()", () => {
  const name = uniqueName("dead");
  using shm = SharedMemory.create(name, { size: MUTEX_SIZE });
  try {
    // A pid that cannot be alive: Linux hands out pids below pid_max ≤ 2^22.
    Atomics.store(shm.view(Int32Array, 0, 4), 1, -(2 ** 22));
    assertThrows(() => Mutex.attach(shm, 0), Deno.errors.InvalidData, "died");
    using m = Mutex.initOrAttach(shm, 0);
    assertEquals(m.created, true);
    m.lockSync().release();
  } finally {
    SharedMemory.unlink(name);
  }
});

test("Named opens say what to do: AlreadyExists names unlink and the CLI, NotFound names create", () => {
  const name = uniqueName("teach");
  const cases = [
    ["Mutex", () => Mutex.create(name), () => Mutex.open(name)],
    ["RwLock", () => RwLock.create(name), () => RwLock.open(name)],
    ["Semaphore", () => Semaphore.create(name, { permits: 1 }), () => Semaphore.open(name)],
  ] as const;
  for (const [kind, create, open] of cases) {
    const missing = assertThrows(open, Deno.errors.NotFound);
    assertMatch(
      missing.message,
      new RegExp(`${kind}\\.create\\(\\) or ${kind}\\.openOrCreate\\(\\)`),
    );
    using _first = create();
    try {
      const exists = assertThrows(create, Deno.errors.AlreadyExists);
      assertMatch(exists.message, new RegExp(`${kind}\\.unlink\\("${name}"\\)`));
      assertMatch(exists.message, new RegExp(`cli rm ${name}`));
      assertMatch(exists.message, new RegExp(`${kind}\\.open\\(\\)`));
    } finally {
      SharedMemory.unlink(name);
    }
  }
  const semName = uniqueName("teachsem");
  using _sem = PosixSemaphore.create(semName);
  try {
    const exists = assertThrows(() => PosixSemaphore.create(semName), Deno.errors.AlreadyExists);
    assertMatch(exists.message, /posix\.Semaphore\.unlink\(/);
    assertMatch(exists.message, /cli rm/);
  } finally {
    PosixSemaphore.unlink(semName);
  }
  const missing = assertThrows(() => PosixSemaphore.open(semName), Deno.errors.NotFound);
  assertMatch(missing.message, /create/);
  assertNoLeftovers();
});

test("Opening one kind of named object as another is InvalidData naming the kind expected", () => {
  const plain = uniqueName("plain");
  const rw = uniqueName("rw");
  const sem = uniqueName("sem");
  using shm = SharedMemory.create(plain, { size: MUTEX_SIZE });
  using _rw = RwLock.create(rw);
  using _sem = Semaphore.create(sem, { permits: 1 });
  try {
    shm.bytes.fill(0x5a);
    assertThrows(() => Mutex.open(plain), Deno.errors.InvalidData, "not a Mutex");
    assertThrows(() => RwLock.open(plain), Deno.errors.InvalidData, "not a RwLock");
    // Both start with a mutex of their own: still not a Mutex.
    assertThrows(() => Mutex.open(rw), Deno.errors.InvalidData, "not a Mutex");
    assertThrows(() => Mutex.open(sem), Deno.errors.InvalidData, "not a Mutex");
    assertThrows(() => RwLock.open(sem), Deno.errors.InvalidData, "not a RwLock");
    assertThrows(() => Semaphore.open(rw), Deno.errors.InvalidData, "not a Semaphore");
  } finally {
    SharedMemory.unlink(plain);
    SharedMemory.unlink(rw);
    SharedMemory.unlink(sem);
  }
  assertNoLeftovers();
});

/** What a call threw or its promise rejected with. */
async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

test("Misspelled or unknown option names are a TypeError naming the valid ones, for every call that takes options", async () => {
  const region = uniqueName("opts");
  const fresh = uniqueName("never"); // must never be created: checks run first
  const names = [uniqueName("om"), uniqueName("orw"), uniqueName("osem"), uniqueName("opsem")];
  const [mName, rwName, semName, psemName] = names as [string, string, string, string];
  using shm = SharedMemory.create(region, { size: 4096 });
  using m = Mutex.create(mName);
  using rw = RwLock.create(rwName);
  using sem = Semaphore.create(semName, { permits: 1 });
  using psem = PosixSemaphore.create(psemName, { value: 0 });
  const bad = { timeoutMs: 200 } as Record<string, unknown>;
  const permits = { permits: 1, initial: 5 } as unknown as { permits: number };
  const initial = { initial: 5 } as Record<string, unknown>;
  const table: [string, () => unknown, string][] = [
    ["Mutex.create()", () => Mutex.create(fresh, { mod: 0o600 } as never), "mode"],
    ["Mutex.openOrCreate()", () => Mutex.openOrCreate(fresh, { mdoe: 0o600 } as never), "mode"],
    ["Mutex.lock()", () => m.lock(bad), "timeout, signal"],
    ["Mutex.lockSync()", () => m.lockSync(bad), "timeout"],
    ["Mutex.lockSync()", () => m.lockSync({ signal: AbortSignal.abort() } as never), "timeout"],
    ["Mutex.withLock()", () => m.withLock(() => 1, bad), "timeout, signal"],
    ["Mutex.withLockSync()", () => m.withLockSync(() => 1, bad), "timeout"],
    ["RwLock.create()", () => RwLock.create(fresh, { maxHolder: 8 } as never), "mode, maxHolders"],
    [
      "RwLock.openOrCreate()",
      () => RwLock.openOrCreate(fresh, { maxHolder: 8 } as never),
      "mode, maxHolders",
    ],
    ["RwLock.init()", () => RwLock.init(shm, 0, { maxHolder: 8 } as never), "maxHolders"],
    [
      "RwLock.initOrAttach()",
      () => RwLock.initOrAttach(shm, 0, { maxHolder: 8 } as never),
      "maxHolders",
    ],
    ["RwLock.read()", () => rw.read(bad), "timeout, signal"],
    ["RwLock.write()", () => rw.write(bad), "timeout, signal"],
    ["RwLock.readSync()", () => rw.readSync(bad), "timeout"],
    ["RwLock.writeSync()", () => rw.writeSync(bad), "timeout"],
    ["Semaphore.create()", () => Semaphore.create(fresh, permits), "permits, maxHolders, mode"],
    [
      "Semaphore.openOrCreate()",
      () => Semaphore.openOrCreate(fresh, permits),
      "permits, maxHolders, mode",
    ],
    ["Semaphore.init()", () => Semaphore.init(shm, 0, permits), "permits, maxHolders"],
    [
      "Semaphore.initOrAttach()",
      () => Semaphore.initOrAttach(shm, 0, permits),
      "permits, maxHolders",
    ],
    ["Semaphore.acquire()", () => sem.acquire(bad), "timeout, signal"],
    ["Semaphore.acquireSync()", () => sem.acquireSync(bad), "timeout"],
    ["Semaphore.create()", () => PosixSemaphore.create(fresh, initial), "value, mode"],
    ["Semaphore.openOrCreate()", () => PosixSemaphore.openOrCreate(fresh, initial), "value, mode"],
    ["Semaphore.init()", () => PosixSemaphore.init(shm, 0, initial), "value"],
    ["Semaphore.initOrAttach()", () => PosixSemaphore.initOrAttach(shm, 0, initial), "value"],
    ["Semaphore.wait()", () => psem.wait(bad), "timeout, signal, spinMicros"],
    ["Semaphore.waitSync()", () => psem.waitSync(bad), "timeout, spinMicros"],
    ["Semaphore.acquire()", () => psem.acquire(bad), "timeout, signal, spinMicros"],
  ];
  try {
    for (const [what, call, valid] of table) {
      const e = await failure(call);
      assert(e instanceof TypeError, `${what}: expected TypeError, got ${e}`);
      assertMatch(e.message, /^Unknown option "\w+"/, what);
      assert(e.message.includes(`for ${what} (valid: ${valid})`), `${what}: ${e.message}`);
    }
    // Nothing was placed by the refused init calls.
    assertEquals(shm.view(Int32Array, 0, 32).every((v) => v === 0), true);
  } finally {
    SharedMemory.unlink(region);
    for (const n of names.slice(0, 3)) SharedMemory.unlink(n);
    PosixSemaphore.unlink(psemName);
  }
  assertNoLeftovers();
});

test("Layouts: a parker inside a lock stays a bare 32-byte sem_t; a public in-memory semaphore takes 64", () => {
  assertEquals(PARKER_SIZE, 32);
  assertEquals(SEM_SIZE, 64);
});

Deno.test({
  name:
    "posix.Semaphore.init(): a C peer sees a plain sem_t at the byte offset and can wait and post on it",
  ignore: !hasCC,
  async fn() {
    const name = uniqueName("csem");
    using shm = SharedMemory.create(name, { size: 2 * SEM_SIZE });
    try {
      using sem = PosixSemaphore.init(shm, SEM_SIZE, { value: 1 });
      const exe = await compileC(`
        #include <fcntl.h>
        #include <semaphore.h>
        #include <stdio.h>
        #include <sys/mman.h>
        int main(int argc, char **argv) {
          int fd = shm_open(argv[1], O_RDWR, 0);
          if (fd < 0) { perror("shm_open"); return 2; }
          char *base = mmap(0, ${2 * SEM_SIZE}, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
          if (base == MAP_FAILED) { perror("mmap"); return 2; }
          sem_t *s = (sem_t *)(base + ${SEM_SIZE});
          if (sem_trywait(s) != 0) { perror("sem_trywait"); return 3; }
          sem_post(s);
          sem_post(s);
          printf("ok\\n");
          return 0;
        }`);
      const r = await runExe(exe, [name]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim(), "ok");
      assertEquals(sem.value, 2);
      await Deno.remove(exe.slice(0, exe.lastIndexOf("/")), { recursive: true });
    } finally {
      SharedMemory.unlink(name);
    }
  },
});
