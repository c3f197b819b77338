/**
 * Corrupted memory under a live Channel (issue #14): a corrupter process
 * overwrites one word at a time — each header field, the next slot's seq and
 * length, the waiting counts, the sender table — while a victim process sends
 * and receives checked messages through every API. Every case must end in
 * success with every message whole and exactly once, or in InvalidData,
 * BrokenPipe or TimedOut; a crash, a hang, an engine error or a wrong byte
 * fails the test. Both run as child processes, in one batch; a case that
 * kills or hangs the victim is counted and the rest run in a new batch.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { fromFileUrl } from "@std/path";
import { devShmEntries, uniqueName } from "./_helpers.ts";

const fixture = (f: string) => fromFileUrl(new URL(`./fixtures/${f}`, import.meta.url));
/** A victim that prints nothing for this long has hung. */
const QUIET_MS = 10_000;
const ALLOWED = new Set(["ok", "typed:InvalidData", "typed:BrokenPipe", "typed:TimedOut"]);

/** [field, op, value]: every word another process could scribble on, with values that matter. */
const CORRUPTIONS: [string, "set" | "add", number][] = [
  ["MAGIC", "set", 0x12345678],
  ["VERSION", "set", 999],
  ["TOPOLOGY", "set", 7],
  ["CAPACITY", "set", 1 << 20],
  ["CAPACITY", "set", 3],
  ["SLOT_BYTES", "set", 0],
  ["SLOT_BYTES", "set", -64],
  ["MAX_MESSAGE", "set", 1],
  ["MAX_MESSAGE", "set", 1 << 27],
  ["HEAD", "add", 3],
  ["HEAD", "add", -3],
  ["HEAD", "set", 0x7fffffff],
  ["TAIL", "add", 3],
  ["TAIL", "add", -3],
  ["TAIL", "set", -0x40000000],
  ["seq", "set", 0x5eed5eed],
  ["seq", "add", 1],
  ["seq", "add", 8],
  ["seq", "add", -8],
  ["len", "set", 5000],
  ["len", "set", -5],
  ["len", "set", -96],
  ["len", "set", 65],
  ["RECEIVERS_WAITING", "set", 0x7fffffff],
  ["RECEIVERS_WAITING", "set", -1],
  ["SENDERS_WAITING", "set", 0x7fffffff],
  ["senderPid", "set", 0x7fffffff],
  ["senderPid", "set", -1],
  ["senderPid", "set", 1], // init: alive, and not a sender
  ["senderState", "set", 9],
  ["RECEIVER_PID", "set", -1],
  ["RECEIVER_PID", "set", 0x7fffffff],
];

interface Case {
  name: string;
  topology: "mpmc" | "spsc";
  field: string;
  op: "set" | "add";
  value: number;
}

interface Result {
  i: number;
  outcome: string;
  reopen: string;
  messages: number;
}

function spawn(script: string, cases: unknown[]): Deno.ChildProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-ffi", "--allow-read", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  w.write(new TextEncoder().encode(JSON.stringify(cases))).then(() => w.close());
  return child;
}

/** Runs `cases` until the victim finishes, dies or goes quiet; returns the results it printed. */
async function runBatch(cases: Case[]): Promise<{ results: Result[]; how: string }> {
  const corrupter = spawn(fixture("channel_corrupter.ts"), cases);
  const victim = spawn(
    fixture("channel_victim.ts"),
    cases.map(({ name, topology }) => ({ name, topology })),
  );
  const results: Result[] = [];
  let hung = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      hung = true;
      victim.kill("SIGKILL");
    }, QUIET_MS);
  };
  quiet();
  const stderr = new Response(victim.stderr).text();
  let text = "";
  for await (const chunk of victim.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    const lines = text.split("\n");
    text = lines.pop()!;
    for (const line of lines) results.push(JSON.parse(line));
    quiet();
  }
  const status = await victim.status;
  clearTimeout(timer);
  try {
    corrupter.kill("SIGKILL");
  } catch { /* it has finished */ }
  await corrupter.output();
  const how = hung
    ? "hung"
    : `died (exit ${status.code}, signal ${status.signal}): ${await stderr}`;
  if (results.length === cases.length) await stderr;
  return { results, how };
}

Deno.test("Channel under a corrupter process: every overwritten word ends in correct data or InvalidData, BrokenPipe or TimedOut — no crash, hang or wrong byte", async () => {
  const cases: Case[] = [];
  for (const topology of ["spsc", "mpmc"] as const) {
    for (const [field, op, value] of CORRUPTIONS) {
      cases.push({ name: uniqueName("chcorrupt"), topology, field, op, value });
    }
  }
  const tally: Record<string, number> = {};
  const failures: string[] = [];
  try {
    for (let start = 0; start < cases.length;) {
      const batch = cases.slice(start);
      const { results, how } = await runBatch(batch);
      for (const r of results) {
        const c = batch[r.i]!;
        const what = `${c.topology} ${c.field} ${c.op} ${c.value}`;
        tally[r.outcome.split(":").slice(0, 2).join(":")] =
          (tally[r.outcome.split(":").slice(0, 2).join(":")] ?? 0) + 1;
        if (Deno.env.get("CORRUPTION_VERBOSE")) {
          console.log(what, "→", r.outcome, r.reopen, r.messages);
        }
        if (!ALLOWED.has(r.outcome)) failures.push(`${what} → ${r.outcome}`);
        if (r.reopen !== "ok" && r.reopen !== "typed:InvalidData") {
          failures.push(`${what} → reopen ${r.reopen}`);
        }
      }
      if (results.length < batch.length) {
        const c = batch[results.length]!;
        tally[how.split(" ")[0]!] = (tally[how.split(" ")[0]!] ?? 0) + 1;
        failures.push(`${c.topology} ${c.field} ${c.op} ${c.value} → ${how}`);
        start += results.length + 1;
      } else {
        start = cases.length;
      }
    }
  } finally {
    for (const c of cases) {
      try {
        Deno.removeSync(`/dev/shm${c.name}`);
      } catch { /* the victim removed it */ }
    }
  }
  console.log(`${cases.length} corruption cases:`, JSON.stringify(tally));
  assertEquals(failures, []);
  assertEquals(devShmEntries(`chcorrupt-${Deno.pid}-`), []);
});
