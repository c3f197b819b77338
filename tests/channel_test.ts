import { fromFileUrl } from "@std/path";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStrictEquals,
  assertThrows,
  fail,
} from "@std/assert";
import { Channel } from "../channel/mod.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Semaphore as PosixSemaphore } from "../posix/semaphore.ts";
import { Mutex } from "../sync/mutex.ts";
import { H, SLOT_OWNER, SLOTS_OFFSET, VERSION } from "../channel/_layout.ts";
import { assertNoLeftovers, PEER_TIMEOUT_MS, test, uniqueName } from "./_helpers.ts";

const peer = fromFileUrl(new URL("./fixtures/channel_peer.ts", import.meta.url));
const decoder = new TextDecoder();

function spawn(...args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-ffi", peer, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

interface Report {
  stats: Record<string, { count: number; sum: number; inOrder: boolean }>;
  bad: number;
  error: string;
  seqs?: number[];
}

const channelModule = JSON.stringify(new URL("../channel/mod.ts", import.meta.url).href);

/** Runs `body` in a child Deno process with `ch` open on channel `name`. */
function channelChild(name: string, body: string) {
  return denoEval(`using ch = Channel.open(${JSON.stringify(name)});
    ${body}`);
}

/** Runs `script` (with `Channel` imported) in a child Deno process. */
function denoEval(script: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", `import { Channel } from ${channelModule};\n${script}`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Kills `child` if it still runs, and waits for it. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* it has exited already */ }
  await child.output();
}

/** Polls `ready` every few ms for up to `ms`; fails the test if it never holds. */
async function until(ready: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!ready()) {
    if (performance.now() > end) fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function lastJson(text: string): Report {
  const lines = text.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

test("Channel (mpmc): 1,000,000 messages from 2 producer to 2 consumer processes, exactly once, in order per producer", async () => {
  const name = uniqueName("ch1m");
  using _ch = Channel.create(name, { capacity: 4096, maxMessageSize: 16, topology: "mpmc" });
  try {
    const consumers = [spawn("consume", name), spawn("consume", name)];
    const producers = [
      spawn("produce", name, "0", "500000"),
      spawn("produce", name, "1", "500000"),
    ];
    for (const p of producers) {
      const o = await p.output();
      assertEquals(o.code, 0, decoder.decode(o.stderr));
    }
    const reports = await Promise.all(consumers.map(async (c) => {
      const o = await c.output();
      assertEquals(o.code, 0, decoder.decode(o.stderr));
      return lastJson(decoder.decode(o.stdout));
    }));
    for (const producer of ["0", "1"]) {
      let count = 0;
      let sum = 0;
      for (const r of reports) {
        assertEquals(r.error, "");
        assertEquals(r.bad, 0, "no torn message");
        const st = r.stats[producer];
        if (!st) continue;
        assertEquals(st.inOrder, true, `producer ${producer} in order at each consumer`);
        count += st.count;
        sum += st.sum;
      }
      assertEquals(count, 500_000, `every message of producer ${producer} delivered once`);
      assertEquals(
        sum,
        (500_000 * 499_999) / 2,
        `no duplicates or losses from producer ${producer}`,
      );
    }
  } finally {
    Channel.unlink(name);
  }
});

test("Channel (spsc): a producer killed mid-stream leaves an in-order prefix, then BrokenPipe", async () => {
  const name = uniqueName("chpk");
  using ch = Channel.create(name, { capacity: 64, maxMessageSize: 16, topology: "spsc" });
  try {
    const producer = spawn("produce", name, "7", "1000000", "slow");
    // Kill it mid-stream: after three messages have arrived, however slow the machine is.
    for (let k = 0; k < 3; k++) {
      const m = await ch.receive({ timeout: PEER_TIMEOUT_MS });
      assertEquals(new DataView(m.buffer, m.byteOffset).getUint32(4, true), k);
    }
    producer.kill("SIGKILL");
    await producer.output();
    let expected = 3;
    let error: unknown;
    const t0 = performance.now();
    for (;;) {
      try {
        const m = await ch.receive({ timeout: PEER_TIMEOUT_MS });
        assertEquals(new DataView(m.buffer, m.byteOffset).getUint32(4, true), expected++);
      } catch (e) {
        error = e;
        break;
      }
    }
    assert(error instanceof Deno.errors.BrokenPipe, String(error));
    assertMatch((error as Error).message, /died without end\(\)/);
    // A hang catcher, not a speed check: the death is noticed within a few 50 ms slices.
    assert(performance.now() - t0 < PEER_TIMEOUT_MS / 2);
    // After reporting it once, the stream reads as ended.
    assertThrows(() => ch.tryReceive(), Deno.errors.UnexpectedEof);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel (spsc): a consumer killed mid-stream loses nothing; the next consumer continues in order", async () => {
  const name = uniqueName("chck");
  using ch = Channel.create(name, { capacity: 8, maxMessageSize: 16, topology: "spsc" });
  try {
    const msg = new Uint8Array(16);
    const v = new DataView(msg.buffer);
    let sent = 0;
    const sendMore = (n: number) => {
      for (let i = 0; i < n; i++) {
        v.setUint32(4, sent++, true);
        ch.sendSync(msg, { timeout: 5000 });
      }
    };
    sendMore(8);
    const consumer = spawn("consume", name, "5");
    const out = await consumer.output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
    assertMatch(decoder.decode(out.stdout), /got 0:4/);
    // It took 5 and exited; now a consumer is killed while blocked on an empty ring.
    const victim = spawn("consume", name);
    await new Promise((r) => setTimeout(r, 300));
    victim.kill("SIGKILL");
    await victim.output();
    sendMore(4);
    ch.end();
    using rx = Channel.open(name);
    const seqs: number[] = [];
    for await (const m of rx) seqs.push(new DataView(m.buffer, m.byteOffset).getUint32(4, true));
    // The killed consumer may have taken messages 5–7 before dying, or not; what it did
    // not take arrives here, in order, followed by 8–11.
    assertEquals(seqs, Array.from({ length: 12 - seqs[0]! }, (_, i) => seqs[0]! + i));
    assert(seqs[0]! >= 5 && seqs.at(-1) === 11);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel (mpmc): a slot left half-written by a dead sender is dropped once with BrokenPipe", async () => {
  const name = uniqueName("chds");
  using ch = Channel.create(name, { capacity: 4, maxMessageSize: 16, topology: "mpmc" });
  try {
    // A pid that is certainly dead: a child that has exited and been reaped.
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", "0"] }).spawn();
    const deadPid = child.pid;
    await child.status;
    // Play the dead sender: claim position 0 (TAIL 0 → 1), write the owner, never publish.
    using raw = SharedMemory.open(name);
    const i = raw.view(Int32Array);
    assertEquals(Atomics.compareExchange(i, H.TAIL, 0, 1), 0);
    Atomics.store(i, SLOTS_OFFSET / 4 + SLOT_OWNER, deadPid);
    // A live sender goes on after it.
    ch.trySend(new Uint8Array([42]));
    await assertRejects(
      () => ch.receive({ timeout: 5000 }),
      Deno.errors.BrokenPipe,
      `pid ${deadPid}`,
    );
    assertEquals(ch.dropped, 1);
    assertEquals(await ch.receive({ timeout: 1000 }), new Uint8Array([42]));
  } finally {
    Channel.unlink(name);
  }
});

test("Channel backpressure: a full ring blocks, then times out; room lets it through", async () => {
  const name = uniqueName("chbp");
  using ch = Channel.create(name, { capacity: 2, maxMessageSize: 8 });
  try {
    assertEquals(ch.capacity, 2);
    assertEquals(ch.trySend(new Uint8Array([1])), true);
    assertEquals(ch.trySend(new Uint8Array([2])), true);
    assertEquals(ch.trySend(new Uint8Array([3])), false);
    assertThrows(() => ch.sendSync(new Uint8Array([3]), { timeout: 0 }), Deno.errors.TimedOut);
    assertThrows(() => ch.sendSync(new Uint8Array([3]), { timeout: 30 }), Deno.errors.TimedOut);
    await assertRejects(() => ch.send(new Uint8Array([3]), { timeout: 30 }), Deno.errors.TimedOut);
    const reason = new Error("stop");
    assertStrictEquals(
      await assertRejects(() =>
        ch.send(new Uint8Array([3]), { signal: AbortSignal.abort(reason) })
      ),
      reason,
    );
    const pending = ch.send(new Uint8Array([3]), { timeout: 5000 });
    assertEquals(ch.tryReceive(), new Uint8Array([1]));
    await pending;
    assertEquals(ch.receiveSync({ timeout: 100 }), new Uint8Array([2]));
    assertEquals(await ch.receive({ timeout: 100 }), new Uint8Array([3]));
    await assertRejects(() => ch.receive({ timeout: 20 }), Deno.errors.TimedOut);
    assertThrows(() => ch.receiveSync({ timeout: 0 }), Deno.errors.TimedOut);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel zero-copy views stay valid until released, and hold their slot", () => {
  const name = uniqueName("chzc");
  using ch = Channel.create(name, { capacity: 2, maxMessageSize: 8 });
  try {
    ch.trySend(new Uint8Array([1, 2]));
    ch.trySend(new Uint8Array([3]));
    const v = ch.tryReceiveView()!;
    assertEquals([...v.bytes], [1, 2]);
    assertEquals(ch.trySend(new Uint8Array([9])), false, "the unreleased slot is not reused");
    v.release();
    v.release();
    assertEquals(ch.trySend(new Uint8Array([9])), true);
    {
      using w = ch.tryReceiveView()!;
      assertEquals([...w.bytes], [3]);
    }
    assertEquals(ch.tryReceive(), new Uint8Array([9]));
    assertEquals(ch.tryReceive(), undefined);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel end of stream: receivers finish only after every sender has ended", async () => {
  const name = uniqueName("chend");
  using a = Channel.create(name, { capacity: 8, maxMessageSize: 8, topology: "mpmc" });
  using b = Channel.open(name);
  using rx = Channel.open(name);
  try {
    assertEquals(rx.tryReceive(), undefined, "no sender yet: not ended");
    Channel.open(name).close();
    assertEquals(rx.tryReceive(), undefined, "a handle that never sent ends nobody's stream");
    a.trySend(new Uint8Array([1]));
    b.trySend(new Uint8Array([2]));
    a.end();
    a.end();
    const got: number[] = [];
    got.push(rx.tryReceive()![0]!, rx.tryReceive()![0]!);
    assertEquals(rx.tryReceive(), undefined, "b has not ended");
    b.trySend(new Uint8Array([3]));
    b.end();
    for await (const m of rx) got.push(m[0]!);
    assertEquals(got, [1, 2, 3]);
    await assertRejects(() => rx.receive(), Deno.errors.UnexpectedEof);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel rejects bad sizes, messages and a second spsc sender with typed errors", () => {
  const name = uniqueName("chbad");
  for (const capacity of [0, 1, 1.5, 2 ** 21]) {
    assertThrows(() => Channel.create(name, { capacity, maxMessageSize: 8 }), RangeError);
  }
  for (const maxMessageSize of [0, -1, 2.5, 2 ** 27]) {
    assertThrows(() => Channel.create(name, { capacity: 4, maxMessageSize }), RangeError);
  }
  assertThrows(
    () => Channel.create(name, { capacity: "4" as never, maxMessageSize: 8 }),
    TypeError,
  );
  assertThrows(
    () => Channel.create(name, { capacity: 4, maxMessageSize: 8, topology: "x" as never }),
    TypeError,
  );
  assertThrows(() => Channel.create(name, undefined as never), TypeError);
  assertThrows(() => Channel.open(name), Deno.errors.NotFound);
  using ch = Channel.create(name, { capacity: 3, maxMessageSize: 8, topology: "spsc" });
  try {
    assertEquals(ch.capacity, 4, "rounded up to a power of two");
    assertThrows(() => ch.trySend(new Uint8Array(9)), RangeError);
    assertThrows(() => ch.trySend("text" as never), TypeError);
    ch.trySend(new Uint8Array(1));
    using other = Channel.open(name);
    assertThrows(() => other.trySend(new Uint8Array(1)), Deno.errors.Busy);
    using notChannel = SharedMemory.create(uniqueName("plain"), { size: 4096 });
    assertThrows(() => Channel.open(notChannel.name), Deno.errors.InvalidData);
    notChannel.unlink();
  } finally {
    Channel.unlink(name);
  }
  ch.close();
  assertThrows(() => ch.trySend(new Uint8Array(1)), Deno.errors.BadResource);
  assertNoLeftovers();
});

test("examples/channel_consumer.ts receives every message from channel_producer.ts once, in order", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fromFileUrl(new URL("../examples/channel_consumer.ts", import.meta.url)),
      "20000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, decoder.decode(out.stderr));
  assertMatch(decoder.decode(out.stdout), /received all 20000 messages once, whole and in order/);
});

test("Channel batches: trySendMany/tryReceiveMany keep order and exactly-once across processes", async () => {
  const name = uniqueName("chbatch");
  using ch = Channel.create(name, { capacity: 64, maxMessageSize: 8, topology: "spsc" });
  try {
    const tx = channelChild(
      name,
      `
      const all = Array.from({ length: 100000 }, (_, k) => new Uint8Array(new Uint32Array([k]).buffer));
      for (let sent = 0; sent < all.length;) {
        const n = ch.trySendMany(all.slice(sent, sent + 50));
        if (n === 0) ch.sendSync(all[sent]!, { timeout: 60000 }), sent++;
        sent += n;
      }
      ch.end();
    `,
    );
    let expected = 0;
    for (;;) {
      let batch: Uint8Array[];
      try {
        batch = ch.tryReceiveMany(32);
        if (batch.length === 0) batch = [await ch.receive({ timeout: PEER_TIMEOUT_MS })];
      } catch (e) {
        if (e instanceof Deno.errors.UnexpectedEof) break;
        throw e;
      }
      for (const m of batch) {
        assertEquals(new DataView(m.buffer, m.byteOffset).getUint32(0, true), expected++);
      }
    }
    assertEquals(expected, 100000);
    const out = await tx.output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
    assertThrows(() => ch.tryReceiveMany(0), RangeError);
    assertThrows(() => ch.trySendMany([new Uint8Array(9)]), RangeError);
  } finally {
    Channel.unlink(name);
  }
});

for (const topology of ["spsc", "mpmc"] as const) {
  test(`Channel.tryReceiveInto (${topology}) copies into the caller's buffer, aligned or not, and refuses a short buffer, leaving the message`, () => {
    const name = uniqueName("chinto");
    using ch = Channel.create(name, { capacity: 8, maxMessageSize: 32, topology });
    try {
      const msgs = [
        new Uint8Array([1, 2, 3, 4, 5]),
        new Uint8Array(32).fill(9),
        new Uint8Array([7]),
      ];
      for (const m of msgs) assertEquals(ch.trySend(m), true);
      const short = new Uint8Array(4);
      assertThrows(() => ch.tryReceiveInto(short), RangeError);
      const aligned = new Uint8Array(32);
      assertEquals(ch.tryReceiveInto(aligned), 5);
      assertEquals([...aligned.subarray(0, 5)], [1, 2, 3, 4, 5]);
      const odd = new Uint8Array(new ArrayBuffer(40), 3, 32); // not 4-byte aligned: byte copy
      assertEquals(ch.tryReceiveInto(odd), 32);
      assert(odd.every((b) => b === 9));
      assertEquals(ch.tryReceiveInto(aligned), 1);
      assertEquals(aligned[0], 7);
      assertEquals(ch.tryReceiveInto(aligned), undefined);
      assertThrows(() => ch.tryReceiveInto([] as never), TypeError);
    } finally {
      Channel.unlink(name);
    }
  });
}

test("Channel.receiveEachSync drains zero-copy, in order and exactly once, from a batching sender process", async () => {
  const name = uniqueName("cheach");
  using ch = Channel.create(name, { capacity: 256, maxMessageSize: 64, topology: "spsc" });
  try {
    const tx = channelChild(
      name,
      `
      const batch = Array.from({ length: 64 }, () => new Uint8Array(64));
      const words = batch.map((m) => new Uint32Array(m.buffer));
      for (let sent = 0; sent < 200000;) {
        for (let k = 0; k < 64; k++) words[k].fill(sent + k);
        const n = ch.trySendMany(batch.slice(0, Math.min(64, 200000 - sent)));
        if (n === 0) { ch.sendSync(batch[0], { timeout: 10000 }); sent++; continue; }
        // Unsent messages are rebuilt next round from the new position.
        sent += n;
      }
      ch.end();
    `,
    );
    let expected = 0;
    let torn = 0;
    const each = (bytes: Uint8Array) => {
      const w = new Uint32Array(bytes.buffer, bytes.byteOffset, 16);
      if (w[0] !== expected || w[15] !== expected) torn++;
      expected++;
    };
    for (;;) {
      try {
        assert(ch.receiveEachSync(each, { timeout: 10000 }) >= 1);
      } catch (e) {
        if (e instanceof Deno.errors.UnexpectedEof) break;
        throw e;
      }
    }
    assertEquals(torn, 0, "every message whole and in its place in the order");
    assertEquals(expected, 200000);
    const out = await tx.output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
  } finally {
    Channel.unlink(name);
  }
});

test("Channel.tryReceiveEach: max bounds a drain; a throwing callback consumes through its message", async () => {
  const name = uniqueName("cheachthrow");
  using ch = Channel.create(name, { capacity: 8, maxMessageSize: 4, topology: "spsc" });
  try {
    assertEquals(ch.trySendMany([1, 2, 3, 4, 5].map((n) => new Uint8Array([n]))), 5);
    const seen: number[] = [];
    assertEquals(ch.tryReceiveEach((b) => seen.push(b[0]!), 2), 2);
    assertThrows(
      () =>
        ch.tryReceiveEach((b) => {
          seen.push(b[0]!);
          if (b[0] === 4) throw new Error("stop at 4");
        }),
      Error,
      "stop at 4",
    );
    assertEquals(seen, [1, 2, 3, 4]);
    assertEquals(ch.tryReceiveMany().map((m) => m[0]), [5], "4 was consumed, 5 was not");
    assertEquals(ch.tryReceiveEach(() => fail("empty")), 0);
    assertThrows(() => ch.tryReceiveEach("x" as never), TypeError);
    assertThrows(() => ch.tryReceiveEach(() => {}, 0), RangeError);
    // With a zero-copy view still out, a drain goes one view at a time and keeps order.
    ch.trySendMany([6, 7].map((n) => new Uint8Array([n])));
    const held = ch.tryReceiveView()!;
    assertEquals(held.bytes[0], 6);
    assertEquals(ch.tryReceiveEach((b) => seen.push(b[0]!)), 1);
    held.release();
    assertEquals(seen.slice(-1), [7]);
    await assertRejects(() => ch.receiveEach(() => {}, { timeout: 20 }), Deno.errors.TimedOut);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel.receiveIntoSync and receiveInto time out on an empty ring, then wait for a sender process", async () => {
  const name = uniqueName("chrecvinto");
  using ch = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
  try {
    const buf = new Uint8Array(8);
    assertThrows(() => ch.receiveIntoSync(buf, { timeout: 20 }), Deno.errors.TimedOut);
    await assertRejects(() => ch.receiveInto(buf, { timeout: 20 }), Deno.errors.TimedOut);
    const tx = channelChild(
      name,
      `await new Promise((r) => setTimeout(r, 100));
         ch.sendSync(new Uint8Array([1, 2, 3]));
         ch.sendSync(new Uint8Array([4]));`,
    );
    assertEquals(ch.receiveIntoSync(buf, { timeout: PEER_TIMEOUT_MS }), 3);
    assertEquals([...buf.subarray(0, 3)], [1, 2, 3]);
    assertEquals(await ch.receiveInto(buf, { timeout: PEER_TIMEOUT_MS }), 1);
    assertEquals(buf[0], 4);
    const out = await tx.output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
    // Its handle closed at the end of its using scope: a clean end, no end() needed.
    await assertRejects(
      () => ch.receiveInto(buf, { timeout: PEER_TIMEOUT_MS }),
      Deno.errors.UnexpectedEof,
    );
    assertThrows(() => ch.receiveIntoSync(buf), Deno.errors.UnexpectedEof);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel.receiveSync fed slowly by a sender process stops planning its waits and still takes every message in order; a timeout is still honoured", async () => {
  const name = uniqueName("chslow");
  const goName = uniqueName("chslow-go");
  using ch = Channel.create(name, { capacity: 4, maxMessageSize: 8, topology: "spsc" });
  using go = PosixSemaphore.create(goName);
  try {
    // 2 ms apart: every wait outlasts a spin, so the budget goes and the waits turn quiet.
    // The last message waits for `go`, so the timed receive before it cannot race it.
    const tx = channelChild(
      name,
      `import { Semaphore } from ${
        JSON.stringify(new URL("../posix/semaphore.ts", import.meta.url).href)
      };
       using go = Semaphore.open(${JSON.stringify(goName)});
       for (let i = 0; i < 60; i++) {
         await new Promise((r) => setTimeout(r, 2));
         ch.sendSync(new Uint8Array([i]));
       }
       go.waitSync({ timeout: ${PEER_TIMEOUT_MS} });
       ch.sendSync(new Uint8Array([60]));`,
    );
    const got: number[] = [];
    for (let i = 0; i < 60; i++) got.push(ch.receiveSync()[0]!);
    assertEquals(got, Array.from({ length: 60 }, (_, i) => i));
    assertThrows(() => ch.receiveSync({ timeout: 5 }), Deno.errors.TimedOut);
    go.post();
    assertEquals([...ch.receiveSync()], [60]);
    const out = await tx.output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
    assertThrows(() => ch.receiveSync(), Deno.errors.UnexpectedEof);
  } finally {
    Channel.unlink(name);
    PosixSemaphore.unlink(goName);
  }
});

test("Channel: sender handles opened and closed by the hundred are never refused (a closed handle frees its table entry), and the stream ends only when the last sender closes", async () => {
  const name = uniqueName("chsenders");
  using rx = Channel.create(name, { capacity: 256, maxMessageSize: 8 });
  try {
    using keeper = Channel.open(name);
    keeper.sendSync(new Uint8Array([255]));
    for (let k = 0; k < 200; k++) {
      using tx = Channel.open(name);
      tx.sendSync(new Uint8Array([k & 0xff]));
    }
    assertEquals(rx.tryReceiveMany().length, 201);
    assertEquals(rx.tryReceive(), undefined, "one sender is still open: not the end");
    // 64 at once is the table: the 65th open sender is refused, and closing one makes room.
    const open = Array.from({ length: 63 }, () => Channel.open(name));
    try {
      for (const tx of open) tx.sendSync(new Uint8Array([1]));
      using extra = Channel.open(name);
      assertThrows(() => extra.sendSync(new Uint8Array([2])), Deno.errors.Busy, "senders is full");
      open.pop()!.close();
      extra.sendSync(new Uint8Array([2]));
    } finally {
      for (const tx of open) tx.close();
    }
    assertEquals(rx.tryReceiveMany().length, 64);
    // Another process does the same, then exits; the keeper still holds the stream open.
    const child = channelChild(
      name,
      `ch.close();
       for (let k = 0; k < 100; k++) {
         using tx = Channel.open(${JSON.stringify(name)});
         tx.sendSync(new Uint8Array([k]));
       }`,
    );
    const out = await child.output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
    const got = rx.tryReceiveMany().map((m) => m[0]!);
    assertEquals(got, Array.from({ length: 100 }, (_, k) => k));
    assertEquals(rx.tryReceive(), undefined);
    keeper.close();
    assertThrows(() => rx.receiveSync({ timeout: PEER_TIMEOUT_MS }), Deno.errors.UnexpectedEof);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel spinMicros: bad values are RangeErrors; 0 sleeps at once and still wakes for a sender process", async () => {
  const name = uniqueName("chspin");
  assertThrows(
    () => Channel.create(name, { capacity: 2, maxMessageSize: 1, spinMicros: -1 }),
    RangeError,
  );
  assertThrows(() => Channel.open(name, { spinMicros: NaN }), RangeError);
  using ch = Channel.create(name, { capacity: 2, maxMessageSize: 1, spinMicros: 0 });
  try {
    assertThrows(() => ch.receiveSync({ timeout: 10, spinMicros: Infinity }), RangeError);
    assertThrows(() => ch.receiveSync({ timeout: 10 }), Deno.errors.TimedOut);
    const tx = channelChild(
      name,
      `await new Promise((r) => setTimeout(r, 50));
         ch.sendSync(new Uint8Array([42]));`,
    );
    // Asleep on the semaphore from the start (no spin), and still woken by the sender's post.
    const got = ch.receiveSync({ timeout: PEER_TIMEOUT_MS });
    assertEquals(got[0], 42);
    const out = await tx.output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
  } finally {
    Channel.unlink(name);
  }
});

test("Channel (spsc): a new sender continues after the last, even one that died between publishing and recording TAIL", () => {
  const name = uniqueName("chhandoff");
  using rx = Channel.create(name, { capacity: 8, maxMessageSize: 4, topology: "spsc" });
  try {
    {
      using first = Channel.open(name);
      first.trySend(new Uint8Array([1]));
      first.trySend(new Uint8Array([2]));
      first.end();
    }
    // Simulate a sender that died after publishing message 3 but before storing TAIL.
    {
      using third = Channel.open(name);
      third.trySend(new Uint8Array([3]));
      third.end();
      using raw = SharedMemory.open(name);
      const words = raw.view(Int32Array);
      words[H.TAIL] = words[H.TAIL]! - 1;
    }
    using next = Channel.open(name);
    next.trySend(new Uint8Array([4]));
    next.end();
    assertEquals(rx.tryReceiveMany().map((m) => m[0]), [1, 2, 3, 4]);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel.open refuses another layout version, and a header its object is too small for, with InvalidData", () => {
  const name = uniqueName("chversion");
  const ch = Channel.create(name, { capacity: 2, maxMessageSize: 1 });
  try {
    ch.close();
    using raw = SharedMemory.open(name);
    const words = raw.view(Int32Array);
    words[H.VERSION] = 1;
    assertThrows(() => Channel.open(name), Error, "version 1 channel");
    words[H.VERSION] = VERSION;
    Channel.open(name).close();
    words[H.CAPACITY] = 1 << 20; // would reach past the end of the object
    assertThrows(() => Channel.open(name), Deno.errors.InvalidData);
    words[H.CAPACITY] = 3; // not a power of two
    assertThrows(() => Channel.open(name), Deno.errors.InvalidData);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel (default topology): 3 receiver processes share 3,000 messages from a sender process, each exactly once", async () => {
  const name = uniqueName("chfanout");
  // Room for every message: a receiver that believes it is the only one could read them all.
  using _ch = Channel.create(name, { capacity: 4096, maxMessageSize: 16 });
  using ready = PosixSemaphore.create(`${name}-ready`);
  try {
    const receivers = [0, 1, 2].map(() => spawn("consume", name, "all"));
    for (const _ of receivers) await ready.wait({ timeout: 10_000 }); // all receiving
    const sender = spawn("produce", name, "0", "3000");
    const sent = await sender.output();
    assertEquals(sent.code, 0, decoder.decode(sent.stderr));
    const seen = new Map<number, number>();
    for (const r of receivers) {
      const o = await r.output();
      assertEquals(o.code, 0, decoder.decode(o.stderr));
      const report = lastJson(decoder.decode(o.stdout));
      assertEquals(report.error, "");
      assertEquals(report.bad, 0, "no torn message");
      for (const seq of report.seqs!) seen.set(seq, (seen.get(seq) ?? 0) + 1);
    }
    const duplicated = [...seen].filter(([, n]) => n > 1).map(([seq]) => seq);
    assertEquals(duplicated, [], "no message delivered twice");
    assertEquals(seen.size, 3000, "no message lost");
  } finally {
    ready.unlink();
    Channel.unlink(name);
  }
});

test("Channel (spsc): a second receiver and a second sender are refused with Busy naming the holder's pid; a dead holder's place is free", async () => {
  const name = uniqueName("chbusy");
  using tx = Channel.create(name, { capacity: 4, maxMessageSize: 8, topology: "spsc" });
  using raw = SharedMemory.open(name);
  const words = raw.view(Int32Array);
  const holder = channelChild(
    name,
    `ch.tryReceive(); await new Promise((r) => setTimeout(r, 20_000));`,
  );
  let sender: Deno.ChildProcess | undefined;
  try {
    await until(() => Atomics.load(words, H.RECEIVER_PID) === holder.pid, "the child receives");
    using rx = Channel.open(name);
    assertThrows(() => rx.tryReceive(), Deno.errors.Busy, `pid ${holder.pid}`);
    await assertRejects(() => rx.receive({ timeout: 10 }), Deno.errors.Busy, "receiver");
    assertEquals(tx.trySend(new Uint8Array([1])), true);
    assertThrows(() => rx.trySend(new Uint8Array([2])), Deno.errors.Busy, `pid ${Deno.pid}`);
    holder.kill("SIGKILL");
    await holder.status;
    assertEquals(rx.tryReceive(), new Uint8Array([1]), "a dead receiver does not block forever");
    // A closed receiver frees its place at once; a closed sender likewise.
    rx.close();
    using rx2 = Channel.open(name);
    assertEquals(rx2.tryReceive(), undefined);
    tx.close();
    using tx2 = Channel.open(name);
    assertEquals(tx2.trySend(new Uint8Array([3])), true);
    assertEquals(rx2.tryReceive(), new Uint8Array([3]));
    // A sender in another process holds the place until it dies. (Closing tx2 ended the
    // stream rx2 was reading; a new receiver reads the new sender's.)
    tx2.close();
    rx2.close();
    sender = channelChild(
      name,
      `ch.trySend(new Uint8Array([4])); await new Promise((r) => setTimeout(r, 20_000));`,
    );
    await until(() => Atomics.load(words, H.ACTIVE) === 1, "the child sends");
    using rx3 = Channel.open(name);
    assertEquals(await rx3.receive({ timeout: 10_000 }), new Uint8Array([4]));
    using tx3 = Channel.open(name);
    assertThrows(() => tx3.trySend(new Uint8Array([5])), Deno.errors.Busy, `pid ${sender.pid}`);
    sender.kill("SIGKILL");
    await sender.status;
    assertEquals(tx3.trySend(new Uint8Array([5])), true, "a dead sender does not block forever");
    assertEquals(rx3.tryReceive(), new Uint8Array([5]));
  } finally {
    Channel.unlink(name); // first: names go even if stopping the child fails
    await stop(holder);
    if (sender !== undefined) await stop(sender);
  }
});

test("Channel.open() refuses a contradicting topology, capacity or maxMessageSize, and misspelled options anywhere, with TypeError", async () => {
  const name = uniqueName("chopts");
  using ch = Channel.create(name, { capacity: 5, maxMessageSize: 16 });
  try {
    assertThrows(() => Channel.open(name, { topology: "spsc" }), TypeError, 'topology "mpmc"');
    assertThrows(() => Channel.open(name, { topology: "spsc" }), TypeError, '"spsc"');
    assertThrows(() => Channel.open(name, { capacity: 16 }), TypeError, "capacity 8, not 16");
    assertThrows(() => Channel.open(name, { maxMessageSize: 17 }), TypeError, "16, not 17");
    // What create() rounds the same way is what it was created with.
    Channel.open(name, { topology: "mpmc", capacity: 5, maxMessageSize: 16 }).close();
    Channel.open(name, { capacity: 8 }).close();
    assertThrows(() => Channel.open(name, { multiProducer: true } as never), TypeError, "topology");
    assertThrows(() => Channel.open(name, { mode: "mpmc" } as never), TypeError, '"mode"');
    assertThrows(
      () =>
        Channel.create(
          uniqueName("x"),
          { capacity: 2, maxMessageSize: 1, permissions: 0o644 } as never,
        ),
      TypeError,
      "permissions",
    );
    assertThrows(
      () =>
        Channel.create(
          uniqueName("x"),
          { capacity: 2, maxMessageSize: 1, multiProducer: true } as never,
        ),
      TypeError,
    );
    // A message is waiting: a misspelled wait option is still refused, not ignored.
    ch.trySend(new Uint8Array([1]));
    const bad = { timeoutMs: 5 } as never;
    const buf = new Uint8Array(16);
    assertThrows(() => ch.receiveSync(bad), TypeError, 'did you mean "timeout"');
    assertThrows(() => ch.receiveIntoSync(buf, bad), TypeError, "timeoutMs");
    assertThrows(() => ch.receiveEachSync(() => {}, bad), TypeError, "timeoutMs");
    assertThrows(() => ch.sendSync(new Uint8Array([2]), bad), TypeError, "timeoutMs");
    assertThrows(() => ch.receiveSync({ signal: AbortSignal.timeout(5) } as never), TypeError);
    await assertRejects(() => ch.receive(bad), TypeError, "timeoutMs");
    await assertRejects(() => ch.receiveView(bad), TypeError, "timeoutMs");
    await assertRejects(() => ch.receiveInto(buf, bad), TypeError, "timeoutMs");
    await assertRejects(() => ch.receiveEach(() => {}, bad), TypeError, "timeoutMs");
    await assertRejects(() => ch.send(new Uint8Array([2]), bad), TypeError, "timeoutMs");
    await assertRejects(() => ch.receive({ timeout: -1 }), RangeError);
    await assertRejects(() => ch.receive({ signal: "stop" as never }), TypeError);
    assertEquals(ch.tryReceive(), new Uint8Array([1]), "nothing was taken by a refused call");
  } finally {
    Channel.unlink(name);
  }
});

for (const topology of ["mpmc", "spsc"] as const) {
  test(`Channel (${topology}): close() rejects every pending wait of the handle with BadResource, and every later call throws it`, async () => {
    const name = uniqueName("chclose");
    using _ch = Channel.create(name, { capacity: 2, maxMessageSize: 8, topology });
    using raw = SharedMemory.open(name);
    const words = raw.view(Int32Array);
    try {
      const receives: [string, (ch: Channel) => Promise<unknown>][] = [
        ["receive", (ch) => ch.receive()],
        ["receiveView", (ch) => ch.receiveView({ timeout: 10_000 })],
        ["receiveInto", (ch) => ch.receiveInto(new Uint8Array(8))],
        ["receiveEach", (ch) => ch.receiveEach(() => {})],
        ["for await", async (ch) => {
          for await (const _ of ch) fail("nothing was sent");
        }],
      ];
      for (const [what, wait] of receives) {
        const rx = Channel.open(name);
        const pending = wait(rx);
        await new Promise((r) => setTimeout(r, 5)); // past the spin, asleep
        rx.close();
        await assertRejects(
          () => pending,
          Deno.errors.BadResource,
          "closed while waiting to receive",
          what,
        );
      }
      {
        const tx = Channel.open(name);
        tx.trySendMany([new Uint8Array(1), new Uint8Array(1)]); // full
        const pending = tx.send(new Uint8Array(1));
        await new Promise((r) => setTimeout(r, 5));
        tx.close();
        await assertRejects(() => pending, Deno.errors.BadResource, "closed while waiting to send");
      }
      assertEquals(Atomics.load(words, H.RECEIVERS_WAITING), 0, "closed waits are not counted");
      assertEquals(Atomics.load(words, H.SENDERS_WAITING), 0);

      const closed = Channel.open(name);
      closed.close();
      closed.close();
      const m = new Uint8Array(1);
      const buf = new Uint8Array(8);
      const sync: (() => unknown)[] = [
        () => closed.trySend(m),
        () => closed.trySendMany([]),
        () => closed.sendSync(m, { timeout: 0 }),
        () => closed.tryReceive(),
        () => closed.tryReceiveMany(),
        () => closed.tryReceiveInto(buf),
        () => closed.tryReceiveEach(() => {}),
        () => closed.tryReceiveView(),
        () => closed.receiveSync({ timeout: 10 }),
        () => closed.receiveIntoSync(buf, { timeout: 10 }),
        () => closed.receiveEachSync(() => {}, { timeout: 10 }),
        () => closed.end(),
        () => closed.dropped,
      ];
      for (const call of sync) assertThrows(call, Deno.errors.BadResource, name);
      const async: (() => Promise<unknown>)[] = [
        () => closed.send(m),
        () => closed.receive(),
        () => closed.receiveView(),
        () => closed.receiveInto(buf),
        () => closed.receiveEach(() => {}),
        () => closed[Symbol.asyncIterator]().next(),
      ];
      for (const call of async) await assertRejects(call, Deno.errors.BadResource, name);
      // The other handles carry on: the closed sender's two messages, then a new sender's.
      using a = Channel.open(name);
      using b = Channel.open(name);
      assertEquals(b.tryReceiveMany().length, 2);
      assertEquals(a.trySend(new Uint8Array([5])), true);
      assertEquals(await b.receive({ timeout: 1000 }), new Uint8Array([5]));
    } finally {
      Channel.unlink(name);
    }
  });
}

test("Channel: a sender process's close() at the end of its using scope ends its stream at once, while the process lives on", async () => {
  const name = uniqueName("chusing");
  using rx = Channel.create(name, { capacity: 8, maxMessageSize: 16 });
  const tx = denoEval(`
    {
      using tx = Channel.open(${JSON.stringify(name)});
      await tx.send(new TextEncoder().encode("x"));
    }
    await new Promise((r) => setTimeout(r, 5000));`);
  try {
    const got: string[] = [];
    let t0 = 0;
    for await (const m of rx) {
      got.push(decoder.decode(m));
      t0 = performance.now();
    }
    const afterLast = performance.now() - t0;
    assertEquals(got, ["x"]);
    assert(afterLast < 1500, `the stream ended ${afterLast.toFixed(0)} ms after the message`);
  } finally {
    Channel.unlink(name);
    await stop(tx);
  }
});

test("Channel.create() applies mode exactly (default 0o600), and AlreadyExists says how to open or remove it", () => {
  const name = uniqueName("chmode");
  const other = uniqueName("chmode");
  try {
    using ch = Channel.create(name, { capacity: 2, maxMessageSize: 8, mode: 0o640 });
    assertEquals(Deno.statSync(`/dev/shm${name}`).mode! & 0o777, 0o640);
    using plain = Channel.create(other, { capacity: 2, maxMessageSize: 8 });
    assertEquals(Deno.statSync(`/dev/shm${other}`).mode! & 0o777, 0o600);
    assertThrows(
      () => Channel.create(name, { capacity: 2, maxMessageSize: 8, mode: 0o1000 }),
      RangeError,
    );
    const e = assertThrows(
      () => Channel.create(name, { capacity: 2, maxMessageSize: 8 }),
      Deno.errors.AlreadyExists,
    );
    assertMatch(e.message, /Cannot create channel ".*": it already exists/);
    assertMatch(e.message, /Channel\.open\(/);
    assertMatch(e.message, /Channel\.unlink\(/);
    assertMatch(e.message, /jsr:@ipc\/shm\/cli rm /);
    assertEquals(ch.topology, "mpmc");
    assertEquals(plain.closed, false);
  } finally {
    Channel.unlink(name);
    Channel.unlink(other);
  }
});

test("Channel.open() names the kind: NotFound says how to create a channel; another kind of object is not a Channel", () => {
  const missing = uniqueName("chnope");
  assertThrows(() => Channel.unlink(missing), Deno.errors.NotFound, "Cannot unlink channel");
  const e = assertThrows(() => Channel.open(missing), Deno.errors.NotFound);
  assertMatch(e.message, new RegExp(`^Cannot open channel "${missing}": it does not exist`));
  assertMatch(e.message, /Channel\.create\(/);
  assertEquals((e as Deno.errors.NotFound & { code?: string }).code, "ENOENT");
  const plainName = uniqueName("chplain");
  const mutexName = uniqueName("chmutex");
  using plain = SharedMemory.create(plainName, { size: 4096 });
  plain.bytes.fill(0xab);
  using mutex = Mutex.create(mutexName);
  try {
    assertThrows(() => Channel.open(plainName), Deno.errors.InvalidData, "is not a Channel");
    assertThrows(() => Channel.open(mutexName), Deno.errors.InvalidData, "is not a Channel");
    assertEquals(mutex.closed, false);
  } finally {
    SharedMemory.unlink(plainName);
    Mutex.unlink(mutexName);
  }
});

test("Channel.openOrCreate(): of 4 racing processes exactly one creates the channel, and all of them share it", async () => {
  const name = uniqueName("chooc");
  const options = `{ capacity: 8, maxMessageSize: 4 }`;
  const racers = [0, 1, 2, 3].map((k) =>
    denoEval(`
      using ch = Channel.openOrCreate(${JSON.stringify(name)}, ${options});
      ch.trySend(new Uint8Array([${k}]));
      console.log(ch.created);`)
  );
  try {
    const created: string[] = [];
    for (const r of racers) {
      const o = await r.output();
      assertEquals(o.code, 0, decoder.decode(o.stderr));
      created.push(decoder.decode(o.stdout).trim());
    }
    assertEquals(created.filter((c) => c === "true").length, 1, created.join(" "));
    assertEquals(created.filter((c) => c === "false").length, 3);
    using rx = Channel.openOrCreate(name, { capacity: 8, maxMessageSize: 4 });
    assertEquals(rx.created, false);
    assertEquals(rx.tryReceiveMany().map((m) => m[0]).sort(), [0, 1, 2, 3]);
    assertThrows(() => rx.tryReceive(), Deno.errors.UnexpectedEof, undefined, "every racer closed");
    assertThrows(
      () => Channel.openOrCreate(name, { capacity: 8, maxMessageSize: 5 }),
      TypeError,
      "maxMessageSize 4, not 5",
    );
    assertThrows(
      () => Channel.openOrCreate(name, { capacity: 8, maxMessageSize: 4, topology: "spsc" }),
      TypeError,
      "topology",
    );
  } finally {
    await Promise.all(racers.map((r) => r.status));
    Channel.unlink(name);
  }
});

test("Channel.open() waits for a creator still writing the header, and refuses a header left blank with InvalidData", async () => {
  const name = uniqueName("chmidcreate");
  using ch = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
  using ready = PosixSemaphore.create(`${name}-ready`);
  using raw = SharedMemory.open(name);
  const words = raw.view(Int32Array);
  const magic = words[H.MAGIC]!;
  Atomics.store(words, H.MAGIC, 0); // as before its creator's last store
  const opener = denoEval(`
    import { Semaphore } from ${
    JSON.stringify(new URL("../posix/semaphore.ts", import.meta.url).href)
  };
    Semaphore.open(${JSON.stringify(`${name}-ready`)}).post();
    const t0 = performance.now();
    using ch = Channel.open(${JSON.stringify(name)});
    console.log(JSON.stringify({ capacity: ch.capacity, ms: performance.now() - t0 }));`);
  let o: Deno.CommandOutput | undefined;
  try {
    await ready.wait({ timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    Atomics.store(words, H.MAGIC, magic);
    o = await opener.output();
    assertEquals(o.code, 0, decoder.decode(o.stderr));
    const { capacity, ms } = JSON.parse(decoder.decode(o.stdout));
    assertEquals(capacity, 4);
    assert(ms >= 50, `open() returned after ${ms} ms, before the header was complete`);
    Atomics.store(words, H.MAGIC, 0); // a creator that died before finishing
    const t0 = performance.now();
    assertThrows(() => Channel.open(name), Deno.errors.InvalidData, "still blank");
    assert(performance.now() - t0 < 2000);
    Atomics.store(words, H.MAGIC, magic);
    assertEquals(ch.closed, false);
  } finally {
    ready.unlink();
    Channel.unlink(name);
    if (o === undefined) await stop(opener);
  }
});
