import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "@std/assert";
import { MessageQueue, MQ_PRIO_MAX } from "../posix/message_queue.ts";
import { MQ, MQ_ATTR_SIZE, POLLFD_SIZE } from "../ffi/mqueue.ts";
import { MSG, MSQID_DS, MTYPE_SIZE } from "../ffi/sysv_msg.ts";
import { settled } from "../posix/settled.ts";
import { MessageQueue as SysvQueue } from "../sysv/message_queue.ts";
import { ftok } from "../sysv/key.ts";
import { listMessageQueues as listPosixQueues } from "../posix/list_message_queues.ts";
import { listMessageQueues as listSysvQueues } from "../sysv/list_message_queues.ts";
import {
  assertOk,
  compileC,
  emulated,
  hasCC,
  PEER_TIMEOUT_MS,
  runDeno,
  runExe,
  tempModule,
  test,
  uniqueName,
} from "./_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array) => dec.decode(b);

/** Every POSIX queue name this file creates; the last POSIX test checks none is left. */
const names = new Set<string>();
function qname(tag: string): string {
  const n = uniqueName(`mq-${tag}`);
  names.add(n);
  return n;
}
function unlinkQuietly(name: string): void {
  try {
    MessageQueue.unlink(name);
  } catch { /* already gone */ }
}

test("posix.MessageQueue: create/open/openOrCreate/unlink, real attributes, exact mode despite the umask, created", () => {
  const name = qname("basic");
  const old = Deno.umask(0o077);
  try {
    using a = MessageQueue.create(name, { maxMessages: 5, maxMessageSize: 100, mode: 0o666 });
    assertEquals(a.mode, 0o666);
    assertEquals(a.created, true);
    assertEquals(a.attributes(), { maxMessages: 5, maxMessageSize: 100, messages: 0 });
    using b = MessageQueue.open(name);
    assertEquals([b.created, b.maxMessages, b.maxMessageSize, b.name], [false, 5, 100, name]);
    using c = MessageQueue.openOrCreate(name, { maxMessages: 1 });
    assertEquals([c.created, c.maxMessages], [false, 5]);
    a.sendSync(bytes("x"));
    assertEquals(b.messages, 1);
    const dup = assertThrows(() => MessageQueue.create(name), Deno.errors.AlreadyExists);
    assertMatch(dup.message, /MessageQueue\.unlink\(/);
    assertEquals((dup as Error & { code: string }).code, "EEXIST");
    b.unlink();
    assertThrows(() => MessageQueue.open(name), Deno.errors.NotFound);
    assertEquals(text(c.receiveSync({ timeout: 0 }).data), "x"); // open handles keep working
    using d = MessageQueue.openOrCreate(name, { maxMessageSize: 7 });
    assertEquals([d.created, d.maxMessageSize, d.mode], [true, 7, 0o600]);
  } finally {
    Deno.umask(old);
    unlinkQuietly(name);
  }
});

test("posix.MessageQueue: bad names, options, priorities and misspelled option names are TypeError/RangeError before any call", async () => {
  const name = qname("args");
  for (const bad of ["noslash", "/", "/a/b", "/\0"]) {
    assertThrows(() => MessageQueue.create(bad), TypeError);
  }
  assertThrows(() => MessageQueue.create(`/${"x".repeat(256)}`), RangeError);
  assertThrows(
    () => MessageQueue.create(name, { maxMesages: 3 } as never),
    TypeError,
    "maxMessages",
  );
  assertThrows(() => MessageQueue.create(name, { maxMessages: 0 }), RangeError);
  assertThrows(() => MessageQueue.create(name, { maxMessageSize: 1.5 }), RangeError);
  assertThrows(() => MessageQueue.create(name, { mode: 0o1777 }), RangeError);
  assertThrows(() => MessageQueue.open(name), Deno.errors.NotFound);
  using q = MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 8 });
  try {
    assertThrows(() => q.sendSync(bytes("x"), { priorty: 1 } as never), TypeError, "priority");
    assertThrows(() => q.trySend(bytes("x"), { timeout: 1 } as never), TypeError);
    assertThrows(() => q.receiveSync({ timout: 1 } as never), TypeError, "timeout");
    assertThrows(() => q.receiveIntoSync(new Uint8Array(8), { signal: 1 } as never), TypeError);
    for (const p of [-1, 32768, 1.5]) {
      assertThrows(() => q.trySend(bytes("x"), { priority: p }), RangeError);
    }
    assertThrows(() => q.trySend("x" as never), TypeError);
    assertThrows(() => q.sendSync(bytes("x"), { timeout: -1 }), RangeError);
    await assertRejects(() => q.send(bytes("x"), { timeOut: 1 } as never), TypeError, "timeout");
    await assertRejects(() => q.receive({ signl: null } as never), TypeError, "signal");
    await assertRejects(
      () => q.receiveInto(new Uint8Array(8), { timeout: "1" } as never),
      TypeError,
    );
    assertEquals(q.messages, 0);
  } finally {
    q.unlink();
  }
});

test("posix.MessageQueue: an oversized message is a RangeError naming maxMessageSize; a small receive buffer names EMSGSIZE", () => {
  const name = qname("size");
  using q = MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 16 });
  try {
    const e = assertThrows(() => q.sendSync(new Uint8Array(17)), RangeError);
    assertMatch(e.message, /maxMessageSize 16.*EMSGSIZE/);
    assertThrows(() => q.trySend(new Uint8Array(17)), RangeError);
    const r = assertThrows(() => q.tryReceiveInto(new Uint8Array(15)), RangeError);
    assertMatch(r.message, /EMSGSIZE/);
    q.sendSync(new Uint8Array(16).fill(3));
    const buf = new Uint8Array(64);
    assertEquals(q.receiveIntoSync(buf, { timeout: 0 }), { length: 16, priority: 0 });
    assertEquals(buf.subarray(0, 16), new Uint8Array(16).fill(3));
    q.sendSync(new Uint8Array(0)); // empty messages are messages
    assertEquals(q.tryReceive()?.data.length, 0);
    assertEquals(q.tryReceive(), undefined);
    assertEquals(q.tryReceiveInto(buf), undefined);
  } finally {
    q.unlink();
  }
  const tooBig = assertThrows(
    () => MessageQueue.create(qname("size"), { maxMessageSize: 1 << 20 }),
    Error,
  ) as Error & { code: string };
  assertEquals(tooBig.code, "EINVAL");
  assertMatch(tooBig.message, /msgsize_max/);
  const tooMany = assertThrows(() => MessageQueue.create(qname("size"), { maxMessages: 100000 }));
  assertMatch((tooMany as Error).message, /msg_max/);
});

