/**
 * Named locks: a small POSIX shared memory object that holds one lock at
 * offset 0. Shared by `Mutex`, `RwLock` and `Semaphore`.
 *
 * @module
 */

import { SharedMemory } from "../posix/shared_memory.ts";
import { createOrOpen } from "../ffi/errno.ts";
import { ATTACH_WAIT_MS } from "../memory/_placement.ts";

const nap = new Int32Array(new SharedArrayBuffer(4));

/** Creation options for a named lock. */
export interface CreateLockOptions {
  /** Permission bits of the backing object, applied exactly. Default `0o600`. */
  mode?: number;
}

/**
 * Creates, opens or opens-or-creates the object behind a named `kind` lock,
 * and runs `init` (we created it) or `attach` (it existed) on it. On failure
 * nothing is left open, and an object we created is unlinked. Errors say what
 * to do next: open or remove what exists, create what does not.
 */
export function openNamed<T>(
  how: "create" | "open" | "openOrCreate",
  kind: string,
  name: string,
  size: number,
  mode: number,
  init: (shm: SharedMemory) => T,
  attach: (shm: SharedMemory) => T,
): T {
  const create = () => {
    let shm: SharedMemory;
    try {
      shm = SharedMemory.create(name, { size, mode });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists && how === "create") {
        e.message += `; open it with ${kind}.open(), or remove it with ` +
          `${kind}.unlink(${JSON.stringify(name)}) or ` +
          `\`deno run --allow-ffi jsr:@ipc/shm/cli rm ${name}\``;
      }
      throw e;
    }
    return withShm(shm, init, true);
  };
  const open = () => {
    let shm: SharedMemory;
    const end = performance.now() + ATTACH_WAIT_MS;
    for (;;) {
      try {
        shm = SharedMemory.open(name);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound && how === "open") {
          e.message += `; create it with ${kind}.create() or ${kind}.openOrCreate()`;
        }
        throw e;
      }
      // Size 0: its creator is between shm_open and posix_fallocate; look again.
      if (shm.size > 0 || performance.now() > end) break;
      shm.close();
      Atomics.wait(nap, 0, 0, 1);
    }
    return withShm(shm, (s) => {
      try {
        return attach(s);
      } catch (e) {
        // Too small for the kind, or its words are not the kind's: it is something else.
        if (e instanceof RangeError || e instanceof Deno.errors.InvalidData) {
          throw new Deno.errors.InvalidData(
            `"${name}" is not a ${kind} (${s.size} bytes): ${e.message}`,
          );
        }
        throw e;
      }
    }, false);
  };
  if (how === "open") return open();
  if (how === "create") return create();
  return createOrOpen(create, open);
}

function withShm<T>(shm: SharedMemory, fn: (shm: SharedMemory) => T, created: boolean): T {
  try {
    return fn(shm);
  } catch (e) {
    shm.close();
    if (created) {
      try {
        shm.unlink();
      } catch { /* already gone */ }
    }
    throw e;
  }
}
