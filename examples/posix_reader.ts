/**
 * Seed 000's reader: open the object read-only, print the message, unmap, and
 * remove the object.
 *
 *     deno run --allow-ffi examples/posix_reader.ts [/name]
 *
 * @module
 */

import { SharedMemory } from "../mod.ts";

const name = Deno.args[0] ?? "/myshm";

{
  using shm = SharedMemory.open(name, { readOnly: true });
  console.log(`[reader pid ${Deno.pid}] Received: ${shm.readCString(0)}`);
}
SharedMemory.unlink(name);