test("posix.MessageQueue: the 10th default-size queue fails with EMFILE explained as the RLIMIT_MSGQUEUE budget (ulimit -q)", () => {
  const made: MessageQueue[] = [];
  let failure: (Error & { code?: string }) | undefined;
  try {
    for (let i = 0; i < 12 && failure === undefined; i++) {
      try {
        made.push(MessageQueue.create(qname("budget")));
      } catch (e) {
        failure = e as Error;
      }
    }
    assert(failure !== undefined, "12 default-size queues fit: RLIMIT_MSGQUEUE is not 819200 here");
    assertEquals(failure.code, "EMFILE");
    assertMatch(failure.message, /RLIMIT_MSGQUEUE/);
    assertMatch(failure.message, /ulimit -q/);
    assertMatch(failure.message, /unlinked AND closed/);
    assert(made.length >= 1 && made.length <= 10, `${made.length} queues fit`);
  } finally {
    for (const q of made) {
      q.unlink();
      q.close();
    }
  }
  // The budget returns after unlink and close.
  const again = MessageQueue.create(qname("budget"));
  again.unlink();
  again.close();
});

test("posix.MessageQueue: priorities arrive highest first and FIFO within one, from a Deno child", async () => {
  const name = qname("prio");
  using q = MessageQueue.create(name, { maxMessages: 10, maxMessageSize: 32 });
  try {
    const child = await tempModule(`
      import { MessageQueue } from "@lib/posix/message_queue.ts";
      using q = MessageQueue.open(Deno.args[0]);
      const e = new TextEncoder();
      for (const [s, p] of [["a", 1], ["b", 5], ["c", 1], ["d", 5], ["e", 0], ["f", 32767]]) {
        await q.send(e.encode(s), { priority: p, timeout: 60_000 });
      }
    `);
    assertOk(await runDeno(child, [name]), "sender");
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const m = await q.receive({ timeout: 1000 });
      got.push(`${text(m.data)}${m.priority}`);
    }
    assertEquals(got, ["f32767", "b5", "d5", "a1", "c1", "e0"]);
  } finally {
    q.unlink();
  }
});

test("posix.MessageQueue: Deno to Deno ping-pong across processes with async waits on both sides", async () => {
  const ping = qname("ping");
  const pong = qname("pong");
  using a = MessageQueue.create(ping, { maxMessages: 2, maxMessageSize: 64 });
  using b = MessageQueue.create(pong, { maxMessages: 2, maxMessageSize: 64 });
  try {
    const child = await tempModule(`
      import { MessageQueue } from "@lib/posix/message_queue.ts";
      using inq = MessageQueue.open(Deno.args[0]);
      using out = MessageQueue.open(Deno.args[1]);
      for (let i = 0; i < 200; i++) {
        const m = await inq.receive({ timeout: 60_000 });
        await out.send(m.data, { priority: m.priority, timeout: 60_000 });
      }
    `);
    const run = runDeno(child, [ping, pong]);
    for (let i = 0; i < 200; i++) {
      await a.send(bytes(`n${i}`), { priority: i % 3, timeout: 60_000 });
      const m = await b.receive({ timeout: 60_000 });
      assertEquals([text(m.data), m.priority], [`n${i}`, i % 3]);
    }
    assertOk(await run, "echo child");
  } finally {
    a.unlink();
    b.unlink();
  }
});

test("posix.MessageQueue: full and empty queues time out (sync and async); timeout 0 tries once", async () => {
  const name = qname("full");
  using q = MessageQueue.create(name, { maxMessages: 1, maxMessageSize: 8 });
  try {
    assertThrows(() => q.receiveSync({ timeout: 0 }), Deno.errors.TimedOut);
    let t = performance.now();
    assertThrows(() => q.receiveSync({ timeout: 30 }), Deno.errors.TimedOut);
    assert(performance.now() - t >= 29);
    await assertRejects(() => q.receive({ timeout: 0 }), Deno.errors.TimedOut);
    t = performance.now();
    await assertRejects(() => q.receive({ timeout: 30 }), Deno.errors.TimedOut);
    const waited = performance.now() - t;
    assert(waited >= 29 && waited < 500, `${waited} ms`);
    assertEquals(q.trySend(bytes("1")), true);
    assertEquals(q.trySend(bytes("2")), false);
    assertThrows(() => q.sendSync(bytes("2"), { timeout: 0 }), Deno.errors.TimedOut);
    assertThrows(() => q.sendSync(bytes("2"), { timeout: 20 }), Deno.errors.TimedOut);
    await assertRejects(() => q.send(bytes("2"), { timeout: 0 }), Deno.errors.TimedOut);
    await assertRejects(() => q.send(bytes("2"), { timeout: 20 }), Deno.errors.TimedOut);
    assertEquals(q.messages, 1); // nothing a timed-out send tried went in
    // A waiting send goes in when room appears.
    const pending = q.send(bytes("3"), { timeout: 2000 });
    setTimeout(() => q.tryReceive(), 20);
    await pending;
    assertEquals(text(q.receiveSync({ timeout: 0 }).data), "3");
  } finally {
    q.unlink();
  }
});

test("posix.MessageQueue: untimed sync calls block in the kernel (mq_receive/mq_send without O_NONBLOCK); tries and async waits after them still never block", async () => {
  const name = qname("blocking");
  using q = MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 16 });
  try {
    const child = await tempModule(`
      import { MessageQueue } from "@lib/posix/message_queue.ts";
      using q = MessageQueue.open(Deno.args[0]);
      const nap = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 4; i++) {
        Atomics.wait(nap, 0, 0, 30);
        q.sendSync(new TextEncoder().encode(String(i))); // blocks while full
      }
      Atomics.wait(nap, 0, 0, 30);
      q.receiveSync(); // blocks while empty: takes the parent's "ack"
    `);
    const run = runDeno(child, [name]);
    const buf = new Uint8Array(q.maxMessageSize);
    // Timed first: proves the child runs, so the untimed waits below cannot hang the run.
    assertEquals(text(q.receiveSync({ timeout: PEER_TIMEOUT_MS }).data), "0");
    const into = q.receiveIntoSync(buf); // waits ~30 ms for the child, in the kernel
    assertEquals(text(buf.subarray(0, into.length)), "1");
    // The handle is now in blocking mode: a try must still return at once.
    let t = performance.now();
    assertEquals(q.tryReceive(), undefined);
    assertEquals(q.tryReceiveInto(buf), undefined);
    assert(performance.now() - t < 25, "tryReceive blocked");
    assertEquals(text((await q.receive({ timeout: PEER_TIMEOUT_MS })).data), "2");
    assertEquals(text(q.receiveSync().data), "3");
    // And an async wait after a blocking call parks instead of blocking the event loop.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    t = performance.now();
    await assertRejects(() => q.receive({ timeout: 40 }), Deno.errors.TimedOut);
    clearInterval(timer);
    assert(ticks > 3, `the event loop was held (${ticks} ticks in ${performance.now() - t} ms)`);
    q.sendSync(bytes("ack"));
    assertOk(await run, "peer");
    assertEquals(q.tryReceive(), undefined); // the child took the ack
    // A full queue: trySend refuses at once after a blocking send.
    q.sendSync(bytes("a"));
    q.sendSync(bytes("b"));
    assertEquals(q.trySend(bytes("c")), false);
    assertThrows(() => q.sendSync(bytes("c"), { timeout: 0 }), Deno.errors.TimedOut);
    assertThrows(() => q.sendSync(bytes("c"), { timeout: 10 }), Deno.errors.TimedOut);
    assertEquals(q.messages, 2);
  } finally {
    q.unlink();
    await settled();
  }
});

