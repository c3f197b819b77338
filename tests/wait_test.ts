// The library's one waiting strategy (memory/_wait.ts), checked without a
// clock where its decisions do not need one: what a plan allows, how the
// budget learns, and how naps back off. Its effect on speed is measured by
// bench/load.ts and bench/cpu.ts, not here.
import { assert, assertEquals } from "@std/assert";
import {
  forceOversubscribed,
  LEARN_EVERY,
  LEARN_EVERY_MAX,
  MAX_HOLD_US,
  MAX_SPIN_US,
  NAP_MAX_MS,
  NAP_QUICK_US,
  oversubscribed,
  spin,
  Spinner,
  WORKING_PEER_SPIN_US,
} from "../memory/_wait.ts";

/** Runs `fn` with the machine taken as oversubscribed (`busy`) or quiet, whatever the load. */
function onMachine(busy: boolean, fn: () => void): void {
  forceOversubscribed(busy);
  try {
    fn();
  } finally {
    forceOversubscribed(undefined);
  }
}

/** A wait that took a second: long past any spin. */
const longAgo = () => performance.now() - 1000;

/** Feeds `spinners` stalls (waits answered long after their spin) until their budgets are gone. */
function exhaust(...spinners: Spinner[]): void {
  const t0 = longAgo();
  for (let i = 0; i < 20; i++) for (const s of spinners) s.done(t0, true);
}

Deno.test("Spinner.plan: an explicit spin is honoured, but an async one never holds the event loop past MAX_HOLD_US", () => {
  const s = new Spinner();
  assertEquals(s.plan(undefined, 10_000, false).spinUs, 10_000);
  assertEquals(s.plan(undefined, 10_000, true).spinUs, MAX_HOLD_US);
  assertEquals(s.plan(undefined, 0, true).spinUs, 0);
  assertEquals(s.plan(undefined, 10_000, true).learn, false);
});

Deno.test("Spinner.plan: no spin outlasts its timeout, and timeout 0 never spins or naps", () => {
  const s = new Spinner();
  assertEquals(s.plan(1, 10_000, false).spinUs, 1000);
  assertEquals(s.plan(0.01, 10_000, false).spinUs, 10);
  const zero = s.plan(0, 10_000, true);
  assertEquals([zero.spinUs, zero.napMs], [0, 0]);
});

Deno.test("Spinner.plan: on a quiet machine the default spin is capped at a wake-up's cost (sync) and MAX_HOLD_US (async), and there is no nap", () => {
  onMachine(false, () => {
    const s = new Spinner();
    s.done(performance.now(), true); // answered at once after sleeping: grow the budget
    const sync = s.plan(undefined, undefined, false);
    const async = s.plan(undefined, undefined, true);
    assert(sync.spinUs > 0 && sync.spinUs <= MAX_SPIN_US);
    assert(async.spinUs > 0 && async.spinUs <= MAX_HOLD_US);
    assertEquals([sync.napMs, async.napMs, async.learn], [0, 0, true]);
  });
});

Deno.test("Spinner.plan: on an oversubscribed machine nothing spins; a sync wait sleeps at once, an async one naps up to NAP_MAX_MS", () => {
  onMachine(true, () => {
    const s = new Spinner();
    const sync = s.plan(undefined, undefined, false);
    assertEquals([sync.spinUs, sync.napMs, sync.learn], [0, 0, false]);
    const async = s.plan(undefined, undefined, true);
    assertEquals([async.spinUs, async.napMs], [0, NAP_MAX_MS]);
    assertEquals(s.plan(1, undefined, true).napMs, 1, "a nap never outlasts the timeout");
  });
});

Deno.test("Spinner.done: waits answered long after their spin shrink the budget to none; one answered soon after sleeping grows it; caught spins grow it back slowly", () => {
  const s = new Spinner();
  const start = s.budgetUs;
  assert(start > 0);
  exhaust(s);
  assertEquals(s.budgetUs, 0);
  s.done(performance.now(), true); // answered at once after sleeping: a spin would have caught it
  assert(s.budgetUs > 0 && s.budgetUs <= MAX_SPIN_US);
  const before = s.budgetUs;
  s.done(longAgo(), false); // the spin caught it: a microsecond more
  assertEquals(s.budgetUs, Math.min(MAX_SPIN_US, before + 1));
  for (let i = 0; i < 2 * MAX_SPIN_US; i++) s.done(longAgo(), false);
  assertEquals(s.budgetUs, MAX_SPIN_US, "never past a wake-up's cost");
});

Deno.test("Spinner.napped: slow naps turn napping off for 1, 2, 4 … waits; a quick one turns it back on", () => {
  onMachine(true, () => {
    const s = new Spinner();
    const naps = () => s.plan(undefined, undefined, true).napMs > 0;
    assert(naps());
    s.napped(NAP_QUICK_US * 10, true); // answered, but slowly: skip the next wait
    assertEquals([naps(), naps()], [false, true]);
    s.napped(Infinity, false); // not answered: skip the next two
    assertEquals([naps(), naps(), naps()], [false, false, true]);
    s.napped(Infinity, false); // and four
    assertEquals([naps(), naps(), naps(), naps(), naps()], [false, false, false, false, true]);
    s.napped(1, true); // quick: the back-off starts over
    s.napped(Infinity, false);
    assertEquals([naps(), naps()], [false, true]);
  });
});

