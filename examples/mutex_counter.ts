/**
 * Every seed says it: shared memory without a lock corrupts data. Four
 * processes add to one counter in shared memory, first without a lock, then
 * with a `Mutex` that sits in the same mapping as the counter. Every worker
 * runs the same code: `Mutex.initOrAttach` lets whichever comes first place
 * the mutex, and never resets it under another worker.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/mutex_counter.ts
 *
 * @module
 */

import { Mutex, MUTEX_SIZE, SharedMemory } from "../mod.ts";

const [role, name, lockedArg] = Deno.args;
const PROCESSES = 4;
const INCREMENTS = 1_000_000;

if (role === "worker") {
  using shm = SharedMemory.open(name!);
  using mutex = Mutex.initOrAttach(shm, 0);
  const [counter, ready] = [
    shm.view(Int32Array, MUTEX_SIZE, 1),
    shm.view(Int32Array, MUTEX_SIZE + 4, 1),
  ];
  // Start together so the processes really overlap.
  Atomics.add(ready, 0, 1);
  while (Atomics.load(ready, 0) < PROCESSES) { /* wait for the others */ }
  for (let i = 0; i < INCREMENTS; i++) {
    if (lockedArg === "locked") {
      const guard = mutex.lockSync();
      counter[0] = counter[0]! + 1;
      guard.release();
    } else {
      counter[0] = counter[0]! + 1;
    }
  }
} else {
  for (const mode of ["unlocked", "locked"]) {
    const shmName = `/example-counter-${Deno.pid}`;
    using shm = SharedMemory.create(shmName, { size: MUTEX_SIZE + 8 });
    try {
      const self = new URL(import.meta.url).pathname;
      const runs = Array.from({ length: PROCESSES }, () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-ffi", self, "worker", shmName, mode],
        }).output());
      await Promise.all(runs);
      const total = shm.view(Int32Array, MUTEX_SIZE, 1)[0];
      console.log(
        `${
          mode.padEnd(8)
        }: ${PROCESSES} processes × ${INCREMENTS} increments = ${total} (expected ${
          PROCESSES * INCREMENTS
        })`,
      );
    } finally {
      SharedMemory.unlink(shmName);
    }
  }
}
