import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import type { ErrnoError } from "../ffi/errno.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import {
  assertNoLeftovers,
  assertOk,
  devShmEntries,
  runDeno,
  tempModule,
  uniqueName,
} from "./_helpers.ts";

const lib = new URL("../mod.ts", import.meta.url).href;

Deno.test("SharedMemory: a child Deno process writes, the parent reads, and back", async () => {
  const name = uniqueName("xproc");
  using shm = SharedMemory.create(name, { size: 4096 });
  try {
    shm.writeCString(0, "from the parent");
    const child = await tempModule(`
      import { SharedMemory } from ${JSON.stringify(lib)};
      using shm = SharedMemory.open(${JSON.stringify(name)});
      console.log(shm.readCString(0));
      shm.writeCString(1024, "from the child, pid " + Deno.pid);
      shm.view(Float64Array, 2048, 4).set([1.5, 2.5, 3.5, 4.5]);
    `);
    try {
      const r = await runDeno(child);
      assertOk(r);
      assertEquals(r.stdout.trim(), "from the parent");
      assertMatch(shm.readCString(1024), /^from the child, pid \d+$/);
      assertEquals([...shm.view(Float64Array, 2048, 4)], [1.5, 2.5, 3.5, 4.5]);
    } finally {
      await Deno.remove(child);
    }
  } finally {
    SharedMemory.unlink(name);
  }
});

Deno.test("SharedMemory.create() throws AlreadyExists when the name exists, and leaves the first intact", () => {
  const name = uniqueName("dup");
  using shm = SharedMemory.create(name, { size: 64 });
  try {
    shm.bytes[0] = 9;
    const dup = assertThrows(
      () => SharedMemory.create(name, { size: 128 }),
      Deno.errors.AlreadyExists,
      name,
    );
    const { code, syscall } = dup as ErrnoError;
    assertEquals([code, syscall], ["EEXIST", "shm_open"]);
    using again = SharedMemory.open(name);
    assertEquals(again.size, 64);
    assertEquals(again.bytes[0], 9);
  } finally {
    SharedMemory.unlink(name);
  }
});

Deno.test("SharedMemory.open() and unlink() throw NotFound for a missing name", () => {
  const name = uniqueName("missing");
  const missing = assertThrows(() => SharedMemory.open(name), Deno.errors.NotFound);
  assertEquals((missing as ErrnoError).errno, 2);
  assertThrows(() => SharedMemory.unlink(name), Deno.errors.NotFound);
});

Deno.test("SharedMemory rejects every bad name with TypeError/RangeError before any syscall", () => {
  const bad: [unknown, ErrorConstructor][] = [
    ["noslash", TypeError],
    ["", TypeError],
    ["/", TypeError],
    ["/a/b", TypeError],
    ["/nul\0inside", TypeError],
    ["/.", TypeError],
    ["/..", TypeError],
    [`/${"x".repeat(256)}`, RangeError],
    [`/${"é".repeat(128)}`, RangeError], // 256 bytes of UTF-8
    [42, TypeError],
    [undefined, TypeError],
    [null, TypeError],
  ];
  for (const [name, Err] of bad) {
    assertThrows(
      () => SharedMemory.create(name as string, { size: 8 }),
      Err,
      undefined,
      `create(${JSON.stringify(name)})`,
    );
    assertThrows(
      () => SharedMemory.open(name as string),
      Err,
      undefined,
      `open(${JSON.stringify(name)})`,
    );
    assertThrows(
      () => SharedMemory.unlink(name as string),
      Err,
      undefined,
      `unlink(${JSON.stringify(name)})`,
    );
  }
  // 255 bytes is the limit, and it works.
  const longest = `/${"y".repeat(240)}-${Deno.pid}`.slice(0, 256);
  SharedMemory.create(longest, { size: 8 }).close();
  SharedMemory.unlink(longest);
});

Deno.test("SharedMemory rejects every bad size and mode, and a failed create leaves nothing behind", () => {
  const name = uniqueName("size");
  const sizes: [unknown, ErrorConstructor][] = [
    [0, RangeError],
    [-1, RangeError],
    [1.5, RangeError],
    [NaN, RangeError],
    [Infinity, RangeError],
    [Number.MAX_SAFE_INTEGER + 2, RangeError],
    ["4096", TypeError],
    [4096n, TypeError],
    [undefined, TypeError],
  ];
  for (const [size, Err] of sizes) {
    assertThrows(
      () => SharedMemory.create(name, { size: size as number }),
      Err,
      undefined,
      `size ${String(size)}`,
    );
  }
  assertThrows(() => SharedMemory.create(name, undefined as never), TypeError);
  assertThrows(() => SharedMemory.create(name, { size: 8, mode: 0o1000 }), RangeError);
  assertThrows(() => SharedMemory.create(name, { size: 8, mode: -1 }), RangeError);
  assertThrows(() => SharedMemory.create(name, { size: 8, mode: "600" as never }), TypeError);
  assertThrows(() => SharedMemory.open(name, { readOnly: "yes" as never }), TypeError);
  // Larger than this machine could reserve: posix_fallocate fails and the object is removed.
  const huge = assertThrows(() => SharedMemory.create(name, { size: 2 ** 50 }), Error) as Error & {
    code?: string;
  };
  assert(["ENOSPC", "EFBIG", "ENOMEM"].includes(huge.code ?? ""), huge.code);
  assertEquals(devShmEntries(name.slice(1)), []);
});

