/**
 * Issue #10, "no silent wrong results", for SharedMemory, System V and the
 * struct layouts: who created what, misspelled options, and errors that name
 * the object and say what to do.
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertMatch,
  assertNotMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { ftok } from "../sysv/key.ts";
import { Segment } from "../sysv/segment.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { array, bool, char, f32, i32, i64, struct } from "../memory/layout.ts";
import { SystemError } from "../ffi/errno.ts";
import { main as cli } from "../cli.ts";
import {
  assertNoLeftovers,
  assertOk,
  devShmEntries,
  runDeno,
  tempModule,
  test,
  uniqueName,
} from "./_helpers.ts";
import { Semaphore } from "../posix/semaphore.ts";

const decoder = new TextDecoder();
const RACERS = 6;

/** A key no one else uses: ftok of a fresh temp file, removed by `dispose`. */
async function freshKey(projId = 1): Promise<{ key: number } & AsyncDisposable> {
  const file = await Deno.makeTempFile();
  return { key: ftok(file, projId), [Symbol.asyncDispose]: () => Deno.remove(file) };
}

/**
 * Starts `n` children that each import what they need, say "ready", wait for
 * one byte on stdin, then run `body`; the byte goes to all of them at once,
 * once all are ready. Returns each child's stdout after "ready".
 */