test("posix.MessageQueue: the untimed sync calls still check their arguments first (TypeError/RangeError, nothing sent or taken), and a closed handle throws BadResource", () => {
  const name = qname("blocking-args");
  const q = MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 4 });
  try {
    assertThrows(() => q.sendSync(new Uint8Array(5)), RangeError);
    assertThrows(() => q.sendSync("x" as unknown as Uint8Array), TypeError);
    assertThrows(() => q.sendSync(new Uint8Array(1), { priority: -1 }), RangeError);
    assertThrows(() => q.sendSync(new Uint8Array(1), { priorty: 1 } as never), TypeError);
    assertThrows(() => q.receiveSync({ timeout: -1 }), RangeError);
    assertThrows(() => q.receiveSync({ timout: 1 } as never), TypeError);
    assertThrows(() => q.receiveIntoSync(new Uint8Array(3)), RangeError);
    assertEquals(q.messages, 0);
    q.sendSync(new Uint8Array([9]));
    assertEquals([...q.receiveSync().data], [9]);
  } finally {
    q.close();
    MessageQueue.unlink(name);
  }
  assertThrows(() => q.sendSync(new Uint8Array(1)), Deno.errors.BadResource);
  assertThrows(() => q.receiveSync(), Deno.errors.BadResource);
  assertThrows(() => q.receiveIntoSync(new Uint8Array(4)), Deno.errors.BadResource);
});

test("posix.MessageQueue: async calls reject (never throw) on bad arguments and closed handles, before any try or spin", async () => {
  const name = qname("async-args");
  const q = MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 4 });
  try {
    const calls: [() => Promise<unknown>, ErrorConstructor][] = [
      [() => q.send(new Uint8Array(5)), RangeError],
      [() => q.send("x" as unknown as Uint8Array), TypeError],
      [() => q.send(new Uint8Array(1), { priority: 1.5 }), RangeError],
      [() => q.send(new Uint8Array(1), { timeout: -1 }), RangeError],
      [() => q.send(new Uint8Array(1), { signal: {} as AbortSignal }), TypeError],
      [() => q.receive({ timeout: NaN }), RangeError],
      [() => q.receive({ timout: 1 } as never), TypeError],
      [() => q.receiveInto(new Uint8Array(3)), RangeError],
      [
        () => q.receiveInto(new Uint8Array(4), { signal: AbortSignal.abort(new Error("x")) }),
        Error,
      ],
    ];
    for (const [call, E] of calls) {
      let p: Promise<unknown> | undefined;
      try {
        p = call();
      } catch (e) {
        throw new Error(`threw instead of rejecting: ${e}`);
      }
      await assertRejects(() => p!, E);
    }
    assertEquals(q.messages, 0); // nothing was sent
  } finally {
    q.close();
    MessageQueue.unlink(name);
  }
  const closed: (() => Promise<unknown>)[] = [
    () => q.send(new Uint8Array(1)),
    () => q.receive(),
    () => q.receiveInto(new Uint8Array(4)),
  ];
  for (const call of closed) await assertRejects(call, Deno.errors.BadResource);
  await settled();
});

test("sysv.MessageQueue: an async receive backing off (20 µs sleeps, doubling to 1 ms) still gets a message sent 30 ms later, and nothing else", async () => {
  const q = SysvQueue.private();
  try {
    const t0 = performance.now();
    const pending = q.receive({ type: 3, timeout: PEER_TIMEOUT_MS });
    const other = q.receive({ type: 4, timeout: 60 });
    setTimeout(() => q.trySend(bytes("late"), { type: 3 }), 30);
    const got = await pending;
    const waited = performance.now() - t0;
    assertEquals([text(got.data), got.type], ["late", 3]);
    assert(waited >= 29 && waited < 5000, `${waited} ms`);
    await assertRejects(() => other, Deno.errors.TimedOut);
    assertEquals(q.tryReceive(), undefined);
  } finally {
    q.remove();
    await settled();
  }
});

test("posix.MessageQueue: abandoned async receives (timeouts and aborts) take nothing: a sync receive then gets every message, in order", async () => {
  const name = qname("lost");
  using q = MessageQueue.create(name, { maxMessages: 10, maxMessageSize: 16 });
  const N = 300;
  try {
    const child = await tempModule(`
      import { MessageQueue } from "@lib/posix/message_queue.ts";
      using q = MessageQueue.open(Deno.args[0]);
      const nap = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < ${N}; i++) {
        q.sendSync(new TextEncoder().encode(String(i)), { timeout: 60_000 });
        if (i % 7 === 0) Atomics.wait(nap, 0, 0, 1);
      }
    `);
    const run = runDeno(child, [name]);
    const got: number[] = [];
    let abandoned = 0;
    while (got.length < N) {
      const ac = new AbortController();
      const p = q.receive({ signal: ac.signal, timeout: 1 + (got.length % 3) });
      if (got.length % 2 === 0) setTimeout(() => ac.abort(new Error("gave up")), 0);
      try {
        got.push(Number(text((await p).data)));
      } catch (e) {
        assert(e instanceof Deno.errors.TimedOut || (e as Error).message === "gave up", String(e));
        abandoned++;
        // Whatever the abandoned wait saw is still in the queue.
        const m = q.tryReceive();
        if (m !== undefined) got.push(Number(text(m.data)));
      }
    }
    assertOk(await run, "sender");
    assertEquals(got, Array.from({ length: N }, (_, i) => i));
    assert(abandoned > 0, "no wait was abandoned: the test proved nothing");
    assertEquals(q.tryReceive(), undefined);
  } finally {
    q.unlink();
    await settled();
  }
});

