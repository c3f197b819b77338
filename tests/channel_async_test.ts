// The async fast path of Channel keeps its semantics: an awaited send or
// receive that can complete at once does so without waiting, yet ordering,
// exactly-once delivery, rejections (never synchronous throws), abort signals
// and the end of the stream behave as before.
import { assert, assertEquals, assertRejects, assertStrictEquals, fail } from "@std/assert";
import { setImmediate } from "node:timers";
import { Channel } from "../channel/mod.ts";
import { MAX_HOLD_US } from "../memory/_wait.ts";
import { Semaphore as PosixSemaphore } from "../posix/semaphore.ts";
import { emulated, PEER_TIMEOUT_MS, test, uniqueName } from "./_helpers.ts";

const decoder = new TextDecoder();
const channelModule = JSON.stringify(new URL("../channel/mod.ts", import.meta.url).href);

/**
 * A sender process: `count` messages [id u32][seq u32], by turns through
 * `await send()`, `sendSync()` and `trySend()` (else `await send()`), then end().
 */
function sender(name: string, id: number, count: number) {
  const script = `import { Channel } from ${channelModule};
    using ch = Channel.open(${JSON.stringify(name)});
    const msg = new Uint8Array(8);
    const v = new DataView(msg.buffer);
    for (let s = 0; s < ${count}; s++) {
      v.setUint32(0, ${id}, true);
      v.setUint32(4, s, true);
      if (s % 3 === 0) await ch.send(msg, { timeout: ${PEER_TIMEOUT_MS} });
      else if (s % 3 === 1) ch.sendSync(msg, { timeout: ${PEER_TIMEOUT_MS} });
      else if (!ch.trySend(msg)) await ch.send(msg, { timeout: ${PEER_TIMEOUT_MS} });
    }
    ch.end();`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Calls `call`, which must not throw synchronously, and returns its promise. */
function promiseOf<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return call();
  } catch (e) {
    fail(`${what} threw synchronously instead of rejecting: ${e}`);
  }
}

for (const topology of ["spsc", "mpmc"] as const) {
  const producers = topology === "spsc" ? 1 : 2;
  test(`Channel (${topology}): await send and for await, mixed with sync calls, deliver every message of ${producers} sender process(es) exactly once and in order`, async () => {
    const name = uniqueName(`chasync-${topology}`);
    const count = 20_000;
    // A small ring, so both sides wait often and the wait paths are exercised too.
    using ch = Channel.create(name, { capacity: 8, maxMessageSize: 8, topology });
    try {
      const children = Array.from({ length: producers }, (_, id) => sender(name, id, count));
      const next = new Array<number>(producers).fill(0);
      let total = 0;
      const record = (m: Uint8Array) => {
        assertEquals(m.length, 8);
        const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
        const id = v.getUint32(0, true);
        const seq = v.getUint32(4, true);
        assert(id < producers, `producer id ${id}`);
        assertEquals(seq, next[id], `producer ${id}: in order, nothing lost or repeated`);
        next[id]!++;
        total++;
      };
      const buf = new Uint8Array(8);
      const timeout = PEER_TIMEOUT_MS;
      for (let ended = false; !ended;) {
        // A for-await stretch that breaks early: what it did not take stays in the ring.
        let took = 0;
        for await (const m of ch) {
          record(m);
          if (++took === 7) break;
        }
        if (took < 7) break; // the stream ended inside the loop
        try {
          record(await ch.receive({ timeout }));
          const n = await ch.receiveInto(buf, { timeout });
          record(buf.subarray(0, n));
          record(ch.receiveSync({ timeout }));
          await ch.receiveEach(record, { timeout, max: 3 });
          using view = await ch.receiveView({ timeout });
          record(view.bytes);
        } catch (e) {
          if (!(e instanceof Deno.errors.UnexpectedEof)) throw e;
          ended = true;
        }
      }
      for (const child of children) {
        const o = await child.output();
        assertEquals(o.code, 0, decoder.decode(o.stderr));
      }
      assertEquals(total, producers * count);
      assertEquals(next, new Array(producers).fill(count));
    } finally {
      Channel.unlink(name);
    }
  });
}

