/**
 * Property-based hostile input: fast-check generates inputs for the public
 * entry points, a child process runs them in batches (so a crash or a hang is
 * a counted failure here, not the end of the test run), and every outcome
 * must be a success that keeps the entry point's promise or a typed refusal.
 *
 * The seed is printed; replay a failure with `PROPERTY_SEED=<seed>`. Scale the
 * run with `PROPERTY_RUNS` (a multiplier; `deno task soak` uses 20).
 *
 * @module
 */

import fc from "fast-check";
import { assertEquals } from "@std/assert";
import { fromFileUrl } from "@std/path";
import { devShmEntries } from "./_helpers.ts";

const child = fromFileUrl(new URL("./fixtures/property_child.ts", import.meta.url));
const seed = Number(Deno.env.get("PROPERTY_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const scale = Number(Deno.env.get("PROPERTY_RUNS") ?? 1);
const BATCH = 250;
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
// Valid Unicode only: lone surrogates are a known open defect (issue #14, item 15).
const text = fc.string({ unit: "grapheme", maxLength: 40 });

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
    // Embedded NUL is a known open defect (issue #14, item 13).
    text: text.filter((s) => !s.includes("\0")),
    max: fc.option(offset(256), { nil: undefined }),
  }),
  struct: fc.record({
    offset: offset(128),
    id: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    score: fc.double(),
    name: fc.string({ unit: "grapheme-ascii", maxLength: 15 }).filter((s) => !s.includes("\0")),
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
  name: 1500,
  create: 1000,
  view: 2500,
  cstring: 1500,
  struct: 1000,
  closed: 800,
  options: 1000,
};

function encode(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return { $n: String(value) };
  if (Object.is(value, -0)) return { $n: "-0" };
  return value;
}

interface BatchResult {
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
  const outcomes = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as { outcome: string }).outcome);
  return {
    outcomes,
    code: out.code,
    signal: out.signal,
    hung,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name: "hostile inputs to SharedMemory, views, C strings, structs, closed handles and options " +
    "give a kept promise or a typed error: no crash, no hang, no engine error, no silent lie",
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
    for (let start = 0; start < cases.length; start += BATCH) {
      const batch = cases.slice(start, start + BATCH);
      const r = await runBatch(batch);
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
    console.log(`${cases.length} inputs`, JSON.stringify(tally));
    assertEquals(failures, [], `seed ${seed}: ${failures.length} failures`);
    assertEquals(devShmEntries("t-prop-"), [], "objects left behind in /dev/shm");
  },
});