test("posix.MessageQueue: 100 concurrent async receives use one pool thread: Deno.readTextFile still completes, then all 100 get a message", async () => {
  const qs: MessageQueue[] = [];
  const file = await Deno.makeTempFile();
  try {
    for (let i = 0; i < 20; i++) {
      qs.push(MessageQueue.create(qname("many"), { maxMessages: 5, maxMessageSize: 8 }));
    }
    const waits = qs.flatMap((q) =>
      Array.from({ length: 5 }, () => q.receive({ timeout: 60_000 }))
    );
    await Deno.writeTextFile(file, "still here");
    const t = performance.now();
    assertEquals(await Deno.readTextFile(file), "still here");
    assert(performance.now() - t < 1000, "file I/O was starved");
    qs.forEach((q, i) => {
      for (let j = 0; j < 5; j++) q.sendSync(new Uint8Array([i, j]));
    });
    const got = await Promise.all(waits);
    assertEquals(
      got.map((m) => [...m.data]),
      qs.flatMap((_, i) => [0, 1, 2, 3, 4].map((j) => [i, j])),
    );
  } finally {
    for (const q of qs) {
      q.unlink();
      q.close();
    }
    await Deno.remove(file);
  }
});

test("posix.MessageQueue: closing rejects pending waits with BadResource; afterwards every method throws it", async () => {
  const name = qname("close");
  const q = MessageQueue.create(name, { maxMessages: 1, maxMessageSize: 8 });
  try {
    const r = q.receive();
    const r2 = q.receiveInto(new Uint8Array(8), { timeout: 60_000 });
    q.sendSync(bytes("x"));
    assertEquals(text((await r).data), "x");
    q.sendSync(bytes("y"));
    const s = q.send(bytes("z"));
    assertEquals((await r2).length, 1);
    await s;
    const s2 = q.send(bytes("w"));
    q.close();
    q.close();
    assert(q.closed);
    await assertRejects(() => s2, Deno.errors.BadResource);
    assertThrows(() => q.tryReceive(), Deno.errors.BadResource);
    assertThrows(() => q.trySend(bytes("x")), Deno.errors.BadResource);
    assertThrows(() => q.sendSync(bytes("x")), Deno.errors.BadResource);
    assertThrows(() => q.receiveSync(), Deno.errors.BadResource);
    assertThrows(() => q.attributes(), Deno.errors.BadResource);
    assertThrows(() => q.maxMessageSize, Deno.errors.BadResource);
    await assertRejects(() => q.receive(), Deno.errors.BadResource);
    await assertRejects(() => q.send(bytes("x")), Deno.errors.BadResource);
    // What was sent before close is still there for others.
    using other = MessageQueue.open(name);
    assertEquals(text(other.receiveSync({ timeout: 0 }).data), "z");
  } finally {
    unlinkQuietly(name);
  }
});

test("posix.MessageQueue: for await receives until the handle closes; a closed wait leaves the program free to exit", async () => {
  const name = qname("iter");
  using q = MessageQueue.create(name, { maxMessages: 4, maxMessageSize: 8 });
  try {
    setTimeout(() => {
      for (const b of [1, 2, 3]) q.sendSync(new Uint8Array([b]));
    }, 10);
    const got: number[] = [];
    for await (const m of q) {
      got.push(m.data[0]!);
      if (got.length === 3) break;
    }
    assertEquals(got, [1, 2, 3]);
    const child = await tempModule(`
      import { MessageQueue } from "@lib/posix/message_queue.ts";
      const q = MessageQueue.open(Deno.args[0]);
      const ac = new AbortController();
      q.receive({ signal: ac.signal }).catch(() => {});
      q.receive({ timeout: 20 }).catch(() => {});
      setTimeout(() => ac.abort(), 5);
      console.log("done");
    `);
    const t = performance.now();
    const r = await runDeno(child, [name]);
    assertOk(r, "child");
    // A wait left behind would keep it alive forever; any finite bound catches that.
    assert(performance.now() - t < PEER_TIMEOUT_MS / 2, "the child did not exit promptly");
  } finally {
    q.unlink();
  }
});

test("posix.MessageQueue: racing openOrCreate in 6 processes: exactly one handle says created", async () => {
  const name = qname("race");
  try {
    const child = await tempModule(`
        import { MessageQueue } from "@lib/posix/message_queue.ts";
        using q = MessageQueue.openOrCreate(Deno.args[0], { maxMessages: 2, maxMessageSize: 8 });
        console.log(q.created);
      `);
    const rs = await Promise.all(Array.from({ length: 6 }, () => runDeno(child, [name])));
    rs.forEach((r) => assertOk(r, "racer"));
    assertEquals(rs.filter((r) => r.stdout.trim() === "true").length, 1);
  } finally {
    unlinkQuietly(name);
  }
});

const C_MQ_PEER = `
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
int main(int argc, char **argv) {
  mqd_t in = mq_open(argv[1], O_RDONLY), out = mq_open(argv[2], O_WRONLY);
  if (in == (mqd_t)-1 || out == (mqd_t)-1) { perror("mq_open"); return 2; }
  struct mq_attr a; mq_getattr(in, &a);
  char buf[8192]; unsigned prio;
  struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); ts.tv_sec += 5;
  for (int i = 0; i < 3; i++) {
    ssize_t n = mq_timedreceive(in, buf, a.mq_msgsize, &prio, &ts);
    if (n < 0) { perror("mq_timedreceive"); return 3; }
    printf("%.*s %u\\n", (int)n, buf, prio);
  }
  const char *msgs[] = { "low", "high1", "high2" }; unsigned prios[] = { 2, 7, 7 };
  for (int i = 0; i < 3; i++) {
    if (mq_timedsend(out, msgs[i], strlen(msgs[i]), prios[i], &ts) < 0) { perror("mq_timedsend"); return 4; }
  }
  return 0;
}`;

Deno.test({
  name:
    "posix.MessageQueue: a C peer receives what Deno sent (priority order) and Deno receives what C sent",
  ignore: !hasCC,
  async fn() {
    const toC = qname("c-in");
    const fromC = qname("c-out");
    using a = MessageQueue.create(toC, { maxMessages: 5, maxMessageSize: 64 });
    using b = MessageQueue.create(fromC, { maxMessages: 5, maxMessageSize: 64 });
    try {
      const exe = await compileC(C_MQ_PEER, ["-lrt"]);
      a.sendSync(bytes("one"), { priority: 1 });
      await a.send(bytes("two"), { priority: 3 });
      a.trySend(bytes("three"), { priority: 1 });
      const r = await runExe(exe, [toC, fromC]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "two 3\none 1\nthree 1\n");
      const got = [];
      for (let i = 0; i < 3; i++) {
        const m = await b.receive({ timeout: 1000 });
        got.push([text(m.data), m.priority]);
      }
      assertEquals(got, [["high1", 7], ["high2", 7], ["low", 2]]);
    } finally {
      a.unlink();
      b.unlink();
    }
  },
});

// ---------------------------------------------------------------- System V

const sysvIds = new Set<number>();
function track(q: SysvQueue): SysvQueue {
  sysvIds.add(q.id);
  return q;
}
function removeQuietly(q: SysvQueue): void {
  try {
    q.remove();
  } catch { /* already gone */ }
}
let keyFile: string | undefined;
async function freshKey(): Promise<number> {
  keyFile ??= await Deno.makeTempFile({ prefix: "mq-key-" });
  for (let proj = 1 + Math.floor(Math.random() * 200);; proj++) {
    const key = ftok(keyFile, proj);
    try {
      SysvQueue.open(key);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return key;
    }
  }
}