test("Channel async methods reject bad arguments, and a closed handle, with a rejected promise: none throws", async () => {
  const name = uniqueName("chrej");
  const ch = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
  try {
    const big = new Uint8Array(9);
    const rejects = async (
      what: string,
      call: () => Promise<unknown>,
      ErrorClass: new (message?: string) => Error,
    ) => {
      await assertRejects(() => promiseOf(call, what), ErrorClass, undefined, what);
    };
    await rejects("send(not bytes)", () => ch.send("hi" as never), TypeError);
    await rejects("send(too big)", () => ch.send(big), RangeError);
    await rejects(
      "send(bad option)",
      () => ch.send(new Uint8Array(1), { timeoutMs: 1 } as never),
      TypeError,
    );
    await rejects("receive(bad spin)", () => ch.receive({ spinMicros: -1 }), RangeError);
    await rejects("receive(bad signal)", () => ch.receive({ signal: "stop" as never }), TypeError);
    await rejects("receiveInto(not bytes)", () => ch.receiveInto([] as never), TypeError);
    await rejects("receiveEach(no function)", () => ch.receiveEach("f" as never), TypeError);
    await rejects("receiveEach(bad max)", () => ch.receiveEach(() => {}, { max: 0 }), RangeError);
    await rejects("receiveView(bad timeout)", () => ch.receiveView({ timeout: -1 }), RangeError);
    // A message larger than the buffer: RangeError, and the message stays in the ring.
    assert(ch.trySend(new Uint8Array([1, 2, 3])));
    await rejects("receiveInto(small buffer)", () => ch.receiveInto(new Uint8Array(2)), RangeError);
    assertEquals(ch.tryReceive(), new Uint8Array([1, 2, 3]));
    // for await: an error rejects next(), it does not throw from it.
    const it = ch[Symbol.asyncIterator]();
    ch.close();
    await rejects("send(closed)", () => ch.send(new Uint8Array(1)), Deno.errors.BadResource);
    await rejects("receive(closed)", () => ch.receive(), Deno.errors.BadResource);
    await rejects(
      "receiveInto(closed)",
      () => ch.receiveInto(new Uint8Array(8)),
      Deno.errors.BadResource,
    );
    await rejects("receiveEach(closed)", () => ch.receiveEach(() => {}), Deno.errors.BadResource);
    await rejects("receiveView(closed)", () => ch.receiveView(), Deno.errors.BadResource);
    await rejects("iterator next(closed)", () => it.next(), Deno.errors.BadResource);
    assertEquals(await it.next(), { done: true, value: undefined }, "done after an error");
  } finally {
    ch.close();
    Channel.unlink(name);
  }
});

test("Channel: an already-aborted signal rejects with its reason even when the operation could complete at once, as posix.Semaphore.wait does", async () => {
  const name = uniqueName("chabort");
  using ch = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
  using sem = PosixSemaphore.create(uniqueName("chabort-sem"), { value: 1 });
  try {
    const reason = new Error("stop");
    const signal = AbortSignal.abort(reason);
    // The semaphore this follows: a permit is there, yet the wait rejects and takes none.
    assertStrictEquals(await assertRejects(() => sem.wait({ signal })), reason);
    assertEquals(sem.value, 1);
    // Room in the ring: nothing is sent.
    assertStrictEquals(
      await assertRejects(() => promiseOf(() => ch.send(new Uint8Array([9]), { signal }), "send")),
      reason,
    );
    assertEquals(ch.tryReceive(), undefined);
    // A message ready: nothing is taken, by any receive.
    assert(ch.trySend(new Uint8Array([5])));
    const calls: [string, () => Promise<unknown>][] = [
      ["receive", () => ch.receive({ signal })],
      ["receiveInto", () => ch.receiveInto(new Uint8Array(8), { signal })],
      ["receiveView", () => ch.receiveView({ signal })],
      ["receiveEach", () => ch.receiveEach(() => fail("handed a message"), { signal })],
    ];
    for (const [what, call] of calls) {
      assertStrictEquals(await assertRejects(() => promiseOf(call, what)), reason, what);
    }
    assertEquals(ch.tryReceive(), new Uint8Array([5]), "the message stayed in the ring");
    // An unaborted signal changes nothing.
    assert(ch.trySend(new Uint8Array([6])));
    assertEquals(await ch.receive({ signal: new AbortController().signal }), new Uint8Array([6]));
  } finally {
    Channel.unlink(name);
    sem.unlink();
  }
});

