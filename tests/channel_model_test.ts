/**
 * Model-based tests of the Channel (issue #14): fast-check generates random
 * sequences of trySend / tryReceive / end / close across three handles, and a
 * plain queue says what each call must return — FIFO for both topologies
 * (calls of one thread are ordered, so mpmc's exactly-once is FIFO here too),
 * `Busy` for a second spsc sender or receiver, the end of the stream once every
 * sender has ended. A kill variant hands one role to a child process and kills
 * it at a random step: what it sent is delivered once and in order, then the
 * stream reports its death; what it did not receive, the parent does.
 *
 * Seeds are fixed (override with `MODEL_SEED`) and printed.
 *
 * @module
 */

import fc from "fast-check";
import { assertEquals } from "@std/assert";
import { Channel } from "../channel/mod.ts";
import { assertNoLeftovers, test, uniqueName } from "./_helpers.ts";

const SEED = Number(Deno.env.get("MODEL_SEED") ?? 20261201);
const CAPACITY = 4;
const HANDLES = 3;

type Op =
  | { op: "send"; h: number; len: number }
  | { op: "sendMany"; h: number; n: number }
  | { op: "receive"; h: number }
  | { op: "receiveMany"; h: number; max: number }
  | { op: "end"; h: number }
  | { op: "close"; h: number };