async function race(n: number, body: string): Promise<string[]> {
  const path = await tempModule(`
    import { SharedMemory } from "@lib/posix/shared_memory.ts";
    import { Segment } from "@lib/sysv/segment.ts";
    import { SemaphoreSet } from "@lib/sysv/semaphore_set.ts";
    SharedMemory; Segment; SemaphoreSet;
    SemaphoreSet.private(1).remove(); // load libc before the barrier, not after
    console.log("ready");
    Deno.stdin.readSync(new Uint8Array(1));
    ${body}
  `);
  const children = Array.from({ length: n }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-ffi", path],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn());
  try {
    const stderr = children.map((c) => new Response(c.stderr).text());
    const readers = children.map((c) => c.stdout.pipeThrough(new TextDecoderStream()).getReader());
    const outs = children.map(() => "");
    const readUntil = async (i: number, done: (s: string) => boolean) => {
      while (!done(outs[i]!)) {
        const { value, done: end } = await readers[i]!.read();
        if (end) return;
        outs[i] += value;
      }
    };
    await Promise.all(children.map((_, i) => readUntil(i, (s) => s.includes("ready\n"))));
    await Promise.all(children.map(async (c) => {
      const w = c.stdin.getWriter();
      await w.write(new Uint8Array([1]));
      await w.close();
    }));
    await Promise.all(children.map((_, i) => readUntil(i, () => false)));
    const statuses = await Promise.all(children.map((c) => c.status));
    for (const [i, s] of statuses.entries()) {
      assertEquals(s.code, 0, `racer ${i} failed:\n${await stderr[i]}\n${outs[i]}`);
    }
    await Promise.all(stderr);
    return outs.map((o) => o.slice(o.indexOf("ready\n") + 6).trim());
  } finally {
    await Deno.remove(path);
  }
}

/** Parses racers' `{ created, id }` lines and checks exactly one created. */
function assertOneCreator(outs: string[]): void {
  const results = outs.map((o) => JSON.parse(o) as { created: boolean; id: number | string });
  assertEquals(results.filter((r) => r.created === true).length, 1, JSON.stringify(results));
  assertEquals(results.filter((r) => r.created === false).length, outs.length - 1);
  assertEquals(new Set(results.map((r) => r.id)).size, 1, "all racers got the same object");
}

test(`SharedMemory.openOrCreate(): of ${RACERS} racing processes exactly one is told created`, async () => {
  const name = uniqueName("race");
  try {
    const outs = await race(
      RACERS,
      `using shm = SharedMemory.openOrCreate(${JSON.stringify(name)}, { size: 4096 });
       console.log(JSON.stringify({ created: shm.created, id: shm.name }));`,
    );
    assertOneCreator(outs);
  } finally {
    SharedMemory.unlink(name);
  }
  assertNoLeftovers();
});

test(`Segment.openOrCreate(): of ${RACERS} racing processes exactly one is told created`, async () => {
  await using k = await freshKey(11);
  try {
    const outs = await race(
      RACERS,
      `const seg = Segment.openOrCreate(${k.key}, { size: 4096 });
       console.log(JSON.stringify({ created: seg.created, id: seg.id }));`,
    );
    assertOneCreator(outs);
  } finally {
    Segment.open(k.key).remove();
  }
});

test(`SemaphoreSet.openOrCreate(): of ${RACERS} racing processes exactly one is told created`, async () => {
  await using k = await freshKey(12);
  try {
    const outs = await race(
      RACERS,
      `using set = SemaphoreSet.openOrCreate(${k.key}, { count: 1, value: 3 });
       console.log(JSON.stringify({ created: set.created, id: set.id }));`,
    );
    assertOneCreator(outs);
  } finally {
    SemaphoreSet.open(k.key).remove();
  }
});

test("created is true only on the handle whose call created the object", async () => {
  const name = uniqueName("created");
  using a = SharedMemory.create(name, { size: 8 });
  try {
    using b = SharedMemory.open(name);
    using c = SharedMemory.openOrCreate(name, { size: 8 });
    assertEquals([a.created, b.created, c.created], [true, false, false]);
  } finally {
    a.unlink();
  }
  using d = SharedMemory.openOrCreate(name, { size: 8 });
  d.unlink();
  assert(d.created, "openOrCreate() that made it says so");

  await using k = await freshKey(13);
  const seg = Segment.openOrCreate(k.key, { size: 64 });
  const priv = Segment.private(64);
  try {
    assertEquals(
      [seg.created, Segment.open(k.key).created, Segment.openOrCreate(k.key, { size: 64 }).created],
      [true, false, false],
    );
    assertEquals([priv.created, Segment.fromId(priv.id).created], [true, false]);
  } finally {
    seg.remove();
    priv.remove();
  }
  const set = SemaphoreSet.create(k.key, { count: 1 });
  try {
    using again = SemaphoreSet.openOrCreate(k.key, { count: 1 });
    using byId = SemaphoreSet.fromId(set.id);
    assertEquals([set.created, again.created, byId.created], [true, false, false]);
  } finally {
    set.remove();
  }
  const priv2 = SemaphoreSet.private(1);
  priv2.remove();
  assert(priv2.created);
});

test("a misspelled option is a TypeError naming the valid ones and the nearest, and nothing is created", async () => {
  const name = uniqueName("typo");
  await using k = await freshKey(14);
  const seg = Segment.private(64);
  const set = SemaphoreSet.private(1);
  SharedMemory.create(name, { size: 8 }).close();
  SharedMemory.unlink(name);
  const ops = [{ index: 0, delta: 1 }];
  type Case = [string, () => unknown, string, string, string | undefined];
  const cases: Case[] = [
    [
      "SharedMemory.open()",
      () => SharedMemory.open(name, { readonly: true } as never),
      "readonly",
      "readOnly",
      "readOnly",
    ],
    [
      "SharedMemory.create()",
      () => SharedMemory.create(name, { size: 8, permissions: 0o644 } as never),
      "permissions",
      "size, mode",
      "mode",
    ],
    [
      "SharedMemory.openOrCreate()",
      () => SharedMemory.openOrCreate(name, { size: 8, mdoe: 0o600 } as never),
      "mdoe",
      "size, mode",
      "mode",
    ],
    [
      "Segment.create()",
      () => Segment.create(k.key, { size: 8, perms: 0o600 } as never),
      "perms",
      "size, mode",
      "mode",
    ],
    [
      "Segment.openOrCreate()",
      () => Segment.openOrCreate(k.key, { size: 8, permissions: 0o600 } as never),
      "permissions",
      "size, mode",
      "mode",
    ],
    [
      "Segment.private()",
      () => Segment.private(8, { permissions: 0o600 } as never),
      "permissions",
      "mode",
      "mode",
    ],
    [
      "Segment.attach()",
      () => seg.attach({ readonly: true } as never),
      "readonly",
      "readOnly",
      "readOnly",
    ],
    [
      "Segment.setPermissions()",
      () => seg.setPermissions({ perms: 0o600 } as never),
      "perms",
      "mode, uid, gid",
      "mode",
    ],
    [
      "SemaphoreSet.create()",
      () => SemaphoreSet.create(k.key, { count: 1, initial: 1 } as never),
      "initial",
      "count, value, mode",
      undefined,
    ],
    [
      "SemaphoreSet.openOrCreate()",
      () => SemaphoreSet.openOrCreate(k.key, { count: 1, vaule: 1 } as never),
      "vaule",
      "count, value, mode",
      "value",
    ],
    [
      "SemaphoreSet.private()",
      () => SemaphoreSet.private(1, { count: 2 } as never),
      "count",
      "value, mode",
      undefined,
    ],
    [
      "SemaphoreSet.opSync()",
      () => set.opSync(ops, { timeoutMs: 5 } as never),
      "timeoutMs",
      "timeout",
      "timeout",
    ],
    [
      "an operation of SemaphoreSet.opSync()",
      () => set.opSync([{ index: 0, delta: 1, nowait: true } as never]),
      "nowait",
      "index, delta, undo, noWait",
      "noWait",
    ],
    [
      "SemaphoreSet.setPermissions()",
      () => set.setPermissions({ permissions: 0o600 } as never),
      "permissions",
      "mode, uid, gid",
      "mode",
    ],
  ];
  try {
    for (const [what, call, key, valid, near] of cases) {
      const e = assertThrows(
        call,
        TypeError,
        `Unknown option "${key}" for ${what} (valid: ${valid})`,
      );
      if (near !== undefined) assertStringIncludes(e.message, `did you mean "${near}"?`, what);
    }
    const e = await assertRejects(() => set.op(ops, { timeOut: 5 } as never), TypeError);
    assertMatch(
      e.message,
      /Unknown option "timeOut" for SemaphoreSet\.op\(\) \(valid: timeout, signal\); did you mean "timeout"\?/,
    );
    assertEquals(set.getValue(0), 0, "no operation was applied");
    assertThrows(() => SharedMemory.open(name), Deno.errors.NotFound, undefined, "nothing created");
    assertThrows(() => Segment.open(k.key), Deno.errors.NotFound);
    assertThrows(() => SemaphoreSet.open(k.key), Deno.errors.NotFound);
  } finally {
    seg.remove();
    set.remove();
  }
});

test("AlreadyExists and NotFound say how to open, create or remove, and the CLI command they name works", async () => {
  const name = uniqueName("teach");
  using shm = SharedMemory.create(name, { size: 8 });
  try {
    const e = assertThrows(() => SharedMemory.create(name, { size: 8 }), Deno.errors.AlreadyExists);
    assertStringIncludes(e.message, `${name} already exists; open it with SharedMemory.open()`);
    assertStringIncludes(e.message, `SharedMemory.unlink("${name}")`);
    const rm = e.message.match(/`deno run --allow-ffi jsr:@ipc\/shm\/cli (rm [^`]+)`/);
    assert(rm !== null, e.message);
    assertEquals((e as Deno.errors.AlreadyExists & { code: string }).code, "EEXIST");
    assertEquals(cli(rm[1]!.split(" "), () => {}), 0, "the suggested rm removes it");
  } finally {
    try {
      shm.unlink();
    } catch { /* removed by the suggested command */ }
  }
  const gone = assertThrows(() => SharedMemory.open(name), Deno.errors.NotFound);
  assertStringIncludes(
    gone.message,
    "create it with SharedMemory.create() or SharedMemory.openOrCreate()",
  );

  await using k = await freshKey(15);
  const hex = `0x${(k.key >>> 0).toString(16).padStart(8, "0")}`;
  const seg = Segment.create(k.key, { size: 8 });
  const set = SemaphoreSet.create(k.key, { count: 1 });
  try {
    const se = assertThrows(() => Segment.create(k.key, { size: 8 }), Deno.errors.AlreadyExists);
    assertStringIncludes(se.message, `\`ipcrm -M ${hex}\``);
    assertStringIncludes(se.message, `\`deno run --allow-ffi jsr:@ipc/shm/cli rm ${hex} --shm\``);
    assertStringIncludes(se.message, `Segment.open(${hex}).remove()`);
    const sse = assertThrows(
      () => SemaphoreSet.create(k.key, { count: 1 }),
      Deno.errors.AlreadyExists,
    );
    assertStringIncludes(sse.message, `\`ipcrm -S ${hex}\``);
    assertStringIncludes(sse.message, `cli rm ${hex} --sem\``);
    // The key names both objects: the suggested --shm / --sem pick one each.
    assertEquals(cli(["rm", hex, "--shm"], () => {}), 0);
    assertEquals(cli(["rm", hex, "--sem"], () => {}), 0);
  } finally {
    for (const f of [() => seg.remove(), () => set.remove()]) {
      try {
        f();
      } catch { /* removed by the suggested command */ }
    }
  }
  assertStringIncludes(
    assertThrows(() => Segment.open(k.key), Deno.errors.NotFound).message,
    "create it with Segment.create() or Segment.openOrCreate()",
  );
  assertStringIncludes(
    assertThrows(() => SemaphoreSet.open(k.key), Deno.errors.NotFound).message,
    "create it with SemaphoreSet.create() or SemaphoreSet.openOrCreate()",
  );
});

