/**
 * Property-based hostile input: fast-check generates inputs for the public
 * entry points, a child process runs them in batches (so a crash or a hang is
 * a counted failure here, not the end of the test run), and every outcome
 * must be a success that keeps the entry point's promise or a typed refusal.
 *
 * Categories: POSIX names, sizes and modes, views, C strings, struct fields,
 * closed handles, unknown options, System V segments and semaphore sets (op
 * lists checked against the kernel's `semop` rules), struct layouts with
 * hostile field names, and FIFO/directory/socket/symlink/empty entries under
 * `/dev/shm`. C strings and `char` fields get NULs and lone surrogates, which
 * they must refuse with TypeError (a C string cannot hold the one, UTF-8 has
 * no form for the other), never store as something else.
 *
 * The seed is printed; replay a failure with `PROPERTY_SEED=<seed>`. Scale the
 * run with `PROPERTY_RUNS` (a multiplier; `deno task soak` uses 20). Every
 * System V object a child makes is reported the moment it exists, and must be
 * gone at the end.
 *
 * @module
 */

import fc from "fast-check";
import { assertEquals } from "@std/assert";
import { fromFileUrl } from "@std/path";
import { Segment } from "../sysv/segment.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { listSegments, listSemaphoreSets } from "../sysv/list.ts";
import { devShmEntries } from "./_helpers.ts";

const child = fromFileUrl(new URL("./fixtures/property_child.ts", import.meta.url));
const seed = Number(Deno.env.get("PROPERTY_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const scale = Number(Deno.env.get("PROPERTY_RUNS") ?? 1);
const BATCH = 500;
/** A batch that runs longer than this has hung. */
const BATCH_TIMEOUT_MS = 30_000;

interface Case {
  kind: string;
  args: Record<string, unknown>;
}

/** Numbers at and past every edge an entry point might mishandle. */
const edgy = fc.oneof(
  fc.integer({ min: -8, max: 8192 }),
  fc.constantFrom(-0, 0.5, 1.5, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53)),
  fc.constantFrom(NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE),
  fc.double(),
);
/** Mostly in range (so successes are checked too), sometimes at an edge. */
const offset = (max: number) =>
  fc.oneof(
    { arbitrary: fc.integer({ min: 0, max }), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: max / 8 }).map((n) => n * 8), weight: 2 },
    { arbitrary: edgy, weight: 2 },
  );
/** Anything a careless caller might pass where a number belongs. */
const anything = fc.oneof(
  edgy,
  fc.string({ maxLength: 4 }),
  fc.constantFrom(null, true, false, [], {}, "8", "0x10"),
);
// Valid Unicode for names (lone surrogates there are checkName's to refuse);
// C strings and char fields also get NULs and lone surrogates, which they refuse.
const text = fc.string({ unit: "grapheme", maxLength: 40 });
const hostileText = fc.oneof(
  { arbitrary: text, weight: 3 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 },
  { arbitrary: fc.constantFrom("a\0b", "\0", "\uD800", "x\uDFFFy", "\uDBFF\0"), weight: 1 },
);
/** Sizes for System V segments: small, or refused before any memory is reserved. */
const segSize = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 1 << 16 }), weight: 8 },
  edgy.filter((n) => !(Number.isSafeInteger(n) && n > 1 << 20)),
  anything,
);
const modeArb = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 0o777 }), weight: 8 }, anything);
/** Keys: the child remaps every valid key to one of its own, so only refusals keep theirs. */
const keyArb = fc.oneof(fc.integer({ min: 1, max: 2 ** 31 - 1 }), edgy, anything);
/** An operation the library must pass to the kernel (an index may still be past the set). */
const validOp = fc.record({
  index: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.integer({ min: 0, max: 3 })),
  delta: fc.oneof(
    { arbitrary: fc.integer({ min: -3, max: 3 }), weight: 8 },
    fc.constantFrom(32767, -32767),
  ),
  undo: fc.boolean(),
  noWait: fc.boolean(),
}, { requiredKeys: ["index", "delta"] });
/** An operation with any field possibly wrong. */
const hostileOp = fc.record({
  index: fc.oneof(fc.integer({ min: 0, max: 3 }), anything),
  delta: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(32768, -32768, 1.5), anything),
  undo: fc.oneof(fc.boolean(), anything),
  noWait: fc.oneof(fc.boolean(), anything),
  extra: anything,
}, { requiredKeys: [] });
/** Field names that collide with what an accessor or Object.prototype already has. */
const fieldName = fc.oneof(
  fc.constantFrom(
    "view",
    "offset",
    "constructor",
    "toString",
    "__proto__",
    "valueOf",
    "hasOwnProperty",
    "toJSON",
    "set",
    "length",
    "0",
    "",
  ),
  fc.string({ maxLength: 6 }),
);

