/**
 * Argument checks shared by the POSIX objects. They run before any system
 * call, so a bad argument never leaves anything behind.
 *
 * @module
 */

import { utf8Length } from "../ffi/cstring.ts";

/**
 * Checks a POSIX IPC name: a leading `/`, then 1 to `maxBytes` bytes of UTF-8
 * with no further `/` and no NUL.
 */
export function checkName(name: unknown, what: string, maxBytes = 255): asserts name is string {
  if (typeof name !== "string") {
    throw new TypeError(`${what} name must be a string, got ${typeof name}`);
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

/** Checks permission bits: an integer in 0..0o777. */
export function checkMode(mode: unknown): asserts mode is number {
  if (typeof mode !== "number") throw new TypeError(`mode must be a number, got ${typeof mode}`);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new RangeError(`mode must be an integer from 0 to 0o777, got ${mode}`);
  }
}

/** Checks that an options argument is an object (or absent). */
export function checkOptions(options: unknown, what: string): void {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw new TypeError(`${what} options must be an object`);
  }
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

/** A spin budget in microseconds: finite and not negative. */
export function checkSpin(micros: unknown): asserts micros is number {
  if (typeof micros !== "number" || !Number.isFinite(micros) || micros < 0) {
    throw new RangeError(`spinMicros must be a finite number ≥ 0, got ${String(micros)}`);
  }
}