const handle = fc.integer({ min: 0, max: HANDLES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant("send"),
      h: handle,
      len: fc.integer({ min: 0, max: 16 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("sendMany"),
      h: handle,
      n: fc.integer({ min: 0, max: 5 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant("receive"), h: handle }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constant("receiveMany"),
      h: handle,
      max: fc.integer({ min: 1, max: 5 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant("end"), h: handle }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("close"), h: handle }), weight: 1 },
) as fc.Arbitrary<Op>;

/** Message number `q`, `len` bytes long (at least 4, to carry q). */
function message(q: number, len: number): Uint8Array {
  const m = new Uint8Array(Math.max(4, len)).fill(q & 255);
  new DataView(m.buffer).setUint32(0, q, true);
  return m;
}

/** What one handle is, as the model sees it. */
interface HandleModel {
  sender: "no" | "active" | "ended";
  receiver: boolean;
  sawEnd: boolean;
}

const fresh = (): HandleModel => ({ sender: "no", receiver: false, sawEnd: false });

/** The outcome of a call, in one comparable word. */
function outcome(f: () => unknown): string {
  try {
    const r = f();
    if (r === undefined) return "undefined";
    if (r instanceof Uint8Array) {
      return `msg:${new DataView(r.buffer, r.byteOffset).getUint32(0, true)}:${r.length}`;
    }
    if (Array.isArray(r)) {
      return `msgs:${
        r.map((m) => new DataView(m.buffer, m.byteOffset).getUint32(0, true)).join(",")
      }`;
    }
    return String(r);
  } catch (e) {
    return `throws:${(e as Error).name}`;
  }
}

/** Outcomes seen, by kind: printed, so that a run that checks nothing shows it. */
let tally: Record<string, number> = {};

/** Runs `ops` against a real channel and the model; returns the first disagreement. */
function runModel(topology: "spsc" | "mpmc", ops: Op[]): string | undefined {
  const name = uniqueName("chmodel");
  const creator = Channel.create(name, { capacity: CAPACITY, maxMessageSize: 16, topology });
  const handles: Channel[] = [];
  const model: HandleModel[] = [];
  for (let h = 0; h < HANDLES; h++) handles.push(Channel.open(name)), model.push(fresh());
  const queue: { q: number; len: number }[] = [];
  let q = 0;
  let registered = 0;
  const spsc = topology === "spsc";
  const activeSender = (except: number) =>
    model.some((m, k) => k !== except && m.sender === "active");
  /** Registers h as a sender if it is not one yet; false when spsc refuses it. */
  const register = (h: number): boolean => {
    if (model[h]!.sender !== "no") return true;
    if (spsc && activeSender(h)) return false;
    model[h]!.sender = "active";
    registered++;
    return true;
  };
  const claim = (h: number): boolean => {
    if (!spsc || model[h]!.receiver) return true;
    if (model.some((m, k) => k !== h && m.receiver)) return false;
    model[h]!.receiver = true;
    return true;
  };
  /** The empty ring's answer: ended (once every sender ended) or nothing yet. */
  const empty = (h: number, none: string) => {
    const m = model[h]!;
    if (m.sawEnd || (registered > 0 && !model.some((x) => x.sender === "active"))) {
      m.sawEnd = true;
      return "throws:UnexpectedEof";
    }
    return none;
  };
  try {
    for (const [step, o] of ops.entries()) {
      const ch = handles[o.h]!;
      const m = model[o.h]!;
      let expected: string;
      let actual: string;
      switch (o.op) {
        case "send": {
          if (m.sender === "ended") continue; // a stream, once ended, stays ended
          const len = Math.max(4, o.len);
          actual = outcome(() => ch.trySend(message(q, len)));
          if (!register(o.h)) expected = "throws:Busy";
          else if (queue.length === CAPACITY) expected = "false";
          else expected = "true", queue.push({ q, len });
          if (actual === "true") q++;
          break;
        }
        case "sendMany": {
          if (m.sender === "ended") continue;
          const batch = Array.from({ length: o.n }, (_, k) => message(q + k, 4));
          actual = outcome(() => ch.trySendMany(batch));
          if (!register(o.h)) expected = "throws:Busy";
          else {
            const n = Math.min(o.n, CAPACITY - queue.length);
            for (let k = 0; k < n; k++) queue.push({ q: q + k, len: 4 });
            expected = String(n);
          }
          if (/^\d+$/.test(actual)) q += Number(actual);
          break;
        }
        case "receive": {
          actual = outcome(() => ch.tryReceive());
          if (!claim(o.h)) expected = "throws:Busy";
          else if (queue.length > 0) {
            const { q: first, len } = queue.shift()!;
            expected = `msg:${first}:${len}`;
          } else expected = empty(o.h, "undefined");
          break;
        }
        case "receiveMany": {
          actual = outcome(() => ch.tryReceiveMany(o.max));
          if (!claim(o.h)) expected = "throws:Busy";
          else if (queue.length > 0) {
            expected = `msgs:${queue.splice(0, o.max).map((x) => x.q).join(",")}`;
          } else expected = empty(o.h, "msgs:");
          break;
        }
        case "end": {
          actual = outcome(() => ch.end());
          if (!register(o.h)) expected = "throws:Busy";
          else expected = "undefined", m.sender = "ended";
          break;
        }
        case "close": {
          actual = outcome(() => ch.close());
          expected = "undefined";
          if (m.sender === "active") m.sender = "ended";
          // The closed handle's place goes to a new one; its sender entry stays, ended.
          const next = fresh();
          model[o.h] = next;
          if (m.sender !== "no") model.push({ ...m, receiver: false }); // remembered, not a handle
          handles[o.h] = Channel.open(name);
          break;
        }
      }
      const kind = actual.startsWith("throws:") ? actual : actual.split(":")[0]!;
      tally[kind] = (tally[kind] ?? 0) + 1;
      if (actual !== expected) {
        return `step ${step} ${JSON.stringify(o)}: expected ${expected}, got ${actual}`;
      }
    }
    return undefined;
  } finally {
    for (const ch of handles) ch.close();
    creator.close();
    Channel.unlink(name);
  }
}

for (const topology of ["spsc", "mpmc"] as const) {
  test(`Channel (${topology}) agrees with a queue model over random trySend/tryReceive/end/close sequences on 3 handles`, () => {
    const seed = SEED + (topology === "spsc" ? 0 : 1);
    console.log(`model seed ${seed} (replay: MODEL_SEED=${SEED})`);
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 40, size: "max" }), (ops) => {
        const disagreement = runModel(topology, ops);
        assertEquals(disagreement, undefined);
      }),
      { seed, numRuns: 300 },
    );
    console.log(`300 sequences, calls by outcome: ${JSON.stringify(tally)}`);
    tally = {};
    assertNoLeftovers();
  });
}

interface KillRun {
  /** The child's role; the parent takes the other. */
  child: "sender" | "receiver";
  /** Who acts at each step. */
  steps: ("child" | "parent")[];
  /** The step before which the child is killed. */
  killAt: number;
}