/** Asserts `e` is the NotFound for a removed System V id, with the kernel's own errno. */
function assertGone(e: unknown, kind: string, id: number, syscall: RegExp): void {
  assertInstanceOf(e, Deno.errors.NotFound);
  assertMatch(
    (e as Error).message,
    new RegExp(`System V ${kind} id ${id} no longer exists \\(removed\\?\\)`),
  );
  const f = e as Error & { code: string; errno: number; syscall: string };
  assert(["EINVAL", "EIDRM"].includes(f.code), f.code);
  assertEquals(f.errno, f.code === "EINVAL" ? 22 : 43);
  assertMatch(f.syscall, syscall);
}

test("every call on a removed System V segment is NotFound, keeping the kernel's errno", () => {
  const seg = Segment.private(64);
  const attached = seg.attach();
  seg.remove();
  // Removed but still attached: the kernel keeps it until the last detach.
  assertEquals(seg.stat().nattch, 1);
  attached.detach();
  const id = seg.id;
  assertGone(assertThrows(() => seg.stat()), "segment", id, /^shmctl$/);
  assertGone(assertThrows(() => seg.attach()), "segment", id, /^shmctl$/);
  assertGone(assertThrows(() => seg.setPermissions({ mode: 0o600 })), "segment", id, /^shmctl$/);
  assertGone(assertThrows(() => seg.remove()), "segment", id, /^shmctl$/);
  assertGone(assertThrows(() => Segment.fromId(id)), "segment", id, /^shmctl$/);
});