test("sysv.MessageQueue: create/open/openOrCreate/private/fromId, created, stat, permissions, maxBytes, remove → NotFound", async () => {
  const key = await freshKey();
  const q = track(SysvQueue.create(key, { mode: 0o640, maxBytes: 4000 }));
  try {
    assertEquals(q.created, true);
    const dup = assertThrows(() => SysvQueue.create(key), Deno.errors.AlreadyExists);
    assertMatch(dup.message, /remove\(\)/);
    assertEquals((dup as Error & { syscall: string }).syscall, "msgget");
    const b = SysvQueue.open(key);
    assertEquals([b.id, b.created, b.key], [q.id, false, key]);
    assertEquals(SysvQueue.openOrCreate(key).created, false);
    assertEquals(SysvQueue.fromId(q.id).key, key);
    let st = q.stat();
    assertEquals([st.key, st.mode & 0o777, st.maxBytes, st.messages, st.bytes], [
      key,
      0o640,
      4000,
      0,
      0,
    ]);
    assertEquals([st.lastSend, st.lastReceive, st.lastSendPid], [null, null, 0]);
    b.sendSync(bytes("hello"), { type: 4 });
    st = q.stat();
    assertEquals([st.messages, st.bytes, st.lastSendPid], [1, 5, Deno.pid]);
    assert(st.lastSend !== null && Math.abs(st.lastSend.getTime() - Date.now()) < 5000);
    assertEquals(q.receiveSync({ timeout: 0 }), { data: bytes("hello"), type: 4 });
    // qemu-user's msgrcv leaves msg_lrpid 0 (a C program under the same qemu sees 0 too).
    if (!emulated) assertEquals(q.stat().lastReceivePid, Deno.pid);
    q.setPermissions({ mode: 0o600 });
    assertEquals(q.stat().mode & 0o777, 0o600);
    q.setMaxBytes(100);
    assertEquals(q.stat().maxBytes, 100);
    const over = assertThrows(() => q.setMaxBytes(1 << 30), Deno.errors.PermissionDenied);
    assertMatch(over.message, /msgmnb/);
    q.remove();
    assertThrows(() => q.stat(), Deno.errors.NotFound);
    assertThrows(() => q.trySend(bytes("x")), Deno.errors.NotFound);
    assertThrows(() => q.tryReceive(), Deno.errors.NotFound);
    assertThrows(() => SysvQueue.fromId(q.id), Deno.errors.NotFound);
    assertThrows(() => SysvQueue.open(key), Deno.errors.NotFound);
    const p = track(SysvQueue.private());
    assertEquals([p.key, p.created, p.stat().maxBytes > 0], [0, true, true]);
    p.remove();
  } finally {
    removeQuietly(q);
  }
});

test("sysv.MessageQueue: receive by type — 0 any in order, > 0 that type, < 0 lowest ≤ |type|, except, truncate, and a too-long message", () => {
  const q = track(SysvQueue.private());
  try {
    for (const [s, t] of [["a", 5], ["b", 2], ["c", 9], ["d", 2], ["e", 1]] as const) {
      q.sendSync(bytes(s), { type: t });
    }
    const r = (o: Parameters<SysvQueue["receiveSync"]>[0]) => {
      const m = q.receiveSync({ ...o, timeout: 0 });
      return `${text(m.data)}${m.type}`;
    };
    assertEquals(r({ type: 2 }), "b2");
    assertEquals(r({ type: -3 }), "e1"); // lowest type ≤ 3
    assertEquals(r({ type: 5, except: true }), "c9"); // first whose type is not 5
    assertEquals(r({ type: 0 }), "a5");
    assertThrows(() => q.receiveSync({ type: 7, timeout: 0 }), Deno.errors.TimedOut);
    assertEquals(q.tryReceive({ type: 7 }), undefined);
    q.sendSync(bytes("0123456789"), { type: 3 });
    assertThrows(() => q.tryReceive({ type: 3, maxSize: 4 }), RangeError, "E2BIG");
    assertEquals(q.tryReceive({ type: 3, maxSize: 4, truncate: true })?.data, bytes("0123"));
    assertEquals(r({}), "d2");
    assertEquals(q.stat().messages, 0);
    assertThrows(() => q.tryReceive({ type: 0, except: true }), RangeError);
    assertThrows(() => q.tryReceive({ type: 1.5 }), RangeError);
    assertThrows(() => q.trySend(bytes("x"), { type: 0 }), RangeError);
    assertThrows(() => q.trySend(bytes("x"), { type: -1 }), RangeError);
  } finally {
    q.remove();
  }
});

test("sysv.MessageQueue: types past 32 bits round-trip (mtype written and read as two words), and receive reuses its BigInts only for equal values", () => {
  const q = SysvQueue.private();
  try {
    for (const type of [1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 3, 2 ** 53 - 1]) {
      q.sendSync(bytes(`t${type}`), { type });
      const got = q.receiveSync({ type, timeout: 0 });
      assertEquals([got.type, text(got.data)], [type, `t${type}`]);
    }
    q.sendSync(bytes("a"), { type: 2 ** 33 });
    q.sendSync(bytes("b"), { type: 7 });
    assertEquals(q.receiveSync({ type: -10, timeout: 0 }).type, 7); // lowest type ≤ 10
    assertEquals(q.tryReceive({ type: 7 }), undefined);
    assertEquals(q.receiveSync({ timeout: 0 }).type, 2 ** 33);
  } finally {
    q.remove();
  }
});

test("sysv.MessageQueue: a message that can never fit is a RangeError up front; misspelled option names are TypeError", async () => {
  const q = track(SysvQueue.private({ maxBytes: 64 }));
  try {
    const e = assertThrows(() => q.sendSync(new Uint8Array(65)), RangeError);
    assertMatch(e.message, /never fit.*64/);
    await assertRejects(() => q.send(new Uint8Array(65)), RangeError, "never fit");
    assertThrows(() => q.trySend(new Uint8Array(9000)), RangeError, "msgmax");
    assertThrows(() => SysvQueue.private({ maxbytes: 10 } as never), TypeError, "maxBytes");
    assertThrows(() => q.sendSync(bytes("x"), { typ: 1 } as never), TypeError, "type");
    assertThrows(() => q.receiveSync({ exept: true } as never), TypeError, "except");
    assertThrows(() => q.tryReceive({ timeout: 1 } as never), TypeError);
    await assertRejects(() => q.receive({ truncat: true } as never), TypeError, "truncate");
    await assertRejects(() => q.send(bytes("x"), { signl: 1 } as never), TypeError, "signal");
    assertThrows(() => q.setPermissions({ mod: 1 } as never), TypeError, "mode");
    assertEquals(q.stat().messages, 0);
  } finally {
    q.remove();
  }
});

