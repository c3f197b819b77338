/**
 * Seed 000's writer: create a POSIX shared memory object, size it, map it and
 * leave a message in it for another process.
 *
 *     deno run --allow-ffi examples/posix_writer.ts [/name] [message]
 *
 * @module
 */

import { SharedMemory } from "../mod.ts";

const SIZE = 4096;
const name = Deno.args[0] ?? "/myshm";
const message = Deno.args[1] ?? "Hello from shared memory!";

// shm_open(O_CREAT|O_RDWR) + ftruncate + mmap in one call; mode 0o600 by default.
using shm = SharedMemory.openOrCreate(name, { size: SIZE });
shm.writeCString(0, message);
console.log(`[writer pid ${Deno.pid}] Wrote: ${message}`);
// close() (via `using`) unmaps; the object stays until the reader unlinks it.