test("a genuine EINVAL stays a SystemError: openOrCreate() asking more than the segment holds", async () => {
  await using k = await freshKey(16);
  const seg = Segment.create(k.key, { size: 100 });
  try {
    const e = assertThrows(() => Segment.openOrCreate(k.key, { size: 1 << 20 }), SystemError);
    assertEquals(e.code, "EINVAL");
    assertStringIncludes(e.message, "is smaller than 1048576 bytes");
    assertFalse(e instanceof Deno.errors.NotFound);
  } finally {
    seg.remove();
  }
});

test("every call on a removed semaphore set is NotFound, keeping the kernel's errno", async () => {
  const set = SemaphoreSet.private(2);
  const id = set.id;
  set.remove();
  const ops = [{ index: 0, delta: 1 }];
  assertGone(assertThrows(() => set.stat()), "semaphore set", id, /^semctl/);
  assertGone(assertThrows(() => set.getValue(0)), "semaphore set", id, /^semctl/);
  assertGone(assertThrows(() => set.getAll()), "semaphore set", id, /^semctl/);
  assertGone(
    assertThrows(() => set.setPermissions({ mode: 0o600 })),
    "semaphore set",
    id,
    /^semctl/,
  );
  assertGone(assertThrows(() => set.opSync(ops)), "semaphore set", id, /^semop$/);
  assertGone(assertThrows(() => set.opSync(ops, { timeout: 0 })), "semaphore set", id, /^semop$/);
  assertGone(assertThrows(() => set.remove()), "semaphore set", id, /^semctl/);
  assertGone(assertThrows(() => SemaphoreSet.fromId(id)), "semaphore set", id, /^semctl/);
  assertGone(await assertRejects(() => set.op(ops)), "semaphore set", id, /^semop$/);
  set.close();
});

