import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { char, i32, struct } from "../memory/layout.ts";
import { assertOk, runDeno, tempModule, uniqueName } from "./_helpers.ts";

const lib = new URL("../mod.ts", import.meta.url).href;

function withShm(size: number, fn: (shm: SharedMemory) => void | Promise<void>) {
  return async () => {
    const name = uniqueName("view");
    const shm = SharedMemory.create(name, { size });
    try {
      await fn(shm);
    } finally {
      shm.close();
      SharedMemory.unlink(name);
    }
  };
}

Deno.test(
  "view() works for every TypedArray constructor over the same bytes",
  withShm(4096, (shm) => {
    const ctors = [
      Int8Array,
      Uint8Array,
      Uint8ClampedArray,
      Int16Array,
      Uint16Array,
      Int32Array,
      Uint32Array,
      Float32Array,
      Float64Array,
      BigInt64Array,
      BigUint64Array,
    ] as const;
    for (const C of ctors) {
      const v = shm.view(C, 64, 4);
      assertEquals(v.length, 4);
      assertEquals(v.byteOffset, 64);
      assert(v instanceof C);
    }
    shm.view(Uint32Array, 128, 1)[0] = 0xdeadbeef;
    assertEquals(shm.dataView().getUint32(128, true), 0xdeadbeef);
    assertEquals(shm.view(BigUint64Array, 128, 1)[0], 0xdeadbeefn);
    assertEquals(shm.view(Float64Array).length, 4096 / 8);
    assertEquals(shm.view(Uint8Array, 4000).length, 96);
  }),
);

Deno.test(
  "view() rejects out-of-bounds, misaligned and non-TypedArray requests with RangeError/TypeError",
  withShm(4096, (shm) => {
    assertThrows(() => shm.view(Int32Array, 2), RangeError); // misaligned
    assertThrows(() => shm.view(Float64Array, 4), RangeError);
    assertThrows(() => shm.view(BigInt64Array, 12, 1), RangeError);
    assertThrows(() => shm.view(Uint8Array, 4097), RangeError);
    assertThrows(() => shm.view(Uint8Array, 4000, 97), RangeError);
    assertThrows(() => shm.view(Int32Array, 0, 1025), RangeError);
    assertThrows(() => shm.view(Uint8Array, -1), RangeError);
    assertThrows(() => shm.view(Uint8Array, 1.5), RangeError);
    assertThrows(() => shm.view(Uint8Array, 0, -1), RangeError);
    assertThrows(() => shm.view(Array as never), TypeError);
    assertThrows(() => shm.view(DataView as never), TypeError);
    assertThrows(() => shm.dataView(4090, 7), RangeError);
    assertThrows(() => shm.dataView(-4), RangeError);
    assertEquals(shm.dataView(4090).byteLength, 6);
  }),
);

Deno.test(
  "readCString()/writeCString() are bounded, NUL-terminated UTF-8",
  withShm(64, (shm) => {
    assertEquals(shm.writeCString(0, "héllo"), 7);
    assertEquals(shm.readCString(0), "héllo");
    assertEquals(shm.readCString(0, 3), "hé");
    assertThrows(() => shm.writeCString(60, "toolong"), RangeError);
    assertThrows(() => shm.writeCString(0, "abcdef", 6), RangeError); // no room for the NUL
    assertEquals(shm.writeCString(0, "abcde", 6), 6);
    assertThrows(() => shm.writeCString(0, 5 as never), TypeError);
    assertThrows(() => shm.readCString(65), RangeError);
    shm.bytes.fill(0x41, 32); // no NUL until the end: reading stops at the end
    assertEquals(shm.readCString(32), "A".repeat(32));
  }),
);

Deno.test(
  "struct() gives live field accessors, checked for alignment and bounds",
  withShm(256, (shm) => {
    const Rec = struct({ user_id: i32, username: char(64) });
    const rec = shm.struct(Rec, 8);
    rec.user_id = 1234;
    rec.username = "ada";
    assertEquals(shm.view(Int32Array, 8, 1)[0], 1234);
    assertEquals(shm.readCString(12), "ada");
    assertThrows(() => (rec.username = "x".repeat(65)), RangeError);
    assertThrows(() => shm.struct(Rec, 2), RangeError);
    assertThrows(() => shm.struct(Rec, 192), RangeError);
  }),
);