test("sysv.MessageQueue: full and empty queues time out (sync and async); timeout 0 tries once; a removed queue fails waiters with NotFound", async () => {
  const q = track(SysvQueue.private({ maxBytes: 8 }));
  try {
    assertThrows(() => q.receiveSync({ timeout: 0 }), Deno.errors.TimedOut);
    assertThrows(() => q.receiveSync({ timeout: 20 }), Deno.errors.TimedOut);
    await assertRejects(() => q.receive({ timeout: 0 }), Deno.errors.TimedOut);
    const t = performance.now();
    await assertRejects(() => q.receive({ timeout: 30 }), Deno.errors.TimedOut);
    assert(performance.now() - t >= 29);
    assertEquals(q.trySend(new Uint8Array(8)), true);
    assertEquals(q.trySend(new Uint8Array(1)), false);
    assertThrows(() => q.sendSync(new Uint8Array(1), { timeout: 0 }), Deno.errors.TimedOut);
    assertThrows(() => q.sendSync(new Uint8Array(1), { timeout: 20 }), Deno.errors.TimedOut);
    await assertRejects(() => q.send(new Uint8Array(1), { timeout: 20 }), Deno.errors.TimedOut);
    const ac = new AbortController();
    const aborted = q.send(new Uint8Array(1), { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("stop")), 10);
    await assertRejects(() => aborted, Error, "stop");
    assertEquals(q.stat().messages, 1); // nothing a timed-out or aborted send tried went in
    const waiting = q.send(new Uint8Array([5]), { type: 2, timeout: 60_000 });
    setTimeout(() => q.tryReceive(), 10);
    await waiting;
    assertEquals(q.receiveSync({ type: 2, timeout: 0 }).data, new Uint8Array([5]));
    const r = q.receive({ timeout: 60_000 });
    setTimeout(() => q.remove(), 10);
    await assertRejects(() => r, Deno.errors.NotFound);
  } finally {
    removeQuietly(q);
  }
});

test("sysv.MessageQueue: abandoned async receives (timeouts and aborts) take nothing: every message arrives once, in order", async () => {
  const q = track(SysvQueue.private());
  const N = 300;
  try {
    const child = await tempModule(`
      import { MessageQueue } from "@lib/sysv/message_queue.ts";
      const q = MessageQueue.fromId(Number(Deno.args[0]));
      const nap = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < ${N}; i++) {
        q.sendSync(new TextEncoder().encode(String(i)), { timeout: 60_000 });
        if (i % 7 === 0) Atomics.wait(nap, 0, 0, 1);
      }
    `);
    const run = runDeno(child, [String(q.id)]);
    const got: number[] = [];
    let abandoned = 0;
    while (got.length < N) {
      const ac = new AbortController();
      const p = q.receive({ signal: ac.signal, timeout: 1 + (got.length % 3) });
      if (got.length % 2 === 0) setTimeout(() => ac.abort(new Error("gave up")), 0);
      try {
        got.push(Number(text((await p).data)));
      } catch (e) {
        assert(e instanceof Deno.errors.TimedOut || (e as Error).message === "gave up", String(e));
        abandoned++;
        const m = q.tryReceive();
        if (m !== undefined) got.push(Number(text(m.data)));
      }
    }
    assertOk(await run, "sender");
    assertEquals(got, Array.from({ length: N }, (_, i) => i));
    assert(abandoned > 0, "no wait was abandoned: the test proved nothing");
    assertEquals(q.tryReceive(), undefined);
  } finally {
    q.remove();
  }
});

test("sysv.MessageQueue: Deno to Deno by key — typed request/reply with a child process; 100 concurrent async receives leave file I/O free", async () => {
  const key = await freshKey();
  const q = track(SysvQueue.create(key));
  try {
    const child = await tempModule(`
      import { MessageQueue } from "@lib/sysv/message_queue.ts";
      const q = MessageQueue.open(Number(Deno.args[0]));
      for (let i = 0; i < 100; i++) {
        const req = await q.receive({ type: 1, timeout: 60_000 });
        const n = Number(new TextDecoder().decode(req.data));
        await q.send(new TextEncoder().encode(String(n * 2)), { type: 2, timeout: 60_000 });
      }
    `);
    const run = runDeno(child, [String(key)]);
    for (let i = 0; i < 100; i++) {
      await q.send(bytes(String(i)), { type: 1, timeout: 60_000 });
      const m = await q.receive({ type: 2, timeout: 60_000 });
      assertEquals([text(m.data), m.type], [String(i * 2), 2]);
    }
    assertOk(await run, "server child");
    const waits = Array.from(
      { length: 100 },
      (_, i) => q.receive({ type: i + 10, timeout: 60_000 }),
    );
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, "io");
      assertEquals(await Deno.readTextFile(file), "io");
    } finally {
      await Deno.remove(file);
    }
    for (let i = 0; i < 100; i++) q.sendSync(new Uint8Array([i]), { type: i + 10 });
    assertEquals(
      (await Promise.all(waits)).map((m) => m.data[0]),
      Array.from({ length: 100 }, (_, i) => i),
    );
  } finally {
    q.remove();
  }
});

