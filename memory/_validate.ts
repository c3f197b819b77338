/**
 * Argument checks shared by the POSIX and System V objects (and everything
 * built on them). They run before any system call, so a bad argument never
 * leaves anything behind.
 *
 * @module
 */

import { utf8Length } from "../ffi/cstring.ts";

/**
 * Checks a POSIX IPC name: well-formed Unicode, a leading `/`, then 1 to
 * `maxBytes` bytes of UTF-8 with no further `/` and no NUL.
 */
export function checkName(name: unknown, what: string, maxBytes = 255): asserts name is string {
  if (typeof name !== "string") {
    throw new TypeError(`${what} name must be a string, got ${typeof name}`);
  }
  // A lone surrogate would be encoded as U+FFFD, so two different strings
  // would name one object.
  if (!name.isWellFormed()) {
    throw new TypeError(
      `${what} name ${JSON.stringify(name)} is not well-formed Unicode (it has a lone surrogate)`,
    );
  }
  if (!name.startsWith("/")) {
    throw new TypeError(`${what} name "${name}" must start with "/"`);
  }
  const rest = name.slice(1);
  if (rest.length === 0) {
    throw new TypeError(`${what} name "/" needs at least one character after "/"`);
  }
  if (rest.includes("/")) {
    throw new TypeError(`${what} name "${name}" may not contain "/" after the first character`);
  }
  if (rest.includes("\0")) {
    throw new TypeError(`${what} name ${JSON.stringify(name)} may not contain NUL`);
  }
  if (rest === "." || rest === "..") throw new TypeError(`${what} name "${name}" is reserved`);
  const bytes = utf8Length(rest);
  if (bytes > maxBytes) {
    throw new RangeError(`${what} name is ${bytes} bytes after "/"; the limit is ${maxBytes}`);
  }
}

/** Checks a byte size: a positive safe integer. */
export function checkSize(size: unknown, what = "size"): asserts size is number {
  if (typeof size !== "number") throw new TypeError(`${what} must be a number, got ${typeof size}`);
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new RangeError(`${what} must be a positive safe integer, got ${size}`);
  }
}

/**
 * `-0` passes every range check (it equals 0) but Deno's FFI refuses it as an
 * integer argument with its own TypeError, so it is refused here, by name.
 */
export function refuseNegativeZero(value: number, what: string): void {
  if (Object.is(value, -0)) throw new RangeError(`${what} must not be -0; pass 0`);
}

/** Checks permission bits: an integer in 0..0o777. */
export function checkMode(mode: unknown): asserts mode is number {
  if (typeof mode !== "number") throw new TypeError(`mode must be a number, got ${typeof mode}`);
  refuseNegativeZero(mode, "mode");
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new RangeError(`mode must be an integer from 0 to 0o777, got ${mode}`);
  }
}

/**
 * Checks that an options argument is an object (or absent) whose own keys are
 * all in `known`. `deno run` does not type-check, so a misspelled option
 * (`readonly` for `readOnly`) would otherwise be ignored without a word.
 */
export function checkOptions(options: unknown, what: string, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${what} options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw unknownOption(key, what, known);
  }
}

function unknownOption(key: string, what: string, known: readonly string[]): TypeError {
  const valid = known.length === 0 ? "it takes none" : `valid: ${known.join(", ")}`;
  const near = closest(key, known);
  const hint = near === undefined ? "" : `; did you mean "${near}"?`;
  return new TypeError(`Unknown option "${key}" for ${what} (${valid})${hint}`);
}

/** Words other libraries use for an option this library spells one way. */
const SYNONYMS: Readonly<Record<string, string>> = {
  permissions: "mode",
  perms: "mode",
  perm: "mode",
  timeoutMs: "timeout",
  length: "size",
  byteLength: "size",
};

/** The known name nearest to `key`, if it is near enough to be a likely typo. */
function closest(key: string, known: readonly string[]): string | undefined {
  const synonym = Object.hasOwn(SYNONYMS, key) ? SYNONYMS[key] : undefined;
  if (synonym !== undefined && known.includes(synonym)) return synonym;
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = key.toLowerCase();
  for (const name of known) {
    const d = name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  // A third of the name's length catches "timeoutMs", "initial" → "value" it does not.
  const prefix = best !== undefined && (best.startsWith(key) || key.startsWith(best));
  return best !== undefined && (prefix || bestDistance <= Math.max(1, Math.floor(best.length / 3)))
    ? best
    : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  let before = prev;
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      // Two letters swapped ("mdoe") is one slip, not two.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, before[j - 2]! + 1);
      }
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** Checks a wait's `timeout`: absent, or a non-negative number of milliseconds. */
export function checkTimeout(timeout: unknown): asserts timeout is number | undefined {
  if (timeout === undefined) return;
  if (typeof timeout !== "number") {
    throw new TypeError(`timeout must be a number, got ${typeof timeout}`);
  }
  if (Number.isNaN(timeout) || timeout < 0) {
    throw new RangeError(`timeout must be a non-negative number of milliseconds, got ${timeout}`);
  }
}

/**
 * The largest spin budget, in microseconds (10 ms). Past a few hundred µs a
 * spinning waiter only burns the time slice its peer needs to answer (see
 * FACTS.md, "Under CPU load"), and a sync spin freezes the event loop: a
 * budget in seconds is a mistake, not a tuning.
 */
export const MAX_SPIN_MICROS = 10_000;

/** A spin budget in microseconds: a number from 0 to {@linkcode MAX_SPIN_MICROS}. */
export function checkSpin(micros: unknown): asserts micros is number {
  if (typeof micros !== "number" || !(micros >= 0 && micros <= MAX_SPIN_MICROS)) {
    throw new RangeError(
      `spinMicros must be a number from 0 to ${MAX_SPIN_MICROS}, got ${String(micros)}`,
    );
  }
}
