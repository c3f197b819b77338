/**
 * Argument checks for `Channel`: they run before anything is tried, so a bad
 * argument never claims a slot or counts a sleeper.
 *
 * @module
 */

import { checkOptions, checkSpin, checkTimeout } from "../memory/_validate.ts";
import { describe } from "./_copy.ts";

export const CREATE_KEYS = [
  "capacity",
  "maxMessageSize",
  "topology",
  "mode",
  "spinMicros",
] as const;
export const OPEN_KEYS = ["spinMicros", "topology", "capacity", "maxMessageSize"] as const;
export const SYNC_WAIT_KEYS = ["timeout", "spinMicros"] as const;
export const WAIT_KEYS = ["timeout", "spinMicros", "signal"] as const;
export const SYNC_EACH_KEYS = [...SYNC_WAIT_KEYS, "max"] as const;
export const EACH_KEYS = [...WAIT_KEYS, "max"] as const;

/** A wait's options, checked and read once (see {@linkcode checkWait}). */
export interface Wait {
  readonly timeout: number | undefined;
  readonly spinMicros: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly max: number;
}

export const NO_WAIT_OPTIONS: Wait = Object.freeze({
  timeout: undefined,
  spinMicros: undefined,
  signal: undefined,
  max: Infinity,
});

/**
 * Checks a wait's options before anything is tried: `deno run` does not
 * type-check, and a misspelled `timeoutMs` would otherwise wait forever.
 */
export function checkWait(options: unknown, method: string, known: readonly string[]): Wait {
  if (options === undefined) return NO_WAIT_OPTIONS;
  const what = `Channel.${method}()`;
  checkChannelOptions(options, what, known);
  // Read once: a getter must not hand these checks one value and the wait another.
  const { timeout, spinMicros, signal, max = Infinity } = options as {
    timeout?: number;
    spinMicros?: number;
    signal?: AbortSignal;
    max?: number;
  };
  checkTimeout(timeout);
  if (spinMicros !== undefined) checkSpin(spinMicros);
  if (signal !== undefined) checkSignal(signal);
  checkMax(max);
  return { timeout, spinMicros, signal, max };
}

const abortedOf = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")!.get!;
const reasonOf = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "reason")!.get!;

/** A real AbortSignal: `instanceof` is fooled by `Object.create(AbortSignal.prototype)`. */
function checkSignal(signal: unknown): void {
  try {
    abortedOf.call(signal);
  } catch {
    throw new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
}

/**
 * Throws `signal.reason` if the wait's signal is already aborted: an aborted
 * wait rejects even when it could complete at once, as `Semaphore.wait` does.
 */
export function throwIfAborted(options: Wait): void {
  const signal = options.signal;
  if (signal !== undefined && abortedOf.call(signal)) throw reasonOf.call(signal);
}

/** A batch bound: a positive integer, or Infinity for "all there are". */
export function checkMax(max: unknown): void {
  if (typeof max !== "number") throw new TypeError(`max must be a number, got ${typeof max}`);
  if (!(max >= 1 && (Number.isInteger(max) || max === Infinity))) {
    throw new RangeError(`max must be a positive integer or Infinity, got ${max}`);
  }
}

/** {@linkcode checkOptions}, and an array is not an options object either. */
export function checkChannelOptions(
  options: unknown,
  what: string,
  known: readonly string[],
): void {
  if (Array.isArray(options)) throw new TypeError(`${what} options must be an object`);
  checkOptions(options, what, known);
}

export function checkInt(v: unknown, what: string, min: number, max: number): void {
  if (typeof v !== "number") throw new TypeError(`${what} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${v}`);
  }
}

export function checkTopology(topology: unknown): void {
  if (topology !== "mpmc" && topology !== "spsc") {
    throw new TypeError(`topology must be "mpmc" or "spsc", got ${JSON.stringify(topology)}`);
  }
}

export function powerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/** An option given to open() must be what the channel was created with. */
export function expectSame(name: string, what: string, expected: unknown, actual: unknown): void {
  if (expected === undefined || expected === actual) return;
  throw new TypeError(
    `Channel "${name}" was created with ${what} ${JSON.stringify(actual)}, ` +
      `not ${JSON.stringify(expected)} as this open() expects`,
  );
}

/** The same error class and errno fields with a message that teaches. */
export function retitled<E extends Error>(e: E, message: string): E {
  const Ctor = e.constructor as new (message: string, options?: ErrorOptions) => E;
  return Object.assign(new Ctor(message, { cause: e }), e);
}