const killArb: fc.Arbitrary<KillRun> = fc.record({
  child: fc.constantFrom("sender" as const, "receiver" as const),
  steps: fc.array(fc.constantFrom("child" as const, "parent" as const), {
    minLength: 1,
    maxLength: 16,
  }),
  killAt: fc.nat({ max: 16 }),
});

/** Reads `child`'s stdout a line at a time. */
function lines(child: Deno.ChildProcess): () => Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  return async () => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the child's output ended: ${JSON.stringify(text)}`);
      text += value;
    }
    const at = text.indexOf("\n");
    const line = text.slice(0, at);
    text = text.slice(at + 1);
    return line;
  };
}

/** One kill run: returns the first disagreement with the model. */
async function runKill(topology: "spsc" | "mpmc", run: KillRun): Promise<string | undefined> {
  const name = uniqueName("chkill");
  const parent = Channel.create(name, { capacity: CAPACITY, maxMessageSize: 16, topology });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-ffi",
      new URL("./fixtures/channel_model_child.ts", import.meta.url).pathname,
      name,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const next = lines(child);
  const queue: { q: number; len: number }[] = [];
  let q = 0;
  let childRegistered = false;
  let killed = false;
  const kill = async () => {
    if (killed) return;
    killed = true;
    child.kill("SIGKILL");
    await child.status;
  };
  try {
    assertEquals(await next(), "ready");
    const killAt = Math.min(run.killAt, run.steps.length);
    for (const [step, who] of run.steps.entries()) {
      if (step === killAt) await kill();
      if (who === "child" && killed) continue;
      const sending = (who === "child") === (run.child === "sender");
      let actual: string;
      const len = 4 + (q % 12);
      if (who === "child") {
        await stdin.write(new TextEncoder().encode(sending ? `send ${q} ${len}\n` : "receive\n"));
        actual = await next();
      } else {
        actual = outcome(() => (sending ? parent.trySend(message(q, len)) : parent.tryReceive()));
      }
      let expected: string;
      if (sending) {
        if (who === "child") childRegistered = true;
        expected = queue.length === CAPACITY ? "false" : "true";
        if (expected === "true") queue.push({ q: q++, len });
      } else {
        const first = queue.shift();
        expected = first === undefined ? "undefined" : `msg:${first.q}:${first.len}`;
      }
      if (actual !== expected) return `step ${step} (${who}): expected ${expected}, got ${actual}`;
    }
    await kill();
    // What the dead child did not take, the parent does, once and in order; then the end.
    using rx = run.child === "receiver" ? Channel.open(name) : undefined;
    const receiver = rx ?? parent;
    if (run.child === "receiver") parent.end();
    for (const { q, len } of queue) {
      const got = outcome(() => receiver.receiveSync({ timeout: 1000 }));
      if (got !== `msg:${q}:${len}`) return `drain: expected msg:${q}:${len}, got ${got}`;
    }
    const end = outcome(() => receiver.receiveSync({ timeout: 300 }));
    // A killed sender never ended: its death is the stream's end. A child that never sent
    // was never a sender, and the stream has none yet.
    const expectedEnd = run.child === "receiver"
      ? "throws:UnexpectedEof"
      : childRegistered
      ? "throws:BrokenPipe"
      : "throws:TimedOut";
    if (end !== expectedEnd) return `end: expected ${expectedEnd}, got ${end}`;
    return undefined;
  } finally {
    await kill();
    await stdin.close().catch(() => {});
    await child.stdout.cancel().catch(() => {});
    parent.close();
    Channel.unlink(name);
  }
}

for (const topology of ["spsc", "mpmc"] as const) {
  test(`Channel (${topology}): a child process holding a handle, killed at a random step, loses and duplicates nothing`, async () => {
    const seed = SEED + (topology === "spsc" ? 2 : 3);
    const runs = fc.sample(killArb, { numRuns: 6, seed });
    console.log(`kill-model seed ${seed} (replay: MODEL_SEED=${SEED}), ${runs.length} runs`);
    for (const run of runs) {
      const disagreement = await runKill(topology, run);
      assertEquals(disagreement, undefined, JSON.stringify(run));
    }
    assertNoLeftovers();
  });
}
