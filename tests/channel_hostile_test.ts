/**
 * Issue #14 for the Channel: hostile arguments and a mapping another process
 * has scribbled on. Every case must end in success with the right bytes or a
 * typed error; cases that used to hang run in a child process with a deadline,
 * so that a regression is a failed assertion rather than a stuck test run.
 *
 * @module
 */

import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "@std/assert";
import { Channel } from "../channel/mod.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { H, SENDERS_OFFSET, SLOT_LEN, SLOT_SEQ, SLOTS_OFFSET } from "../channel/_layout.ts";
import { MAX_SPIN_MICROS } from "../memory/_validate.ts";
import { assertNoLeftovers, emulated, test, uniqueName } from "./_helpers.ts";

const channelModule = JSON.stringify(new URL("../channel/mod.ts", import.meta.url).href);
const SLOT0 = SLOTS_OFFSET / 4;
const bytes = (...b: number[]) => new Uint8Array(b);

/** A channel and a raw view of its words; both go, with the name, when the scope ends. */
function fixture(tag: string, options: Parameters<typeof Channel.create>[1]) {
  const name = uniqueName(tag);
  const ch = Channel.create(name, options);
  const raw = SharedMemory.open(name);
  return {
    name,
    ch,
    words: raw.view(Int32Array),
    [Symbol.dispose]() {
      ch.close();
      raw.close();
      Channel.unlink(name);
    },
  };
}

/**
 * Runs `body` (with `Channel` imported) in a child process and returns the
 * JSON it prints last; a child still running after `ms` is killed and the
 * test fails as a hang.
 */
async function inChild(body: string, ms = 10_000): Promise<Record<string, string>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", `import { Channel } from ${channelModule};\n${body}`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, ms);
  const out = await child.output();
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(out.stderr);
  assert(!hung, `the child hung for ${ms} ms:\n${stderr}`);
  assertEquals(out.code, 0, stderr);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

/** In a child: `${what}` → "ok" or "<ErrorName>: <message>", for `inChild`'s report. */
const OUTCOME = `const outcome = (f) => {
  try { f(); return "ok"; } catch (e) { return \`\${e.constructor.name}: \${e.message}\`; }
};`;

// ---- item 3: spinMicros ----

test("Channel spinMicros above MAX_SPIN_MICROS is a RangeError everywhere it is taken", async () => {
  const name = uniqueName("hspin");
  for (const spinMicros of [MAX_SPIN_MICROS + 1, 1.5e6, 1e300]) {
    assertThrows(
      () => Channel.create(name, { capacity: 2, maxMessageSize: 1, spinMicros }),
      RangeError,
      "spinMicros",
    );
  }
  assertThrows(() => Channel.open(name, { spinMicros: 1.5e6 }), RangeError, "spinMicros");
  using ch = Channel.create(name, { capacity: 2, maxMessageSize: 1, spinMicros: MAX_SPIN_MICROS });
  try {
    assertThrows(() => ch.receiveSync({ timeout: 1, spinMicros: 1e300 }), RangeError);
    assertThrows(() => ch.receiveIntoSync(new Uint8Array(1), { spinMicros: 2e4 }), RangeError);
    await assertRejects(() => ch.receive({ timeout: 1, spinMicros: 1.5e6 }), RangeError);
    await assertRejects(() => ch.send(bytes(1), { spinMicros: 1.5e6 }), RangeError);
  } finally {
    Channel.unlink(name);
  }
  assertNoLeftovers();
});

test("Channel: a wait never spins past its timeout, whatever spinMicros says", async () => {
  using f = fixture("hspindl", { capacity: 2, maxMessageSize: 1, spinMicros: MAX_SPIN_MICROS });
  // The best of five: one slow run on a loaded VM is not the spin's fault.
  const best = async (wait: () => unknown) => {
    let min = Infinity;
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      try {
        await wait();
      } catch (e) {
        if (!(e instanceof Deno.errors.TimedOut)) throw e;
      }
      min = Math.min(min, performance.now() - t0);
    }
    return min;
  };
  const sync = await best(() => f.ch.receiveSync({ timeout: 1 }));
  const async = await best(() => f.ch.receive({ timeout: 1 }));
  // A 10 ms spin would take 10 ms; the deadline ends it after about 1. Under emulation every
  // step takes tens of times longer, so only the plan is checked there (wait_test.ts, no clock).
  if (emulated) return;
  assert(sync < 8, `receiveSync({ timeout: 1 }) took ${sync.toFixed(1)} ms`);
  assert(async < 8, `receive({ timeout: 1 }) took ${async.toFixed(1)} ms`);
});