const arbitraries: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  name: fc.record({
    name: fc.tuple(fc.constantFrom("", "/", "//", "/$TAG-", "/$TAG/", "/$TAG\0"), text)
      .map(([p, s]) => p + s),
  }),
  create: fc.record({
    size: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 1 << 16 }), weight: 2 }, anything),
    mode: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 0o777 }), weight: 2 }, anything),
  }),
  view: fc.record({
    size: fc.integer({ min: 1, max: 4096 }),
    ctor: fc.constantFrom(
      "Uint8Array",
      "Int16Array",
      "Int32Array",
      "Float64Array",
      "BigInt64Array",
      "DataView",
    ),
    offset: offset(4096),
    length: fc.option(offset(512), { nil: undefined }),
  }),
  cstring: fc.record({
    offset: offset(256),
    text: hostileText,
    max: fc.option(offset(256), { nil: undefined }),
  }),
  struct: fc.record({
    offset: offset(128),
    id: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    score: fc.double(),
    name: fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength: 15 }), hostileText),
  }),
  segment: fc.record({
    call: fc.constantFrom("private", "create", "openOrCreate", "fromId"),
    key: keyArb,
    size: segSize,
    mode: modeArb,
    options: fc.oneof({ arbitrary: fc.constant("size+mode"), weight: 8 }, anything),
    id: fc.oneof(fc.integer({ min: 0, max: 2 ** 31 - 1 }), anything),
    attach: fc.oneof(
      fc.constantFrom(undefined, {}, { readOnly: true }, { readOnly: false }),
      fc.constantFrom({ readOnly: 1 }, { readonly: true }, "ro", null, 5),
    ),
  }),
  semset: fc.record({
    call: fc.constantFrom("private", "create"),
    key: keyArb,
    count: fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 10 },
      fc.constantFrom(0, -1, 1.5, 65535, 65536, 32001),
      anything,
    ),
    value: fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 4 }), weight: 8 },
      fc.constantFrom(32766, 32767, 32768, -1, -32768, 0.5),
      anything,
    ),
    mode: modeArb,
    options: fc.oneof({ arbitrary: fc.constant("value+mode"), weight: 8 }, anything),
    sparse: fc.boolean(),
    async: fc.boolean(),
    ops: fc.oneof(
      { arbitrary: fc.array(validOp, { minLength: 1, maxLength: 4 }), weight: 8 },
      { arbitrary: fc.array(hostileOp, { minLength: 1, maxLength: 3 }), weight: 2 },
      fc.constantFrom([], null, "ops", [null], [5]),
    ),
    timeout: fc.oneof(
      {
        arbitrary: fc.constantFrom(
          undefined,
          0,
          1,
          2,
          5,
          1e22,
          Infinity,
          2 ** 53,
          Number.MAX_VALUE,
        ),
        weight: 6,
      },
      fc.constantFrom(-1, NaN, "5", null, -Infinity),
    ),
  }),
  layout: fc.integer({ min: 1, max: 5 }).chain((n) =>
    fc.record({
      names: fc.uniqueArray(fieldName, { minLength: n, maxLength: n }),
      types: fc.array(
        fc.constantFrom(
          "i8",
          "u8",
          "i16",
          "u16",
          "i32",
          "u32",
          "i64",
          "u64",
          "f64",
          "bool",
          "char6",
        ),
        { minLength: n, maxLength: n },
      ),
      seeds: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), {
        minLength: n,
        maxLength: n,
      }),
    })
  ),
  devshm: fc.record({
    entry: fc.constantFrom(
      "fifo",
      "dir",
      "empty",
      "symlink",
      "socket",
      "file1",
      "file64",
      "file4096",
    ),
    call: fc.constantFrom("open", "readOnly", "openOrCreate"),
  }),
  closed: fc.record({
    call: fc.constantFrom(
      "bytes",
      "view",
      "dataView",
      "readCString",
      "writeCString",
      "struct",
      "resize",
      "field",
    ),
    offset: edgy,
  }),
  options: fc.record({
    call: fc.constantFrom("create", "openOrCreate", "open"),
    key: fc.oneof(
      fc.constantFrom("readonly", "read_only", "permissions", "Size", "modes", "perm", "flags"),
      fc.string({ minLength: 1, maxLength: 12 }),
    ).filter((k) => !["size", "mode", "readOnly", "__proto__"].includes(k)),
    value: anything,
  }),
};

/** Inputs per kind in one ordinary run (the README's test command). */
const COUNTS: Record<string, number> = {
  name: 1200,
  create: 800,
  view: 2000,
  cstring: 1500,
  struct: 1000,
  closed: 600,
  options: 800,
  segment: 1000,
  semset: 1500,
  layout: 1500,
  devshm: 400,
};

function encode(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return { $n: String(value) };
  if (Object.is(value, -0)) return { $n: "-0" };
  return value;
}

