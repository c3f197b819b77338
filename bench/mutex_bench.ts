// deno bench -A bench/mutex_bench.ts
// Uncontended lock+unlock costs against the floor: a bare Atomics
// compare-exchange plus store on the same kind of memory.
import { SharedMemory } from "../posix/shared_memory.ts";
import { Mutex, MUTEX_SIZE } from "../sync/mutex.ts";

const name = `/bench-mutex-${Deno.pid}`;
const shm = SharedMemory.create(name, { size: MUTEX_SIZE + 64 });
SharedMemory.unlink(name);
const mutex = Mutex.init(shm, 0);
const word = shm.view(Int32Array, MUTEX_SIZE, 1);

Deno.bench("Atomics.compareExchange + Atomics.store (floor)", {
  group: "uncontended",
  baseline: true,
}, () => {
  Atomics.compareExchange(word, 0, 0, 1);
  Atomics.store(word, 0, 0);
});

Deno.bench("Mutex lockSync() + release()", { group: "uncontended" }, () => {
  mutex.lockSync().release();
});

Deno.bench("Mutex tryLock() + release()", { group: "uncontended" }, () => {
  mutex.tryLock()!.release();
});

Deno.bench("Mutex using lockSync()", { group: "uncontended" }, () => {
  using _g = mutex.lockSync();
});

Deno.bench(
  "Mutex await lock() + release()",
  { group: "uncontended async", baseline: true },
  async () => {
    (await mutex.lock()).release();
  },
);

Deno.bench("await Promise.resolve() (floor)", { group: "uncontended async" }, async () => {
  await Promise.resolve();
});

globalThis.addEventListener("unload", () => {
  mutex.close();
  shm.close();
});