const C_MSG_PEER = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
struct m { long mtype; char text[256]; };
int main(int argc, char **argv) {
  int id = msgget((key_t)strtol(argv[1], 0, 0), 0);
  if (id < 0) { perror("msgget"); return 2; }
  struct m msg;
  for (int i = 0; i < 3; i++) {
    ssize_t n = msgrcv(id, &msg, sizeof msg.text, -10, 0);
    if (n < 0) { perror("msgrcv"); return 3; }
    printf("%ld %.*s\\n", msg.mtype, (int)n, msg.text);
  }
  const char *replies[] = { "seven", "eleven" }; long types[] = { 7, 11 };
  for (int i = 0; i < 2; i++) {
    msg.mtype = types[i]; strcpy(msg.text, replies[i]);
    if (msgsnd(id, &msg, strlen(replies[i]), 0) < 0) { perror("msgsnd"); return 4; }
  }
  return 0;
}`;

Deno.test({
  name:
    "sysv.MessageQueue: a C peer receives by type what Deno sent, and Deno receives by type what C sent",
  ignore: !hasCC,
  async fn() {
    const key = await freshKey();
    const q = track(SysvQueue.create(key));
    try {
      const exe = await compileC(C_MSG_PEER);
      q.sendSync(bytes("five"), { type: 5 });
      await q.send(bytes("three"), { type: 3 });
      q.trySend(bytes("nine"), { type: 9 });
      q.trySend(bytes("big"), { type: 50 }); // not ≤ 10: C leaves it
      const r = await runExe(exe, [String(key)]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "3 three\n5 five\n9 nine\n");
      assertEquals(text((await q.receive({ type: 11, timeout: 1000 })).data), "eleven");
      assertEquals(await q.receive({ timeout: 1000 }), { data: bytes("big"), type: 50 });
      assertEquals(q.receiveSync({ timeout: 0 }), { data: bytes("seven"), type: 7 });
    } finally {
      q.remove();
    }
  },
});

async function pythonWithSysvIpc(): Promise<string | undefined> {
  for (const py of ["/usr/bin/python3", "python3"]) {
    try {
      const out = await new Deno.Command(py, {
        args: ["-c", "import sysv_ipc"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.success) return py;
    } catch { /* not installed */ }
  }
  return undefined;
}
const python = await pythonWithSysvIpc();

Deno.test({
  name:
    "sysv.MessageQueue: Python sysv_ipc receives what Deno sent and replies with typed messages",
  ignore: python === undefined,
  async fn() {
    const key = await freshKey();
    const q = track(SysvQueue.create(key));
    try {
      q.sendSync(bytes("from deno"), { type: 3 });
      const script = [
        "import sys, sysv_ipc",
        "q = sysv_ipc.MessageQueue(int(sys.argv[1]))",
        "data, t = q.receive(type=3)",
        "print(t, data.decode())",
        "q.send(b'from python ' + data, type=8)",
        "q.send(b'urgent', type=1)",
      ].join("\n");
      const out = await new Deno.Command(python!, {
        args: ["-c", script, String(key)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, text(out.stderr));
      assertEquals(text(out.stdout), "3 from deno\n");
      assertEquals(await q.receive({ type: -5, timeout: 1000 }), {
        data: bytes("urgent"),
        type: 1,
      });
      assertEquals(q.receiveSync({ timeout: 0 }), {
        data: bytes("from python from deno"),
        type: 8,
      });
    } finally {
      q.remove();
    }
  },
});

const C_LAYOUT = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/msg.h>
#include <unistd.h>
#define K(n) printf("%s %ld\\n", #n, (long)(n))
int main(void) {
  K(sizeof(struct mq_attr)); K(offsetof(struct mq_attr, mq_maxmsg)); K(offsetof(struct mq_attr, mq_msgsize));
  K(offsetof(struct mq_attr, mq_curmsgs)); K(sizeof(struct pollfd));
  K(sizeof(struct msqid_ds)); K(offsetof(struct msqid_ds, msg_stime)); K(offsetof(struct msqid_ds, msg_rtime));
  K(offsetof(struct msqid_ds, msg_ctime)); K(offsetof(struct msqid_ds, __msg_cbytes));
  K(offsetof(struct msqid_ds, msg_qnum)); K(offsetof(struct msqid_ds, msg_qbytes));
  K(offsetof(struct msqid_ds, msg_lspid)); K(offsetof(struct msqid_ds, msg_lrpid));
  K(MSG_NOERROR); K(MSG_EXCEPT); K(O_NONBLOCK); K(POLLIN); K(POLLOUT); K(EFD_NONBLOCK); K(EFD_CLOEXEC);
  K(sysconf(_SC_MQ_PRIO_MAX)); K(sizeof(long));
  return 0;
}`;

Deno.test({
  name: "mq_attr, pollfd, msqid_ds and the message queue constants match the C headers",
  ignore: !hasCC,
  async fn() {
    const r = await runExe(await compileC(C_LAYOUT));
    assertEquals(r.code, 0, r.stderr);
    const c = new Map(
      r.stdout.trim().split("\n").map((l) => {
        const cut = l.lastIndexOf(" ");
        return [l.slice(0, cut), Number(l.slice(cut + 1))] as const;
      }),
    );
    const expect: [string, number][] = [
      ["sizeof(struct mq_attr)", MQ_ATTR_SIZE],
      ["offsetof(struct mq_attr, mq_maxmsg)", 8], // the offsets posix/message_queue.ts reads
      ["offsetof(struct mq_attr, mq_msgsize)", 16],
      ["offsetof(struct mq_attr, mq_curmsgs)", 24],
      ["sizeof(struct pollfd)", POLLFD_SIZE],
      ["sizeof(struct msqid_ds)", MSQID_DS.size],
      ["offsetof(struct msqid_ds, msg_stime)", MSQID_DS.stime],
      ["offsetof(struct msqid_ds, msg_rtime)", MSQID_DS.rtime],
      ["offsetof(struct msqid_ds, msg_ctime)", MSQID_DS.ctime],
      ["offsetof(struct msqid_ds, __msg_cbytes)", MSQID_DS.cbytes],
      ["offsetof(struct msqid_ds, msg_qnum)", MSQID_DS.qnum],
      ["offsetof(struct msqid_ds, msg_qbytes)", MSQID_DS.qbytes],
      ["offsetof(struct msqid_ds, msg_lspid)", MSQID_DS.lspid],
      ["offsetof(struct msqid_ds, msg_lrpid)", MSQID_DS.lrpid],
      ["MSG_NOERROR", MSG.NOERROR],
      ["MSG_EXCEPT", MSG.EXCEPT],
      ["O_NONBLOCK", MQ.NONBLOCK],
      ["POLLIN", MQ.POLLIN],
      ["POLLOUT", MQ.POLLOUT],
      ["EFD_NONBLOCK", MQ.EFD_NONBLOCK],
      ["EFD_CLOEXEC", MQ.EFD_CLOEXEC],
      ["sysconf(_SC_MQ_PRIO_MAX)", MQ_PRIO_MAX],
      ["sizeof(long)", MTYPE_SIZE],
    ];
    for (const [name, value] of expect) assertEquals(value, c.get(name), name);
  },
});

test("posix.listMessageQueues(): without an mqueue filesystem mounted it says so (mounted: false and how to mount) instead of an empty list", () => {
  const listing = listPosixQueues();
  if (listing.mounted) {
    assert(listing.mountPoint !== null);
    return; // this machine has one; the namespace test below covers the listing
  }
  assertEquals([listing.mountPoint, listing.queues], [null, []]);
  assertMatch(listing.hint ?? "", /mount -t mqueue none \/dev\/mqueue/);
});

