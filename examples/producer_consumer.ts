/**
 * Seed 001's producer/consumer as two processes: a ring buffer in shared
 * memory, an "empty" and a "full" counting semaphore, and a semaphore used as a
 * mutex — all three in-memory semaphores inside the same mapping as the data.
 * The consumer checks that every item arrived exactly once and in order.
 *
 * Both sides place the semaphores with `initOrAttach` and the same initial
 * values, so either may start first; the parent creates a fresh mapping
 * (`SharedMemory.create` fails on a leftover), so nobody starts on the state of
 * an earlier run.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/producer_consumer.ts [items]
 *
 * @module
 */

import { posix, SEM_SIZE, SharedMemory } from "../mod.ts";

const SLOTS = 16;
// Layout: three semaphores, then head/tail indices, then SLOTS items of two int32 (value, check).
const MUTEX = 0, EMPTY = SEM_SIZE, FULL = 2 * SEM_SIZE;
const INDEX = 3 * SEM_SIZE; // Int32 [in, out]
const ITEMS = INDEX + 8;
const SIZE = ITEMS + SLOTS * 8;

const [role, name, itemsArg] = Deno.args;

function check(value: number): number {
  return Math.imul(value, 2654435761) >>> 1;
}

/** The three semaphores, placed by whichever process gets there first. */
function semaphores(shm: SharedMemory) {
  return {
    mutex: posix.Semaphore.initOrAttach(shm, MUTEX, { value: 1 }),
    empty: posix.Semaphore.initOrAttach(shm, EMPTY, { value: SLOTS }),
    full: posix.Semaphore.initOrAttach(shm, FULL, { value: 0 }),
  };
}

async function producer(shm: SharedMemory, count: number): Promise<void> {
  const { mutex: m, empty: e, full: f } = semaphores(shm);
  using mutex = m, empty = e, full = f;
  const index = shm.view(Int32Array, INDEX, 2);
  const items = shm.view(Int32Array, ITEMS, SLOTS * 2);
  for (let i = 0; i < count; i++) {
    await empty.wait({ timeout: 10_000 }); // a free slot
    await mutex.wait({ timeout: 10_000 }); // the buffer is ours
    const slot = index[0]!;
    items[slot * 2] = i;
    items[slot * 2 + 1] = check(i);
    index[0] = (slot + 1) % SLOTS;
    mutex.post();
    full.post(); // one more item
  }
}

async function consumer(shm: SharedMemory, count: number): Promise<void> {
  const { mutex: m, empty: e, full: f } = semaphores(shm);
  using mutex = m, empty = e, full = f;
  const index = shm.view(Int32Array, INDEX, 2);
  const items = shm.view(Int32Array, ITEMS, SLOTS * 2);
  for (let expected = 0; expected < count; expected++) {
    await full.wait({ timeout: 10_000 });
    await mutex.wait({ timeout: 10_000 });
    const slot = index[1]!;
    const value = items[slot * 2]!;
    const sum = items[slot * 2 + 1]!;
    index[1] = (slot + 1) % SLOTS;
    mutex.post();
    empty.post();
    if (value !== expected || sum !== check(value)) {
      throw new Error(`item ${expected}: got ${value} (check ${sum})`);
    }
  }
  console.log(`[consumer pid ${Deno.pid}] received all ${count} items exactly once, in order`);
}

if (role === "producer" || role === "consumer") {
  using shm = SharedMemory.open(name!);
  if (role === "producer") await producer(shm, Number(itemsArg));
  else await consumer(shm, Number(itemsArg));
} else {
  const count = Number(Deno.args[0] ?? 10_000);
  const shmName = `/example-pc-${Deno.pid}`;
  using _shm = SharedMemory.create(shmName, { size: SIZE });
  try {
    const self = new URL(import.meta.url).pathname;
    const spawn = (r: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-ffi", self, r, shmName, `${count}`],
        stdout: "inherit",
        stderr: "inherit",
      }).spawn().status;
    const t0 = performance.now();
    const [p, c] = await Promise.all([spawn("producer"), spawn("consumer")]);
    if (p.code !== 0 || c.code !== 0) {
      throw new Error(`producer exited ${p.code}, consumer ${c.code}`);
    }
    console.log(
      `${count} items through a ${SLOTS}-slot buffer in ${(performance.now() - t0).toFixed(0)} ms`,
    );
  } finally {
    SharedMemory.unlink(shmName);
  }
}
