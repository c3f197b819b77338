/**
 * System V objects under hostile arguments (issue #14): values at SEMVMX,
 * timeouts no timespec can hold, holes where numbers belong, errno names,
 * options that are not objects, and removed ids.
 *
 * @module
 */

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Segment } from "../sysv/segment.ts";
import { SemaphoreSet, SEMVMX } from "../sysv/semaphore_set.ts";
import { listSegments, listSemaphoreSets } from "../sysv/list.ts";
import { test } from "./_helpers.ts";

const made = { segments: new Set<number>(), sets: new Set<number>() };
function track<T extends Segment | SemaphoreSet>(x: T): T {
  (x instanceof Segment ? made.segments : made.sets).add(x.id);
  return x;
}

/** A key no other test or run uses: high bit set, pid in the low bits. */
function freshKey(n: number): number {
  return (0x5e000000 | ((Deno.pid & 0xffff) << 8) | n) >>> 0;
}

test("SemaphoreSet.private/create/openOrCreate take value 32767 (SEMVMX), and refuse 32768", () => {
  const a = track(SemaphoreSet.private(2, { value: SEMVMX }));
  try {
    assertEquals(a.getAll(), [SEMVMX, SEMVMX]);
    assertEquals(a.stat().otime !== null, true, "initialised (sem_otime set)");
  } finally {
    a.remove();
  }
  const key = freshKey(1);
  const b = track(SemaphoreSet.create(key, { count: 1, value: SEMVMX }));
  b.remove();
  const c = track(SemaphoreSet.openOrCreate(key, { count: 1, value: SEMVMX }));
  try {
    assertEquals(c.getValue(0), SEMVMX);
  } finally {
    c.remove();
  }
  assertThrows(() => SemaphoreSet.private(1, { value: SEMVMX + 1 }), RangeError, "32767");
  assertThrows(() => SemaphoreSet.private(1, { value: -1 }), RangeError);
});

test("SemaphoreSet.opSync() and op() with a huge or infinite timeout wait instead of failing EINVAL", async () => {
  const set = track(SemaphoreSet.private(1, { value: 4 }));
  try {
    for (const timeout of [1e22, Infinity, Number.MAX_VALUE, 2 ** 53, 2 ** 31]) {
      set.opSync([{ index: 0, delta: -1 }], { timeout });
      set.opSync([{ index: 0, delta: 1 }], { timeout });
      await set.op([{ index: 0, delta: -1 }], { timeout });
      await set.op([{ index: 0, delta: 1 }], { timeout });
    }
    assertEquals(set.getValue(0), 4);
    // A real wait with a huge timeout: a child posts after 100 ms.
    set.setValue(0, 0);
    const poster = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { SemaphoreSet } from "${new URL("../sysv/semaphore_set.ts", import.meta.url)}";
         await new Promise((r) => setTimeout(r, 100));
         SemaphoreSet.fromId(${set.id}).setValue(0, 2);`,
      ],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    set.opSync([{ index: 0, delta: -1 }], { timeout: 1e22 });
    await set.op([{ index: 0, delta: -1 }], { timeout: 1e22 });
    assertEquals((await poster.status).code, 0);
  } finally {
    set.remove();
  }
});

test("SemaphoreSet.setAll() refuses holes and non-numbers with TypeError instead of storing 0", () => {
  const set = track(SemaphoreSet.private(2, { value: 3 }));
  try {
    assertThrows(() => set.setAll(new Array(2)), TypeError, "setAll() value 0");
    assertThrows(() => set.setAll([1, undefined as never]), TypeError, "setAll() value 1");
    assertThrows(() => set.setAll([1, "2" as never]), TypeError);
    assertThrows(() => set.setAll(new Uint16Array(2) as never), TypeError);
    assertThrows(() => set.setAll([1]), RangeError);
    assertEquals(set.getAll(), [3, 3]);
    set.setAll([SEMVMX, 0]);
    assertEquals(set.getAll(), [SEMVMX, 0]);
  } finally {
    set.remove();
  }
});

test("semop's E2BIG (more ops than SEMOPM) carries its name, not E7", () => {
  const set = track(SemaphoreSet.private(1));
  try {
    const semopm = Number(Deno.readTextFileSync("/proc/sys/kernel/sem").trim().split(/\s+/)[2]);
    const ops = Array.from({ length: semopm + 1 }, () => ({ index: 0, delta: 0 }));
    const e = assertThrows(() => set.opSync(ops, { timeout: 0 })) as Error & { code: string };
    assertEquals(e.code, "E2BIG");
    assertEquals(e.message.includes("E2BIG"), true, e.message);
  } finally {
    set.remove();
  }
});

test("options that are not objects, and signals that are not AbortSignals, are TypeError", async () => {
  assertThrows(() => Segment.private(64, "x" as never), TypeError, "options must be an object");
  assertThrows(() => Segment.private(64, null as never), TypeError);
  assertThrows(() => Segment.create(freshKey(2), 64 as never), TypeError);
  assertThrows(() => SemaphoreSet.private(1, 5 as never), TypeError, "options must be an object");
  assertThrows(() => SemaphoreSet.create(freshKey(3), "x" as never), TypeError);
  const set = track(SemaphoreSet.private(1, { value: 1 }));
  const seg = track(Segment.private(64));
  try {
    assertThrows(() => seg.attach(true as never), TypeError);
    assertThrows(() => set.opSync([{ index: 0, delta: 0 }], 5 as never), TypeError);
    for (const signal of [{}, "abort", { aborted: true }, 1]) {
      await assertRejects(
        () => set.op([{ index: 0, delta: -1 }], { signal: signal as never }),
        TypeError,
        "AbortSignal",
      );
    }
    assertThrows(
      () =>
        set.opSync([{ index: 0, delta: -1 }], { signal: new AbortController().signal } as never),
      TypeError,
      "signal",
    );
    // null is not "absent": a default applies to undefined only.
    assertThrows(() => Segment.private(64, { mode: null as never }), TypeError, "mode");
    assertThrows(() => seg.attach({ readOnly: null as never }), TypeError, "readOnly");
    assertThrows(() => seg.setPermissions({ mode: null as never }), TypeError, "mode");
    assertThrows(() => set.setPermissions({ mode: null as never }), TypeError, "mode");
    // Flags take booleans: undo: "no" must not mean SEM_UNDO.
    for (const flag of ["undo", "noWait"]) {
      assertThrows(
        () => set.opSync([{ index: 0, delta: -1, [flag]: "no" as never }], { timeout: 0 }),
        TypeError,
        flag,
      );
    }
    assertEquals(set.getValue(0), 1, "no refused call applied anything");
  } finally {
    set.remove();
    seg.remove();
  }
});

test("a removed segment's stat() and attach() are NotFound", () => {
  const seg = track(Segment.private(64));
  seg.remove();
  assertThrows(() => seg.stat(), Deno.errors.NotFound, "no longer exists");
  assertThrows(() => seg.attach(), Deno.errors.NotFound, "no longer exists");
  assertThrows(() => Segment.fromId(seg.id), Deno.errors.NotFound);
});

test("sysv_hostile_test.ts leaves no segment or semaphore set behind", () => {
  const segments = new Set(listSegments().map((s) => s.id));
  const sets = new Set(listSemaphoreSets().map((s) => s.id));
  for (const id of made.segments) assertEquals(segments.has(id), false, `segment ${id} left`);
  for (const id of made.sets) assertEquals(sets.has(id), false, `semaphore set ${id} left`);
});