test("SemaphoreSet: closing the handle ends a pending op() with BadResource; later calls throw it", async () => {
  const set = SemaphoreSet.private(1);
  const rejected = assertRejects(() => set.op([{ index: 0, delta: -1 }]), Deno.errors.BadResource);
  try {
    await new Promise((r) => setTimeout(r, 30));
    const t0 = performance.now();
    set.close();
    const e = await rejected;
    assert(performance.now() - t0 < 500, "close() ended the wait at once");
    assertMatch(e.message, new RegExp(`System V semaphore set ${set.id}: this handle is closed`));
    assert(set.closed);
    set.close(); // idempotent
    const ops = [{ index: 0, delta: 1 }];
    assertThrows(() => set.opSync(ops), Deno.errors.BadResource);
    assertThrows(() => set.getValue(0), Deno.errors.BadResource);
    await assertRejects(() => set.op(ops), Deno.errors.BadResource);
  } finally {
    SemaphoreSet.fromId(set.id).remove();
    await rejected.catch(() => {}); // settled either way; its failure was reported above
  }
});

test("SemaphoreSet: a set removed by another process ends a pending op() and a blocked opSync() with NotFound", async () => {
  const url = JSON.stringify(new URL("../sysv/semaphore_set.ts", import.meta.url).href);
  const remover = (id: number, delayMs: number) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `import { SemaphoreSet } from ${url};
         await new Promise((r) => setTimeout(r, ${delayMs}));
         SemaphoreSet.fromId(${id}).remove();`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
  const a = SemaphoreSet.private(1);
  const b = SemaphoreSet.private(1);
  try {
    const rejected = assertRejects(() => a.op([{ index: 0, delta: -1 }], { timeout: 10_000 }));
    const done = await remover(a.id, 50);
    assertEquals(done.code, 0, decoder.decode(done.stderr));
    assertGone(await rejected, "semaphore set", a.id, /^semop$/);

    const child = remover(b.id, 200);
    // Blocks this thread in semtimedop until the child removes the set (EIDRM).
    assertGone(
      assertThrows(() => b.opSync([{ index: 0, delta: -1 }], { timeout: 10_000 })),
      "semaphore set",
      b.id,
      /^semtimedop$/,
    );
    const out = await child;
    assertEquals(out.code, 0, decoder.decode(out.stderr));
  } finally {
    for (const set of [a, b]) {
      try {
        SemaphoreSet.fromId(set.id).remove();
      } catch { /* removed by the child, as the test means */ }
    }
  }
});

