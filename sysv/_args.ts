/**
 * Argument checks for System V objects, run before any system call.
 *
 * @module
 */

import { checkOptions, refuseNegativeZero } from "../memory/_validate.ts";

/** Checks `setPermissions()`'s argument: an object of `mode`, `uid`, `gid` (each optional). */
export function checkChange(change: unknown, what: string): void {
  if (change === undefined) throw new TypeError(`${what} takes { mode?, uid?, gid? }`);
  checkOptions(change, what, ["mode", "uid", "gid"]);
}

/** Checks a key: an integer that fits `key_t` (signed or unsigned 32-bit); returns it as key_t. */
export function checkKey(key: unknown): number {
  if (typeof key !== "number") throw new TypeError(`key must be a number, got ${typeof key}`);
  if (!Number.isInteger(key) || key < -(2 ** 31) || key > 2 ** 32 - 1) {
    throw new RangeError(`key must be a 32-bit integer, got ${key}`);
  }
  return key | 0;
}

/** Checks an id returned by shmget/semget: a non-negative 32-bit integer. */
export function checkId(id: unknown): number {
  if (typeof id !== "number") throw new TypeError(`id must be a number, got ${typeof id}`);
  refuseNegativeZero(id, "id");
  if (!Number.isInteger(id) || id < 0 || id > 2 ** 31 - 1) {
    throw new RangeError(`id must be a non-negative 32-bit integer, got ${id}`);
  }
  return id;
}

/** Checks a uid/gid. */
export function checkOwner(v: unknown, what: string): number {
  if (typeof v !== "number") throw new TypeError(`${what} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 0 || v > 2 ** 32 - 2) {
    throw new RangeError(`${what} must be a valid id, got ${v}`);
  }
  return v;
}

/** The key as people write it: `0x00007a2f`. */
export function hexKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, "0")}`;
}