async function canUnshareMount(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  try {
    const out = await new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", "d=$(mktemp -d) && mount -t mqueue none $d && umount $d; rmdir $d"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}
const unshareOk = await canUnshareMount();

Deno.test({
  name:
    "posix.listMessageQueues(): in a private mount namespace with mqueue mounted, a child lists its queue with the message count",
  ignore: !unshareOk,
  async fn() {
    const name = qname("listed");
    const dir = await Deno.makeTempDir();
    try {
      const child = await tempModule(`
        import { MessageQueue } from "@lib/posix/message_queue.ts";
        import { listMessageQueues } from "@lib/posix/list_message_queues.ts";
        using q = MessageQueue.create(Deno.args[0], { maxMessages: 4, maxMessageSize: 32, mode: 0o640 });
        q.sendSync(new Uint8Array(5));
        q.sendSync(new Uint8Array(7), { priority: 2 });
        const l = listMessageQueues();
        q.unlink();
        console.log(JSON.stringify({ ...l, queues: l.queues.filter((i) => i.name === Deno.args[0]) }));
      `);
      const out = await new Deno.Command("unshare", {
        args: [
          "-m",
          "sh",
          "-c",
          `mount -t mqueue none "$1" && exec "$2" run --quiet --allow-ffi "$3" "$4"`,
          "sh",
          dir,
          Deno.execPath(),
          child,
          name,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, text(out.stderr));
      const l = JSON.parse(text(out.stdout));
      assertEquals(l.mounted, true);
      assertEquals(l.mountPoint, dir);
      assertEquals(l.queues, [{
        name,
        messages: 2,
        maxMessages: 4,
        maxMessageSize: 32,
        bytes: 12,
        mode: 0o640,
        uid: Deno.uid(),
        gid: Deno.gid(),
      }]);
    } finally {
      unlinkQuietly(name);
      await Deno.remove(dir);
    }
  },
});

test("sysv.listMessageQueues() agrees with ipcs -q on ids, keys, perms, bytes and message counts", async () => {
  const q = track(SysvQueue.private({ mode: 0o604 }));
  const key = await freshKey();
  const k = track(SysvQueue.create(key));
  try {
    q.sendSync(new Uint8Array(10));
    q.sendSync(new Uint8Array(3), { type: 9 });
    k.sendSync(new Uint8Array(1));
    const listed = new Map(listSysvQueues().map((i) => [i.id, i]));
    assertEquals(
      [listed.get(q.id)?.messages, listed.get(q.id)?.bytes, listed.get(q.id)?.mode],
      [2, 13, 0o604],
    );
    assertEquals([listed.get(k.id)?.key, listed.get(k.id)?.messages], [key, 1]);
    assertEquals(listed.get(q.id)?.lastSendPid, Deno.pid);
    const out = text((await new Deno.Command("ipcs", { args: ["-q"] }).output()).stdout);
    for (const line of out.split("\n")) {
      const m = line.match(/^(0x[0-9a-f]+)\s+(\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/);
      if (!m) continue;
      const info = listed.get(Number(m[2]));
      if (info === undefined) continue; // created after our snapshot
      assertEquals(
        [info.key >>> 0, info.mode, info.bytes, info.messages],
        [Number(m[1]), parseInt(m[3]!, 8), Number(m[4]), Number(m[5])],
        line,
      );
    }
  } finally {
    q.remove();
    k.remove();
  }
});

async function runExample(file: string, args: string[]): Promise<string> {
  const path = new URL(`../examples/${file}`, import.meta.url).pathname;
  const r = await runDeno(path, args, { extraFlags: ["--allow-run", "--allow-read"] });
  assertOk(r, file);
  return r.stdout;
}

test("examples/mq_jobs.ts: one worker takes the most urgent jobs first; with two, every job is done once", async () => {
  const one = await runExample("mq_jobs.ts", ["30", "1"]);
  assertMatch(one, /30 of 30 jobs done once each, by 1 worker/);
  // The ten jobs queued before the worker started: job-5 (9) goes first, then job-1,
  // the oldest 8 (job-10, also 8, may be queued meanwhile, but after it).
  assertMatch(one, /first five done: job-5 9 \d+, job-1 8 \d+,/);
  assertMatch(await runExample("mq_jobs.ts", ["40", "2"]), /40 of 40 jobs done once each/);
});

test("examples/sysv_request_reply.ts: three clients share one queue and each gets only its own replies", async () => {
  const out = await runExample("sysv_request_reply.ts", ["3"]);
  assertEquals(out.match(/all mine and all right/g)?.length, 3, out);
  assertMatch(out, /answered 60 requests; 0 left/);
});

test("posix.MessageQueue: past /proc/sys/fs/mqueue/queues_max, ENOSPC says which limit and how to raise it", () => {
  const made: MessageQueue[] = [];
  let failure: (Error & { code?: string }) | undefined;
  try {
    for (let i = 0; i < 400 && failure === undefined; i++) {
      try {
        made.push(MessageQueue.create(qname("count"), { maxMessages: 1, maxMessageSize: 1 }));
      } catch (e) {
        failure = e as Error;
      }
    }
    assert(failure !== undefined, "400 queues fit: queues_max is not 256 here");
    assertEquals(failure.code, "ENOSPC", failure.message);
    assertMatch(failure.message, /queues_max \(\d+\).*sysctl fs.mqueue.queues_max/);
  } finally {
    for (const q of made) {
      q.unlink();
      q.close();
    }
  }
});

test("posix.MessageQueue: the tests leave no queue behind", () => {
  for (const name of names) {
    assertThrows(() => MessageQueue.open(name), Deno.errors.NotFound, undefined, name);
  }
});

test("sysv.MessageQueue: the tests leave ipcs -q as they found it", async () => {
  for (const id of sysvIds) assertThrows(() => SysvQueue.fromId(id), Deno.errors.NotFound);
  const out = text((await new Deno.Command("ipcs", { args: ["-q"] }).output()).stdout);
  for (const id of sysvIds) {
    assert(!new RegExp(`^0x[0-9a-f]+\\s+${id}\\s`, "m").test(out), `queue ${id} is in ipcs -q`);
  }
  if (keyFile !== undefined) await Deno.remove(keyFile);
});

test("sysv.MessageQueue: close() rejects pending async waits with BadResource, sends nothing, and leaves the queue to others", async () => {
  const q = track(SysvQueue.private({ maxBytes: 8 }));
  const other = SysvQueue.fromId(q.id);
  try {
    {
      using mine = SysvQueue.fromId(q.id);
      q.sendSync(bytes("12345678"));
      // The queue is full: this send must wait; the receive waits for a type nobody sends.
      const send = mine.send(bytes("x"));
      const receive = mine.receive({ type: 99 });
      mine.close();
      await assertRejects(() => send, Deno.errors.BadResource, "closed while waiting");
      await assertRejects(() => receive, Deno.errors.BadResource, "closed while waiting");
      assertEquals(mine.closed, true);
      assertThrows(() => mine.trySend(bytes("y")), Deno.errors.BadResource);
      assertThrows(() => mine.tryReceive(), Deno.errors.BadResource);
      assertThrows(() => mine.stat(), Deno.errors.BadResource);
      await assertRejects(() => mine.receive({ timeout: 10 }), Deno.errors.BadResource);
    } // using: a second close is a no-op
    // Nothing was sent by the abandoned send; the other handle still works.
    assertEquals(other.stat().messages, 1);
    assertEquals(text(other.receiveSync({ timeout: 0 }).data), "12345678");
    assertEquals(other.tryReceive(), undefined);
  } finally {
    q.remove();
    await settled();
  }
});