interface BatchResult {
  pid: number;
  made: { segment: number[]; set: number[] };
  outcomes: string[];
  code: number;
  signal: Deno.Signal | null;
  hung: boolean;
  stderr: string;
}

async function runBatch(cases: Case[]): Promise<BatchResult> {
  const proc = new Deno.Command(Deno.execPath(), {
    // -A: the child checks modes with Deno.statSync, which needs it for /dev/shm.
    args: ["run", "-A", child],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = proc.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(cases, encode)));
  await writer.close();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    proc.kill("SIGKILL");
  }, BATCH_TIMEOUT_MS);
  const out = await proc.output();
  clearTimeout(timer);
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { outcome?: string; made?: "segment" | "set"; id?: number });
  const made = { segment: [] as number[], set: [] as number[] };
  for (const l of lines) if (l.made !== undefined) made[l.made].push(l.id!);
  const outcomes = lines.flatMap((l) => (l.outcome === undefined ? [] : [l.outcome]));
  return {
    pid: proc.pid,
    made,
    outcomes,
    code: out.code,
    signal: out.signal,
    hung,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name: "hostile inputs to SharedMemory, views, C strings, structs, closed handles, options, " +
    "System V segments and semaphore sets, struct layouts and /dev/shm entries give a kept " +
    "promise or a typed error: no crash, no hang, no engine error, no silent lie",
  // The children run the cases; this process only generates them and waits.
  sanitizeOps: true,
  async fn() {
    console.log(`property seed ${seed} (replay: PROPERTY_SEED=${seed}), scale ${scale}`);
    const cases: Case[] = [];
    for (const [kind, count] of Object.entries(COUNTS)) {
      const samples = fc.sample(arbitraries[kind]!, {
        numRuns: Math.round(count * scale),
        seed: seed + kind.length,
      });
      for (const args of samples) cases.push({ kind, args });
    }
    const failures: string[] = [];
    const tally: Record<string, Record<string, number>> = {};
    const pids: number[] = [];
    const made = { segment: new Set<number>(), set: new Set<number>() };
    const t0 = performance.now();
    for (let start = 0; start < cases.length; start += BATCH) {
      const batch = cases.slice(start, start + BATCH);
      const r = await runBatch(batch);
      pids.push(r.pid);
      r.made.segment.forEach((id) => made.segment.add(id));
      r.made.set.forEach((id) => made.set.add(id));
      r.outcomes.forEach((outcome, i) => {
        const { kind, args } = batch[i]!;
        const counts = tally[kind] ??= {};
        const bucket = outcome.split(":").slice(0, 2).join(":");
        counts[bucket] = (counts[bucket] ?? 0) + 1;
        if (!outcome.startsWith("ok") && !outcome.startsWith("typed:")) {
          failures.push(`${kind} ${JSON.stringify(args, encode)} → ${outcome}`);
        }
      });
      if (r.outcomes.length < batch.length) {
        const at = batch[r.outcomes.length]!;
        const how = r.hung ? "hung" : `died (exit ${r.code}, signal ${r.signal})`;
        failures.push(`${at.kind} ${JSON.stringify(at.args, encode)} → ${how}\n${r.stderr}`);
        // Go on after the case that broke the batch.
        start -= BATCH - r.outcomes.length - 1;
      } else if (r.code !== 0) {
        failures.push(`batch at ${start} exited ${r.code}: ${r.stderr}`);
      }
    }
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`${cases.length} inputs in ${seconds} s, ${pids.length} children`);
    for (const [kind, counts] of Object.entries(tally)) {
      const n = Object.values(counts).reduce((a, b) => a + b, 0);
      console.log(`  ${kind.padEnd(8)} ${String(n).padStart(6)} ${JSON.stringify(counts)}`);
    }
    console.log(`  System V objects made: ${made.segment.size} segments, ${made.set.size} sets`);
    // Only this run's children: sibling runs share /dev/shm and the System V namespace.
    const leftFiles = pids.flatMap((pid) => devShmEntries(`t-prop-${pid}-`));
    const leftSegments = listSegments().filter((s) => made.segment.has(s.id)).map((s) => s.id);
    const leftSets = listSemaphoreSets().filter((s) => made.set.has(s.id)).map((s) => s.id);
    // A child that died mid-case cannot clean up: do it here, then report it.
    for (const id of leftSegments) Segment.fromId(id).remove();
    for (const id of leftSets) SemaphoreSet.fromId(id).remove();
    for (const f of leftFiles) Deno.removeSync(`/dev/shm/${f}`, { recursive: true });
    assertEquals(failures, [], `seed ${seed}: ${failures.length} failures`);
    assertEquals(leftFiles, [], "objects left behind in /dev/shm");
    assertEquals([leftSegments, leftSets], [[], []], "System V segments/sets left behind");
  },
});
