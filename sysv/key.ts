/**
 * System V keys: `ftok` and `IPC_PRIVATE`.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { errno, errnoError } from "../ffi/errno.ts";
import { cString } from "../ffi/cstring.ts";

/** The key that always makes a new object, visible only through its id. */
export const IPC_PRIVATE = 0;

/**
 * Derives a key from an existing file and a project id (`ftok`): processes
 * that agree on both get the same key.
 *
 * @param path an existing file or directory
 * @param projId 1 to 255 (only the low 8 bits are used)
 * @returns the key
 * @throws {Deno.errors.NotFound} when `path` does not exist
 * @throws {RangeError} when `projId` is not 1–255
 *
 * @example
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
 * const key = sysv.ftok("/tmp", 42);
 * assertEquals(key, sysv.ftok("/tmp", 42));
 * assertNotEquals(key, sysv.ftok("/tmp", 43));
 * assertThrows(() => sysv.ftok("/no/such/path", 1), Deno.errors.NotFound);
 * ```
 */
export function ftok(path: string, projId: number): number {
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new TypeError("ftok() needs a path: a non-empty string without NUL");
  }
  if (typeof projId !== "number") {
    throw new TypeError(`projId must be a number, got ${typeof projId}`);
  }
  if (!Number.isInteger(projId) || projId < 1 || projId > 255) {
    throw new RangeError(`projId must be an integer from 1 to 255, got ${projId}`);
  }
  const key = libc().ftok(cString(path), projId);
  if (key === -1) {
    throw errnoError(errno(), { action: "Cannot derive a key", object: path, syscall: "ftok" });
  }
  return key;
}