test("Channel for await: ends at the end of the stream; a loop that breaks leaves the rest in the ring", async () => {
  const name = uniqueName("chiter");
  using rx = Channel.create(name, { capacity: 8, maxMessageSize: 4 });
  try {
    {
      using tx = Channel.open(name);
      for (let k = 1; k <= 5; k++) await tx.send(new Uint8Array([k]));
    } // closing the sender ends its stream
    const first: number[] = [];
    for await (const m of rx) {
      first.push(m[0]!);
      if (first.length === 2) break;
    }
    assertEquals(first, [1, 2]);
    assertEquals(rx.tryReceive(), new Uint8Array([3]));
    const rest: number[] = [];
    for await (const m of rx) rest.push(m[0]!);
    assertEquals(rest, [4, 5]);
    // Ended: a new loop ends at once, and receive() rejects.
    for await (const _ of rx) fail("a message after the end");
    await assertRejects(() => rx.receive(), Deno.errors.UnexpectedEof);
  } finally {
    Channel.unlink(name);
  }
});

test("Channel for await waits for a sender on an empty ring, and ends when it ends", async () => {
  const name = uniqueName("chiterwait");
  using rx = Channel.create(name, { capacity: 2, maxMessageSize: 4, topology: "spsc" });
  try {
    using tx = Channel.open(name);
    const sending = (async () => {
      for (let k = 0; k < 10; k++) {
        await new Promise((r) => setTimeout(r, 2));
        await tx.send(new Uint8Array([k]));
      }
      tx.end();
    })();
    const got: number[] = [];
    for await (const m of rx) got.push(m[0]!);
    await sending;
    assertEquals(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  } finally {
    Channel.unlink(name);
  }
});

test(`Channel: an awaited receive on an empty ring holds the event loop at most one spin (MAX_HOLD_US = ${MAX_HOLD_US} µs), even with spinMicros 10,000`, async () => {
  // The plan itself is checked without a clock in wait_test.ts; here the Channel uses it.
  assert(MAX_HOLD_US <= 50);
  const name = uniqueName("chstretch");
  using rx = Channel.create(name, { capacity: 4, maxMessageSize: 4 });
  using tx = Channel.open(name);
  try {
    const t0 = performance.now();
    const pending = rx.receive({ spinMicros: 10_000, timeout: PEER_TIMEOUT_MS });
    const held = performance.now() - t0;
    pending.catch(() => {}); // a failed assertion below must not leave it unhandled
    // Before: the whole 10 ms spin ran before receive() returned. A loaded machine may pause
    // this process for a few ms anywhere, so the bound is loose but below the old 10 ms; under
    // emulation every step takes tens of times longer, so there only the behaviour is checked.
    if (!emulated) assert(held < 8, `receive() held the event loop ${held.toFixed(2)} ms`);
    // The event loop turns while the receive waits, and a message sent then is received.
    await new Promise((r) => setImmediate(r));
    assert(tx.trySend(new Uint8Array([1])));
    assertEquals(await pending, new Uint8Array([1]));
  } finally {
    Channel.unlink(name);
  }
});