Deno.test("spin(): stops at the first success, and never runs past a deadline already gone", () => {
  let calls = 0;
  assertEquals(spin(() => ++calls === 3, 1_000_000), true);
  assertEquals(calls, 3);
  calls = 0;
  // A deadline in the past: one round of tries, then it gives up (a spin is a cheaper sleep,
  // not a longer wait).
  assertEquals(spin(() => (calls++, false), 1_000_000, performance.now() - 1, 16), false);
  assertEquals(calls, 16);
  assertEquals(spin(() => true, 0), false, "a zero budget tries nothing");
});

Deno.test("oversubscribed(): answers from /proc/loadavg without throwing, sampled at most every few ms", () => {
  const now = performance.now();
  const a = oversubscribed(now);
  assertEquals(typeof a, "boolean");
  // Within the sampling interval the answer is the cached one.
  assertEquals(oversubscribed(now + 0.5), a);
});

Deno.test("Spinner.plan: with no budget left one wait in LEARN_EVERY is timed, fewer (down to one in LEARN_EVERY_MAX) while those find the peer slow, and a quick answer brings the spin back", () => {
  onMachine(false, () => {
    const s = new Spinner();
    while (s.budgetUs > 0) s.done(longAgo(), true);
    const plan = () => s.plan(undefined, undefined, false);
    /** Gaps between the next `n + 1` timed waits, each told `done` by `report`. */
    const gaps = (n: number, report: () => void) => {
      const found: number[] = [];
      for (let i = 0, last = -1; found.length < n; i++) {
        const p = plan();
        assertEquals(p.spinUs, 0);
        if (!p.learn) continue;
        if (last >= 0) found.push(i - last);
        last = i;
        report();
      }
      return found;
    };
    const slow = () => s.done(longAgo(), true);
    assertEquals(
      gaps(6, slow),
      Array.from({ length: 6 }, (_, k) => Math.min(LEARN_EVERY_MAX, LEARN_EVERY * 2 ** k)),
    );
    // A timed wait answered at once after sleeping brings the spin back, and then every wait learns.
    s.done(performance.now(), true);
    assert(s.budgetUs > 0);
    assertEquals(plan().learn, true);
    // Stalls take the budget again; the gap starts over at LEARN_EVERY.
    while (s.budgetUs > 0) s.done(longAgo(), true);
    assertEquals(gaps(2, () => {}), [LEARN_EVERY, LEARN_EVERY]);
  });
});

Deno.test("Spinner.quiet: the untimed waits up to the next timed one are quiet, and none while there is a budget to spin", () => {
  onMachine(false, () => {
    const s = new Spinner();
    assertEquals(s.quiet(), false, "a budget to spin: every wait plans");
    while (s.budgetUs > 0) s.done(longAgo(), true);
    assertEquals(s.plan(undefined, undefined, false).learn, true); // the timed one
    const quiet = Array.from({ length: LEARN_EVERY }, () => s.quiet());
    assertEquals(quiet.filter(Boolean).length, LEARN_EVERY - 1);
    assertEquals(quiet[LEARN_EVERY - 1], false, "the next timed one is not quiet");
    // It plans, and is timed.
    assertEquals(s.plan(undefined, undefined, false).learn, true);
    assertEquals(new Spinner(WORKING_PEER_SPIN_US).quiet(), false, "a working peer always spins");
  });
});

Deno.test("Spinner: a wait whose peer is at work keeps its least spin after stalls, but not on an oversubscribed machine", () => {
  onMachine(false, () => {
    const working = new Spinner(WORKING_PEER_SPIN_US);
    const plain = new Spinner();
    exhaust(working, plain); // stalls behind a descheduled peer
    assertEquals([working.budgetUs, plain.budgetUs], [0, 0]);
    const w = working.plan(undefined, undefined, true);
    assertEquals([w.spinUs, w.learn], [WORKING_PEER_SPIN_US, true]);
    assertEquals(plain.plan(undefined, undefined, true).spinUs, 0);
    assertEquals(working.plan(0.005, undefined, false).spinUs, 5, "never past the timeout");
  });
  onMachine(true, () => {
    assertEquals(new Spinner(WORKING_PEER_SPIN_US).plan(undefined, undefined, false).spinUs, 0);
  });
});

Deno.test("Spinner.nap: runs the nap and learns from it; an unanswered nap backs napping off", () => {
  onMachine(true, () => {
    const s = new Spinner();
    const naps = () => s.plan(undefined, undefined, true).napMs > 0;
    let slept = 0;
    assertEquals(s.nap(() => (slept++, false)), false);
    assertEquals(slept, 1);
    assertEquals([naps(), naps()], [false, true], "one wait skips napping after an unanswered nap");
    assertEquals(s.nap(() => true), true);
    assertEquals(naps(), true);
  });
});