Deno.test("SharedMemory is created 0o600 unless another mode is asked for, which is applied exactly", () => {
  const a = uniqueName("mode");
  const b = uniqueName("mode");
  using sa = SharedMemory.create(a, { size: 8 });
  using sb = SharedMemory.create(b, { size: 8, mode: 0o664 });
  try {
    assertEquals(Deno.statSync(`/dev/shm${a}`).mode! & 0o777, 0o600);
    assertEquals(Deno.statSync(`/dev/shm${b}`).mode! & 0o777, 0o664);
  } finally {
    sa.unlink();
    sb.unlink();
  }
});

Deno.test("SharedMemory.openOrCreate() creates once, then opens, and grows a smaller object", () => {
  const name = uniqueName("ooc");
  try {
    using a = SharedMemory.openOrCreate(name, { size: 100 });
    a.bytes[99] = 7;
    using b = SharedMemory.openOrCreate(name, { size: 100 });
    assertEquals(b.bytes[99], 7);
    using c = SharedMemory.openOrCreate(name, { size: 8192 });
    assertEquals(c.size, 8192);
    assertEquals(c.bytes[99], 7);
  } finally {
    SharedMemory.unlink(name);
  }
});

Deno.test("SharedMemory.resize() grows, keeps the data, detaches old views, and peers see the new size", () => {
  const name = uniqueName("resize");
  using shm = SharedMemory.create(name, { size: 16 });
  try {
    shm.bytes.set([1, 2, 3]);
    const old = shm.bytes;
    const oldI32 = shm.view(Int32Array);
    shm.resize(3 * 4096);
    assertEquals(old.length, 0);
    assertEquals(oldI32.length, 0);
    assertEquals(shm.size, 3 * 4096);
    assertEquals([...shm.bytes.subarray(0, 4)], [1, 2, 3, 0]);
    shm.bytes[3 * 4096 - 1] = 255;
    using peer = SharedMemory.open(name);
    assertEquals(peer.size, 3 * 4096);
    assertEquals(peer.bytes[3 * 4096 - 1], 255);
    shm.resize(3 * 4096); // same size: nothing happens
    assertThrows(() => shm.resize(16), RangeError);
    assertThrows(() => shm.resize(0), RangeError);
    using ro = SharedMemory.open(name, { readOnly: true });
    assertThrows(() => ro.resize(65536), TypeError);
  } finally {
    SharedMemory.unlink(name);
  }
});

Deno.test("SharedMemory read-only: views read normally; a write neither crashes nor reaches the object", async () => {
  const name = uniqueName("ro");
  using shm = SharedMemory.create(name, { size: 8192 });
  try {
    shm.writeCString(0, "hello");
    using ro = SharedMemory.open(name, { readOnly: true });
    assertEquals(ro.readOnly, true);
    const v = ro.bytes;
    assertEquals(v.length, 8192);
    assertEquals(v.indexOf(0x6c), 2); // "l"
    assertEquals([...v.subarray(0, 5)], [...new TextEncoder().encode("hello")]);
    // Writes by the owner are seen through the read-only handle (pages not written here).
    shm.bytes[4096] = 77;
    assertEquals(ro.bytes[4096], 77);
    // A write through the read-only view stays private to this process.
    v[0] = 0x48;
    assertEquals(shm.bytes[0], 0x68);
    using again = SharedMemory.open(name, { readOnly: true });
    assertEquals(again.readCString(0), "hello");
    // And in another process, the same write does not crash it either.
    const child = await tempModule(`
      import { SharedMemory } from ${JSON.stringify(lib)};
      using ro = SharedMemory.open(${JSON.stringify(name)}, { readOnly: true });
      ro.bytes.fill(1);
      ro.view(Float64Array)[0] = 3.25;
      console.log(ro.view(Float64Array)[0]);
    `);
    try {
      const r = await runDeno(child);
      assertOk(r);
      assertEquals(r.stdout.trim(), "3.25");
      assertEquals(shm.readCString(0), "hello");
    } finally {
      await Deno.remove(child);
    }
  } finally {
    SharedMemory.unlink(name);
  }
});

