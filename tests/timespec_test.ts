// ffi/timespec.ts: deadlines on CLOCK_MONOTONIC, built without BigInt when they fit.
import { assert, assertEquals } from "@std/assert";
import { deadlineIn, monotonicNs } from "../ffi/timespec.ts";

/** A timespec's value in ns. */
function nsOf(ts: Uint8Array): bigint {
  const v = new BigInt64Array(ts.buffer, ts.byteOffset, 2);
  assert(v[1]! >= 0n && v[1]! < 1_000_000_000n, `tv_nsec ${v[1]} out of range`);
  return v[0]! * 1_000_000_000n + v[1]!;
}

Deno.test("deadlineIn: now + ms on the monotonic clock, normalised, for short and long deadlines and past the 31-bit seconds", () => {
  for (const ms of [0, 0.5, 1, 999.9999, 1500, 50, 86_400_000, 1e13]) {
    const before = monotonicNs();
    const ts = deadlineIn(ms);
    const after = monotonicNs();
    const want = BigInt(Math.round(ms * 1e6));
    const got = nsOf(ts);
    assert(
      got >= before + want && got <= after + want,
      `deadlineIn(${ms}) is ${got - before} ns ahead`,
    );
  }
  // A negative length is now.
  const before = monotonicNs();
  assert(nsOf(deadlineIn(-5)) >= before);
});

Deno.test("deadlineIn: writes only its 16 bytes of the buffer it is given", () => {
  const whole = new Uint8Array(48).fill(0xee);
  const into = whole.subarray(16, 32);
  assertEquals(deadlineIn(10, into), into);
  assert(nsOf(into) > 0n);
  assertEquals([...whole.subarray(0, 16), ...whole.subarray(32)], new Array(32).fill(0xee));
});