test("struct accessors and views of a closed mapping throw BadResource naming it, never the engine's TypeError", () => {
  const Rec = struct({ id: i32, name: char(8), pair: array(i32, 2), tags: array(char(4), 2) });
  const Outer = struct({ inner: Rec });
  const name = uniqueName("stale");
  const shm = SharedMemory.create(name, { size: 4096 });
  shm.unlink();
  const rec = shm.struct(Rec);
  const outer = shm.struct(Outer, 64);
  const inner = outer.inner;
  const tags = rec.tags;
  const dv = shm.dataView();
  shm.resize(8192);
  const remapped = `SharedMemory "${name}" was remapped`;
  assertThrows(() => rec.id, Deno.errors.BadResource, remapped);
  assertThrows(() => tags.get(0), Deno.errors.BadResource, remapped);
  const fresh = shm.struct(Rec);
  const freshTags = fresh.tags;
  fresh.id = 1;
  shm.close();
  const closed = `SharedMemory "${name}" is closed`;
  const calls: [string, () => unknown][] = [
    [`read field "id"`, () => fresh.id],
    [`write field "id"`, () => (fresh.id = 2)],
    [`read field "name"`, () => fresh.name],
    [`write field "name"`, () => (fresh.name = "x")],
    [`read field "pair"`, () => fresh.pair],
    [`read element 1`, () => freshTags.get(1)],
    [`write element 0`, () => freshTags.set(0, "ab")],
    [`read element 0`, () => [...freshTags]],
    [`read the struct`, () => fresh.toJSON()],
    [`write the struct`, () => fresh.set({ id: 3 })],
    [`read field "id"`, () => outer.inner.id],
    [`read field "id"`, () => inner.id],
    [`make a struct accessor`, () => Rec.at(dv)],
    [`make a struct accessor`, () => shm.struct(Rec)],
    [`make a view`, () => shm.view(Int32Array)],
    [`make a DataView`, () => shm.dataView()],
    [`take bytes`, () => shm.bytes],
    [`read a C string`, () => shm.readCString(0)],
  ];
  for (const [action, call] of calls) {
    const e = assertThrows(call, Deno.errors.BadResource, undefined, action);
    assertMatch(e.message, /^Cannot /);
    assertStringIncludes(e.message, `Cannot ${action}: ${closed}`);
  }
  // Mistakes on live memory keep their own error.
  using live = SharedMemory.create(name, { size: 64 });
  live.unlink();
  assertThrows(() => (live.struct(Rec).name = "much too long"), RangeError);
  assertThrows(() => live.struct(null as never), TypeError, "struct() takes a struct type");
  assertThrows(() => array(null as never, 2), TypeError, "not a layout type");
});

test("an attachment's stale accessor names the System V segment", () => {
  const seg = Segment.private(64);
  try {
    const at = seg.attach();
    const rec = at.struct(struct({ n: i32 }));
    at.detach();
    assertThrows(
      () => rec.n,
      Deno.errors.BadResource,
      `Cannot read field "n": the attachment of System V segment ${seg.id} is closed`,
    );
  } finally {
    seg.remove();
  }
});

test("a scoped --allow-ffi=libc.so.6 is told to use unscoped --allow-ffi, not that its C library is unsupported", async () => {
  const name = uniqueName("scoped");
  const script = await tempModule(`
    import { SharedMemory } from "@lib/posix/shared_memory.ts";
    SharedMemory.create(Deno.args[0], { size: 8 }).close();
  `);
  const cwd = await Deno.makeTempDir();
  try {
    for (const flag of ["--allow-ffi=libc.so.6", "--allow-ffi=/usr/lib"]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--no-prompt", flag, script, name],
        cwd,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const stderr = decoder.decode(out.stderr);
      assertEquals(out.code, 1, stderr);
      assertStringIncludes(stderr, "NotCapable: @ipc/shm needs unscoped --allow-ffi");
      assertStringIncludes(stderr, "deno run --allow-ffi <script>");
      assertNotMatch(stderr, /musl|not supported/);
    }
    assertOk(await runDeno(script, [name]), "the same script with unscoped --allow-ffi");
  } finally {
    try {
      SharedMemory.unlink(name);
    } catch { /* never made */ }
    await Deno.remove(script);
    await Deno.remove(cwd);
  }
});

