// bench/cpu.ts's "sem-worker" row: this thread blocks in sem_wait on the
// row's semaphore and counts each unit it takes in the shared cell, waking
// the main thread (Atomics.waitAsync there). A sketch of an async wait
// without Deno's blocking-call pool, measured beside the library; it runs
// until its process exits.
import { benchLibc } from "./_busy.ts";

addEventListener("message", (e) => {
  const { cell, address } = (e as MessageEvent<{ cell: Int32Array; address: string }>).data;
  const sem = Deno.UnsafePointer.create(BigInt(address));
  const { sem_wait } = benchLibc();
  for (;;) {
    while (sem_wait(sem) !== 0) { /* EINTR */ }
    Atomics.add(cell, 0, 1);
    Atomics.notify(cell, 0);
  }
});
