/**
 * The one `settled()`: every wait in the library that can sleep (semaphores,
 * locks, Channel sends and receives, message queues) parks through the same
 * bounded calls on Deno's blocking pool, so one counter knows when none is left.
 *
 * @module
 */

import { parksSettled } from "../memory/_park.ts";

/**
 * Resolves once this thread (the process, or the Worker that calls it) has no
 * parked wait in flight.
 *
 * A wait that was aborted, timed out or closed settles at once, but the
 * bounded sleep it started on Deno's blocking-call pool ends up to 50 ms later.
 * `deno test`'s op sanitizer counts that call until then, so a test that
 * abandons a wait of a Mutex, RwLock, Semaphore, Channel or MessageQueue should
 * `await settled()` before it ends. Nothing else needs it.
 *
 * @returns a promise that resolves when no park is in flight
 *
 * @example End a test that abandoned a wait
 * ```ts
 * import { posix, settled } from "@ipc/shm";
 * import { assertRejects } from "@std/assert";
 *
 * const name = `/doc-settled-${Deno.pid}`;
 * using sem = posix.Semaphore.create(name);
 * await assertRejects(() => sem.wait({ timeout: 5 }), Deno.errors.TimedOut);
 * await settled(); // the abandoned park has ended: the sanitizer is happy
 * sem.unlink();
 * ```
 */
export function settled(): Promise<void> {
  return parksSettled();
}
