/**
 * Placing a primitive (mutex, lock, semaphore) inside shared memory so that
 * any number of processes may race to do it: one 32-bit state word per object.
 *
 *   0            never placed
 *   -pid         being initialised by process `pid` (1 ≤ pid ≤ 2^22; magics are positive)
 *   magic        ready: initialised, of the kind that magic names
 *   anything else  not this kind of object → InvalidData
 *
 * The claim is one compare-exchange 0 → -pid, so exactly one process
 * initialises; the others wait for the magic. A claimant that dies before
 * storing it would block everyone forever, so a waiter that sees the claim of a
 * dead pid takes the claim over (another compare-exchange) and initialises.
 *
 * @module
 */

import { isAlive } from "./_liveness.ts";
import type { MappedRegion } from "./region.ts";

/** How a handle wants to be placed. */
export type PlaceHow = "init" | "attach" | "initOrAttach";

/** What is being placed, for error messages and the ready value. */
export interface PlaceKind {
  /** Public class name: "Mutex", "RwLock", "Semaphore". */
  kind: string;
  /** The state word's ready value; positive. */
  magic: number;
  /** Where, for messages: "byte 0 of /name". */
  where: string;
}

/** How long `attach` waits for an initialisation in progress (a named create in another process). */
export const ATTACH_WAIT_MS = 500;
/** How long anyone waits for a live initialiser before giving up with TimedOut. */
export const INIT_WAIT_MS = 5_000;

const pid = Deno.pid;
/** Linux's PID_MAX_LIMIT: a claim word below -PID_MAX_LIMIT is garbage, not a pid. */
const PID_MAX_LIMIT = 2 ** 22;
const nap = new Int32Array(new SharedArrayBuffer(4));

/** "byte 8 of /name" or "byte 8 of this mapping", for messages. */
export function placeWhere(region: MappedRegion, byteOffset: number): string {
  const name = (region as { name?: unknown }).name;
  return `byte ${byteOffset} of ${typeof name === "string" ? name : "this mapping"}`;
}

/**
 * Runs the placement protocol on `state[index]`: `initialise` runs only in the
 * one handle that claims the word. Returns true when this call initialised.
 *
 * @throws {Deno.errors.AlreadyExists} `init` over an object that is ready or being initialised
 * @throws {Deno.errors.InvalidData} `attach` where nothing was placed, or any
 *   call over a word that is not this kind's
 * @throws {Deno.errors.TimedOut} an initialiser that stays alive and unfinished for seconds
 */
export function place(
  state: Int32Array,
  index: number,
  how: PlaceHow,
  what: PlaceKind,
  initialise: () => void,
): boolean {
  const { kind, magic, where } = what;
  const start = performance.now();
  for (;;) {
    const v = Atomics.load(state, index);
    if (v === magic) {
      if (how === "init") throw alreadyThere(what, "already initialised");
      return false;
    }
    if (v === 0) {
      if (how === "attach") {
        if (performance.now() - start > ATTACH_WAIT_MS) {
          throw new Deno.errors.InvalidData(
            `No ${kind} is initialised at ${where}; use ${kind}.init() or ${kind}.initOrAttach()`,
          );
        }
      } else if (Atomics.compareExchange(state, index, 0, -pid) === 0) {
        return claimed(state, index, magic, initialise);
      } else continue;
    } else if (v < 0 && -v <= PID_MAX_LIMIT) {
      const owner = -v;
      if (owner !== pid && !isAlive(owner)) {
        if (how === "attach") {
          throw new Deno.errors.InvalidData(
            `No ${kind} is initialised at ${where}: process ${owner} died initialising it; ` +
              `use ${kind}.initOrAttach()`,
          );
        }
        if (Atomics.compareExchange(state, index, v, -pid) === v) {
          return claimed(state, index, magic, initialise);
        }
        continue;
      }
      if (how === "init") throw alreadyThere(what, `being initialised by process ${owner}`);
      if (performance.now() - start > INIT_WAIT_MS) {
        throw new Deno.errors.TimedOut(
          `Timed out after ${INIT_WAIT_MS} ms waiting for process ${owner} to finish ` +
            `initialising the ${kind} at ${where}`,
        );
      }
    } else {
      throw new Deno.errors.InvalidData(
        `The memory at ${where} does not hold a ${kind} (state word 0x${
          (v >>> 0).toString(16)
        }); it holds something else or was overwritten`,
      );
    }
    // Initialisation takes microseconds; a short sleep keeps waiters off the CPU it needs.
    Atomics.wait(nap, 0, 0, 1);
  }
}

/** Marks `state[index]` never placed again (after a destroy). */
export function unplace(state: Int32Array, index: number): void {
  Atomics.store(state, index, 0);
}

function claimed(state: Int32Array, index: number, magic: number, initialise: () => void): true {
  try {
    initialise();
  } catch (e) {
    // Give the claim back so that the next caller can try, instead of waiting for us.
    Atomics.store(state, index, 0);
    throw e;
  }
  Atomics.store(state, index, magic);
  return true;
}

function alreadyThere(what: PlaceKind, state: string): Deno.errors.AlreadyExists {
  return new Deno.errors.AlreadyExists(
    `A ${what.kind} is ${state} at ${what.where}; use ${what.kind}.attach() or ` +
      `${what.kind}.initOrAttach()`,
  );
}