test("struct fields refuse a value of the wrong JS type instead of storing a coerced one", () => {
  const Rec = struct({ n: i32, big: i64, f: f32, flag: bool });
  const rec = Rec.at(new DataView(new ArrayBuffer(Rec.size)));
  rec.n = 7;
  for (const v of ["abc", "3", 1n, null, undefined, {}, Symbol("s")]) {
    assertThrows(() => (rec.n = v as never), TypeError, "int32_t takes a number");
    assertThrows(() => (rec.f = v as never), TypeError, "float takes a number");
  }
  assertThrows(() => (rec.big = 1 as never), TypeError, "int64_t takes a bigint, got number");
  assertThrows(() => (rec.flag = "false" as never), TypeError, "bool takes a boolean, got string");
  assertEquals(rec.n, 7, "nothing was stored");
});

test("bad arguments to views, layouts and System V calls are our TypeError/RangeError, never the engine's", async () => {
  const name = uniqueName("args");
  using shm = SharedMemory.create(name, { size: 64 });
  shm.unlink();
  const seg = Segment.private(64);
  const set = SemaphoreSet.private(1);
  try {
    using at = seg.attach();
    const Rec = struct({ n: i32, tags: array(char(2), 2) });
    const rec = shm.struct(Rec);
    const engine = /Cannot convert|Cannot read prop|is not a function|detached/;
    for (const v of [Symbol("s"), 10n, null, "x", {}]) {
      const calls: [string, () => unknown][] = [
        ["view offset", () => shm.view(Int32Array, v as never)],
        ["view length", () => at.view(Int32Array, 0, v as never)],
        ["dataView", () => shm.dataView(v as never)],
        ["readCString", () => at.readCString(0, v as never)],
        ["writeCString", () => shm.writeCString(v as never, "a")],
        ["struct offset", () => shm.struct(Rec, v as never)],
        ["struct layout", () => shm.struct(v as never)],
        ["at offset", () => Rec.at(new DataView(new ArrayBuffer(8)), v as never)],
        ["char", () => char(v as never)],
        ["array length", () => array(i32, v as never)],
        ["array element", () => array(v as never, 2)],
        ["element index", () => rec.tags.get(v as never)],
        ["Segment.setPermissions", () => seg.setPermissions(v as never)],
        ["SemaphoreSet.setPermissions", () => set.setPermissions(v as never)],
      ];
      for (const [what, call] of calls) {
        // null for an optional length means "the default", like undefined.
        if (v === null && (what === "view length" || what === "readCString")) continue;
        // {} asks setPermissions() to change nothing, which is fine.
        if (typeof v === "object" && v !== null && what.endsWith("setPermissions")) continue;
        const e = assertThrows(call, Error, undefined, what);
        assert(e instanceof TypeError || e instanceof RangeError, `${what}: ${e}`);
        assertNotMatch(e.message, engine, what);
      }
      if (v !== null) {
        const e = await assertRejects(() =>
          set.op([{ index: 0, delta: 1 }], { signal: v as never })
        );
        assertEquals((e as Error).message, "signal must be an AbortSignal");
      }
    }
    assertThrows(
      () => seg.setPermissions(undefined as never),
      TypeError,
      "takes { mode?, uid?, gid? }",
    );
    assertEquals(set.getValue(0), 0);
  } finally {
    seg.remove();
    set.remove();
  }
});

test("-0 as a mode, semaphore value or System V id is a RangeError naming it, never Deno's FFI TypeError", () => {
  const name = uniqueName("negzero");
  const cases: [string, () => unknown][] = [
    ["SharedMemory mode", () => SharedMemory.create(name, { size: 64, mode: -0 })],
    ["Semaphore value", () => Semaphore.create(name, { value: -0 })],
    ["Semaphore mode", () => Semaphore.create(name, { mode: -0 })],
    ["Segment.fromId", () => Segment.fromId(-0)],
    ["SemaphoreSet value", () => SemaphoreSet.private(1, { value: -0 })],
  ];
  for (const [what, call] of cases) assertThrows(call, RangeError, "-0", what);
  assertEquals(devShmEntries(name.slice(1)), [], "nothing was created");
});