Deno.test("close() detaches every view: old views read as length 0 and accessors throw, never crash", () => {
  const name = uniqueName("dead");
  const shm = SharedMemory.create(name, { size: 4096 });
  shm.unlink();
  const bytes = shm.bytes;
  const f64 = shm.view(Float64Array, 8, 2);
  const dv = shm.dataView(16, 16);
  const rec = shm.struct(struct({ a: i32, b: i32 }), 32);
  rec.a = 1;
  shm.close();
  assertEquals(bytes.length, 0);
  assertEquals(f64.length, 0);
  assertEquals(bytes[0], undefined);
  assertEquals(bytes.buffer.byteLength, 0);
  // A DataView is the engine's own object: its methods throw the engine's TypeError once detached.
  assertThrows(() => dv.getInt32(0), TypeError);
  const closed = `SharedMemory "${name}" is closed`;
  assertThrows(() => rec.a, Deno.errors.BadResource, `Cannot read field "a": ${closed}`);
  assertThrows(() => (rec.b = 2), Deno.errors.BadResource, `Cannot write field "b": ${closed}`);
  assertThrows(() => rec.toJSON(), Deno.errors.BadResource, closed);
  assertThrows(() => shm.view(Int32Array), Deno.errors.BadResource, closed);
  assertThrows(() => shm.dataView(), Deno.errors.BadResource, closed);
});

Deno.test("a buffer moved away before close() stays readable afterwards (no SIGSEGV)", async () => {
  const child = await tempModule(`
    import { SharedMemory } from ${JSON.stringify(lib)};
    const name = "/t-escape-" + Deno.pid;
    const shm = SharedMemory.create(name, { size: 8192 });
    shm.unlink();
    shm.bytes[0] = 1;
    const moved = shm.bytes.buffer.transfer();              // ArrayBuffer.prototype.transfer
    const cloned = structuredClone(shm.bytes.buffer, { transfer: [shm.bytes.buffer] });
    const { port1, port2 } = new MessageChannel();
    const viaPort = new Promise((r) => (port2.onmessage = (e) => r(e.data)));
    port1.postMessage(shm.bytes.buffer, [shm.bytes.buffer]);
    const posted = await viaPort;
    port1.close(); port2.close();
    shm.close();
    // Touch every page of every moved buffer: the range was overlaid, not unmapped.
    let sum = 0;
    for (const b of [moved, cloned, posted]) {
      const v = new Uint8Array(b);
      for (let i = 0; i < v.length; i += 4096) sum += v[i];
      v[v.length - 1] = 9;
    }
    console.log("alive", sum);
  `);
  try {
    const r = await runDeno(child);
    assertOk(r, "escape child");
    assertEquals(r.signal, null);
    assertMatch(r.stdout, /^alive 0/);
  } finally {
    await Deno.remove(child);
  }
});

Deno.test("no sequence of public calls crashes: use after close, resize, and views in any order", async () => {
  const child = await tempModule(`
    import { SharedMemory, char, i32, struct } from ${JSON.stringify(lib)};
    const name = "/t-abuse-" + Deno.pid;
    const shm = SharedMemory.create(name, { size: 100 });
    const peer = SharedMemory.open(name, { readOnly: true });
    shm.unlink();
    const views = [shm.bytes, shm.view(Int32Array), peer.bytes, shm.dataView()];
    const rec = shm.struct(struct({ id: i32, name: char(16) }));
    shm.resize(70000);
    const late = shm.bytes;
    late[69999] = 1;
    const escaped = late.buffer.transfer();
    shm.close();
    peer.close();
    for (const v of views) { try { v instanceof DataView ? v.getInt8(0) : v[0]; } catch {} }
    try { rec.id; } catch {}
    for (const f of [() => shm.bytes, () => shm.view(Uint8Array), () => shm.resize(1 << 20), () => peer.readCString(0)]) {
      try { f(); } catch (e) { if (!(e instanceof Deno.errors.BadResource)) throw e; }
    }
    console.log("survived", new Uint8Array(escaped)[69999]);
  `);
  try {
    const r = await runDeno(child);
    assertOk(r, "abuse child");
    assertMatch(r.stdout, /^survived 0/);
  } finally {
    await Deno.remove(child);
  }
});

Deno.test(
  "writeCString() refuses a NUL or a lone surrogate with TypeError instead of storing a shorter string",
  withShm(64, (shm) => {
    shm.writeCString(0, "keep");
    assertThrows(() => shm.writeCString(0, "a\0b"), TypeError, "NUL");
    assertThrows(() => shm.writeCString(0, "a\uD83D"), TypeError, "surrogate");
    assertEquals(shm.readCString(0), "keep");
    assertEquals(shm.writeCString(8, "\u{1F600}"), 5);
    assertEquals(shm.readCString(8), "\u{1F600}");
  }),
);