Deno.test("SharedMemory.close() is idempotent, refuses further use, and the object stays until unlinked", () => {
  const name = uniqueName("close");
  const shm = SharedMemory.create(name, { size: 64 });
  try {
    shm.bytes[0] = 5;
    shm.close();
    shm.close();
    assertEquals(shm.closed, true);
    assertThrows(() => shm.bytes, Deno.errors.BadResource);
    assertThrows(() => shm.view(Uint8Array), Deno.errors.BadResource);
    assertThrows(() => shm.resize(128), Deno.errors.BadResource);
    using again = SharedMemory.open(name);
    assertEquals(again.bytes[0], 5);
  } finally {
    shm.unlink(); // works on a closed handle
  }
  assertThrows(() => SharedMemory.open(name), Deno.errors.NotFound);
});

/**
 * Runs `SharedMemory.open(name, options)` in a child (killed after 10 s: an open
 * that blocks on a FIFO must fail this test, not hang the run) and returns the
 * error's class and message, or "ok <size>".
 */
async function openInChild(name: string, call: string): Promise<string> {
  const script = await tempModule(`
    import { SharedMemory } from "@lib/posix/shared_memory.ts";
    try {
      const shm = ${call.replace("$NAME", JSON.stringify(name))};
      console.log("ok " + shm.size);
      shm.close();
    } catch (e) {
      console.log(e.constructor.name + " " + e.message);
    }`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-ffi", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const out = await child.output();
  clearTimeout(timer);
  await Deno.remove(script);
  if (out.signal !== null) return `killed by ${out.signal} (hung?)`;
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("SharedMemory.open() of a FIFO, directory, socket, symlink or empty file is InvalidData naming what it is, and never blocks", async () => {
  const base = uniqueName("kind");
  const path = (s: string) => `/dev/shm${base}${s}`;
  const made: string[] = [];
  try {
    const fifo = await new Deno.Command("mkfifo", { args: [path("-fifo")] }).output();
    assert(fifo.success, "mkfifo");
    made.push("-fifo");
    Deno.mkdirSync(path("-dir"));
    made.push("-dir");
    Deno.writeFileSync(path("-empty"), new Uint8Array(0));
    made.push("-empty");
    Deno.symlinkSync(path("-empty"), path("-link"));
    made.push("-link");
    const socket = Deno.listen({ transport: "unix", path: path("-sock") });
    made.push("-sock");
    try {
      const cases: [string, string, RegExp][] = [
        ["-fifo", "SharedMemory.open($NAME, { readOnly: true })", /^InvalidData .* is a FIFO/],
        ["-fifo", "SharedMemory.open($NAME)", /^InvalidData .* is a FIFO/],
        ["-fifo", "SharedMemory.openOrCreate($NAME, { size: 8 })", /^InvalidData .* is a FIFO/],
        ["-dir", "SharedMemory.open($NAME, { readOnly: true })", /^InvalidData .* is a directory/],
        ["-dir", "SharedMemory.open($NAME)", /^InvalidData .* is a directory/],
        ["-sock", "SharedMemory.open($NAME, { readOnly: true })", /^InvalidData .* socket/],
        ["-link", "SharedMemory.open($NAME)", /^InvalidData .* symbolic link/],
        ["-empty", "SharedMemory.open($NAME)", /^InvalidData .* is empty/],
        ["-empty", "SharedMemory.open($NAME, { readOnly: true })", /^InvalidData .* is empty/],
      ];
      for (const [suffix, call, expected] of cases) {
        const got = await openInChild(`${base}${suffix}`, call);
        assertMatch(got, expected, `${call} on ${suffix}`);
        assertMatch(got, new RegExp(`"${base}${suffix}"`), "the message names the object");
      }
      // openOrCreate() grows an empty object: a creator may not have sized it yet.
      assertEquals(
        await openInChild(`${base}-empty`, "SharedMemory.openOrCreate($NAME, { size: 8 })"),
        "ok 8",
      );
    } finally {
      socket.close();
    }
  } finally {
    for (const s of made) {
      try {
        Deno.removeSync(path(s));
      } catch { /* the socket goes with its listener */ }
    }
  }
});

Deno.test("SharedMemory refuses names beginning /sem. (glibc's named semaphores) with TypeError", () => {
  const name = `/sem.${uniqueName("semprefix").slice(1)}`;
  for (
    const call of [
      () => SharedMemory.create(name, { size: 32 }),
      () => SharedMemory.openOrCreate(name, { size: 32 }),
      () => SharedMemory.open(name),
    ]
  ) {
    assertThrows(call, TypeError, "named semaphores");
  }
  assertEquals(devShmEntries(name.slice(1)), [], "nothing created");
  // null is not "absent": readOnly: null is refused, not read as false.
  assertThrows(
    () => SharedMemory.open(`/x${name.slice(5)}`, { readOnly: null as never }),
    TypeError,
  );
  using fine = SharedMemory.create(`/semaphore-${name.slice(5)}`, { size: 8 }); // "sem" alone is fine
  fine.unlink();
});

Deno.test("SharedMemory: the suite leaves /dev/shm as it found it", () => {
  assertNoLeftovers();
});