// ---- item 5: loops driven by shared counters ----

for (const topology of ["mpmc", "spsc"] as const) {
  test(`Channel (${topology}): a slot's seq word overwritten is InvalidData naming it from trySend and tryReceive, not an endless loop`, async () => {
    const name = uniqueName("hseq");
    using _ch = Channel.create(name, { capacity: 4, maxMessageSize: 8, topology });
    try {
      const r = await inChild(`${OUTCOME}
        import { SharedMemory } from ${
        JSON.stringify(new URL("../posix/shared_memory.ts", import.meta.url).href)
      };
        using ch = Channel.open(${JSON.stringify(name)});
        using raw = SharedMemory.open(${JSON.stringify(name)});
        raw.view(Int32Array)[${SLOT0 + SLOT_SEQ}] = 12345;
        console.log(JSON.stringify({
          receive: outcome(() => ch.tryReceive()),
          send: outcome(() => ch.trySend(new Uint8Array([1]))),
        }));`);
      assertMatch(r.receive!, /^InvalidData: .*slot 0's seq holds 12345/);
      // spsc senders learn of room from HEAD, not seq: the send itself is fine there.
      if (topology === "mpmc") assertMatch(r.send!, /^InvalidData: .*slot 0's seq holds 12345/);
    } finally {
      Channel.unlink(name);
    }
  });
}

test("Channel.end() refuses an impossible receivers-waiting count with InvalidData instead of posting 2^31 times; close() still releases", async () => {
  const name = uniqueName("hwait");
  using _ch = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
  try {
    const r = await inChild(`${OUTCOME}
      import { SharedMemory } from ${
      JSON.stringify(new URL("../posix/shared_memory.ts", import.meta.url).href)
    };
      const ch = Channel.open(${JSON.stringify(name)});
      using raw = SharedMemory.open(${JSON.stringify(name)});
      const words = raw.view(Int32Array);
      words[${H.RECEIVERS_WAITING}] = 0x7fffffff;
      const end = outcome(() => ch.end());
      const open = outcome(() => Channel.open(${JSON.stringify(name)}).close());
      const close = outcome(() => ch.close());
      words[${H.RECEIVERS_WAITING}] = 0;
      console.log(JSON.stringify({ end, open, close, closed: String(ch.closed) }));`);
    assertMatch(r.end!, /^InvalidData: .*receivers-waiting count holds 2147483647/);
    assertMatch(r.open!, /^InvalidData: .*receivers waiting is 2147483647/);
    assertEquals(r.close, "ok");
    assertEquals(r.closed, "true");
  } finally {
    Channel.unlink(name);
  }
});

// ---- items 7 and 8: the message argument ----

for (const topology of ["mpmc", "spsc"] as const) {
  test(`Channel (${topology}): a detached Uint8Array is a TypeError before any slot is claimed; the next send is delivered`, () => {
    using f = fixture("hdetach", { capacity: 4, maxMessageSize: 8, topology });
    using rx = Channel.open(f.name);
    const detached = new Uint8Array(4);
    detached.buffer.transfer();
    assertThrows(() => f.ch.trySend(detached), TypeError, "detached");
    assertThrows(() => f.ch.sendSync(detached, { timeout: 0 }), TypeError, "detached");
    assertThrows(() => f.ch.trySendMany([bytes(1), detached]), TypeError, "detached");
    assertEquals(f.ch.trySend(bytes(7)), true);
    assertEquals(rx.tryReceive(), bytes(7));
    assertEquals(rx.tryReceive(), undefined);
  });

  test(`Channel (${topology}): a Uint8Array subclass whose length lies cannot pass maxMessageSize or overwrite an unread message`, () => {
    using f = fixture("hliar", { capacity: 4, maxMessageSize: 8, topology });
    using rx = Channel.open(f.name);
    class Liar extends Uint8Array {
      override get length() {
        return 1;
      }
      override get byteLength() {
        return 1;
      }
    }
    // Slots 0–3 full, then slot 0 emptied: the next send goes to slot 0, before unread slot 1.
    for (let n = 1; n <= 4; n++) assertEquals(f.ch.trySend(new Uint8Array(8).fill(n)), true);
    assertEquals(rx.tryReceive(), new Uint8Array(8).fill(1));
    const liar = new Liar(100).fill(9);
    assertThrows(() => f.ch.trySend(liar), RangeError, "100-byte message");
    assertThrows(() => f.ch.trySendMany([liar]), RangeError, "100-byte message");
    for (let n = 2; n <= 4; n++) assertEquals(rx.tryReceive(), new Uint8Array(8).fill(n));
    // An honest subclass is a Uint8Array like any other.
    assertEquals(f.ch.trySend(new (class extends Uint8Array {})([5, 6])), true);
    assertEquals(rx.tryReceive(), bytes(5, 6));
    for (
      const wrong of [
        new DataView(new ArrayBuffer(2)),
        new Int8Array(2),
        [1, 2],
        new Proxy(new Uint8Array(2), {}),
        Object.create(Uint8Array.prototype),
        null,
      ]
    ) {
      assertThrows(() => f.ch.trySend(wrong as never), TypeError, "takes a Uint8Array");
    }
    assertEquals(rx.tryReceive(), undefined, "nothing was sent by a refused call");
  });

  test(`Channel (${topology}): tryReceiveInto believes the buffer's real length, not its getter, and leaves a message it cannot hold`, () => {
    using f = fixture("hintoliar", { capacity: 4, maxMessageSize: 8, topology });
    using rx = Channel.open(f.name);
    class Roomy extends Uint8Array {
      override get length() {
        return 1000;
      }
      override get byteLength() {
        return 1000;
      }
    }
    f.ch.trySend(new Uint8Array(8).fill(3));
    assertThrows(() => rx.tryReceiveInto(new Roomy(4)), RangeError, "8 bytes; the buffer holds 4");
    const detached = new Uint8Array(8);
    detached.buffer.transfer();
    assertThrows(() => rx.tryReceiveInto(detached), TypeError, "detached");
    assertThrows(() => rx.tryReceiveInto(new DataView(new ArrayBuffer(8)) as never), TypeError);
    assertEquals(rx.tryReceive(), new Uint8Array(8).fill(3), "the message stayed in the ring");
  });
}

// ---- item 9: header fields and slot words ----

test("Channel.open() checks every header field before touching a slot, and InvalidData names the one that is wrong", () => {
  const cases: [string, number, number, RegExp][] = [
    ["slot bytes 0", H.SLOT_BYTES, 0, /slot bytes is 0/],
    ["slot bytes -64", H.SLOT_BYTES, -64, /slot bytes is -64/],
    ["capacity 3", H.CAPACITY, 3, /capacity is 3/],
    ["capacity 0", H.CAPACITY, 0, /capacity is 0/],
    ["capacity 2^21", H.CAPACITY, 1 << 21, /capacity is 2097152/],
    ["capacity past the object", H.CAPACITY, 1 << 20, /more than the object's/],
    ["maxMessageSize 0", H.MAX_MESSAGE, 0, /maxMessageSize is 0/],
    ["maxMessageSize 2^27", H.MAX_MESSAGE, 1 << 27, /maxMessageSize is 134217728/],
    ["topology 2", H.TOPOLOGY, 2, /topology is 2/],
    ["head past tail", H.HEAD, 7, /head is 7/],
    ["head a lap behind", H.HEAD, -5, /head is -5/],
    ["receiver pid", H.RECEIVER_PID, -1, /receiver pid is -1/],
    ["sender pid", SENDERS_OFFSET / 4 + 4, 0x7fffffff, /sender 1's pid is 2147483647/],
    ["sender state", SENDERS_OFFSET / 4 + 2, 9, /sender 0's state is 9/],
    ["senders waiting", H.SENDERS_WAITING, -3, /senders waiting is -3/],
  ];
  using f = fixture("hheader", { capacity: 4, maxMessageSize: 64 });
  for (const [what, index, value, message] of cases) {
    const saved = f.words[index]!;
    f.words[index] = value;
    try {
      const e = assertThrows(() => Channel.open(f.name), Deno.errors.InvalidData, f.name, what);
      assertMatch(e.message, message, what);
    } finally {
      f.words[index] = saved;
    }
    Channel.open(f.name).close();
  }
});

for (const topology of ["mpmc", "spsc"] as const) {
  test(`Channel (${topology}): a slot length out of range is InvalidData naming it, and the ring goes on with the next message intact`, () => {
    using f = fixture("hlen", { capacity: 8, maxMessageSize: 64, topology });
    using rx = Channel.open(f.name);
    const receives: [string, () => unknown][] = [
      ["tryReceive", () => rx.tryReceive()],
      ["tryReceiveMany", () => rx.tryReceiveMany()],
      ["tryReceiveInto", () => rx.tryReceiveInto(new Uint8Array(64))],
      ["tryReceiveEach", () => rx.tryReceiveEach(() => {})],
      ["tryReceiveView", () => rx.tryReceiveView()],
    ];
    let next = 0;
    for (const [what, receive] of receives) {
      for (const len of [5000, 65, -5]) {
        const bad = next++;
        f.ch.trySend(new Uint8Array(64).fill(bad));
        f.ch.trySend(new Uint8Array(64).fill(next++));
        f.words[SLOT0 + (bad % 8) * 4 + SLOT_LEN] = len;
        const e = assertThrows(receive, Deno.errors.InvalidData, `length holds ${len}`, what);
        assertMatch(e.message, new RegExp(f.name), what);
        assertEquals(rx.tryReceive(), new Uint8Array(64).fill(bad + 1), `${what} ${len}`);
      }
    }
  });

  test(`Channel (${topology}): a corrupted slot met in the middle of a batch is reported by the next receive, never dropped in silence`, () => {
    using f = fixture("hbatch", { capacity: 8, maxMessageSize: 8, topology });
    using rx = Channel.open(f.name);
    for (let n = 0; n < 3; n++) f.ch.trySend(new Uint8Array(8).fill(n));
    f.words[SLOT0 + 1 * 4 + SLOT_LEN] = -5; // the second of three
    const got: Uint8Array[] = [];
    let reported = 0;
    for (let k = 0; k < 4; k++) {
      try {
        got.push(...rx.tryReceiveMany());
      } catch (e) {
        if (!(e instanceof Deno.errors.InvalidData)) throw e;
        reported++;
      }
    }
    assertEquals(reported, 1, "the corrupted message is reported once");
    assertEquals(got, [new Uint8Array(8).fill(0), new Uint8Array(8).fill(2)]);
  });

  test(`Channel (${topology}): a negative length cannot make a later copy overwrite a message already returned`, () => {
    using f = fixture("harena", { capacity: 32, maxMessageSize: 8, topology });
    using rx = Channel.open(f.name);
    const kept: Uint8Array[] = [];
    for (let n = 0; n < 16; n++) {
      f.ch.trySend(new Uint8Array(8).fill(n));
      kept.push(rx.tryReceive()!);
    }
    f.ch.trySend(new Uint8Array(8).fill(99));
    f.words[SLOT0 + 16 * 4 + SLOT_LEN] = -96;
    try {
      rx.tryReceive();
    } catch (e) {
      if (!(e instanceof Deno.errors.InvalidData)) throw e;
    }
    for (let n = 0; n < 16; n++) f.ch.trySend(new Uint8Array(8).fill(200 + n));
    for (let n = 0; n < 16; n++) assertEquals(rx.tryReceive(), new Uint8Array(8).fill(200 + n));
    kept.forEach((m, n) =>
      assertEquals(m, new Uint8Array(8).fill(n), `message ${n} kept its bytes`)
    );
  });

  test(`Channel (${topology}): a seq word forged to "published" on an empty slot is InvalidData, not the slot's stale message`, () => {
    using f = fixture("hforge", { capacity: 4, maxMessageSize: 8, topology });
    using rx = Channel.open(f.name);
    for (let n = 1; n <= 4; n++) {
      f.ch.trySend(new Uint8Array(8).fill(n));
      assertEquals(rx.tryReceive(), new Uint8Array(8).fill(n));
    }
    // Position 4 (slot 0) was never sent: its slot still holds message 1.
    f.words[SLOT0 + SLOT_SEQ] = 5;
    assertThrows(() => rx.tryReceive(), Deno.errors.InvalidData, "slot 0's");
  });
}

// ---- item 14: max ----

test("Channel: max must be a positive integer or Infinity for every batch receive, and a refused call takes nothing", async () => {
  using f = fixture("hmax", { capacity: 8, maxMessageSize: 8 });
  f.ch.trySendMany([1, 2, 3, 4].map((n) => bytes(n)));
  for (const max of [1.5, 0, -1, NaN, -Infinity, 2 ** 31 + 0.5]) {
    assertThrows(() => f.ch.tryReceiveMany(max), RangeError, "positive integer", `${max}`);
    assertThrows(() => f.ch.tryReceiveEach(() => {}, max), RangeError, "positive integer");
    assertThrows(() => f.ch.receiveEachSync(() => {}, { max }), RangeError, "positive integer");
    await assertRejects(() => f.ch.receiveEach(() => {}, { max }), RangeError, "positive integer");
  }
  assertThrows(() => f.ch.tryReceiveMany("2" as never), TypeError, "max must be a number");
  assertEquals(f.ch.tryReceiveMany(1).length, 1);
  assertEquals(f.ch.tryReceiveEach(() => {}, 2), 2);
  assertEquals(f.ch.tryReceiveMany(Infinity).map((m) => m[0]), [4]);
});

// ---- item 15: options and signals ----

test("Channel: every method that takes options refuses a non-object, and a signal that is not an AbortSignal, with TypeError", async () => {
  using f = fixture("hopts", { capacity: 8, maxMessageSize: 8 });
  const m = bytes(1);
  const buf = new Uint8Array(8);
  f.ch.trySend(m); // a message waits: a refused call must not take it
  const sync: [string, (o: never) => unknown][] = [
    ["sendSync", (o) => f.ch.sendSync(m, o)],
    ["receiveSync", (o) => f.ch.receiveSync(o)],
    ["receiveIntoSync", (o) => f.ch.receiveIntoSync(buf, o)],
    ["receiveEachSync", (o) => f.ch.receiveEachSync(() => {}, o)],
    ["create", (o) => Channel.create(uniqueName("hopts"), o)],
    ["openOrCreate", (o) => Channel.openOrCreate(uniqueName("hopts"), o)],
    ["open", (o) => Channel.open(f.name, o)],
  ];
  const async: [string, (o: never) => Promise<unknown>][] = [
    ["send", (o) => f.ch.send(m, o)],
    ["receive", (o) => f.ch.receive(o)],
    ["receiveView", (o) => f.ch.receiveView(o)],
    ["receiveInto", (o) => f.ch.receiveInto(buf, o)],
    ["receiveEach", (o) => f.ch.receiveEach(() => {}, o)],
  ];
  for (const options of [5, "x", true, null, [], [1], () => {}, 10n]) {
    for (const [what, call] of sync) {
      assertThrows(
        () => call(options as never),
        TypeError,
        "options",
        `${what}(${String(options)})`,
      );
    }
    for (const [what, call] of async) {
      await assertRejects(() => call(options as never), TypeError, "options", what);
    }
  }
  const fakes = [{ aborted: false }, Object.create(AbortSignal.prototype), "stop", 1];
  for (const signal of fakes) {
    for (const [what, call] of async) {
      await assertRejects(
        () => call({ signal, timeout: 1 } as never),
        TypeError,
        "signal must be an AbortSignal",
        what,
      );
    }
  }
  assertEquals(f.ch.tryReceive(), m, "nothing was taken by a refused call");
});
