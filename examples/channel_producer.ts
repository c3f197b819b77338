/**
 * Seed 001's producer, on a `Channel`: sends N numbered messages; closing its
 * handle (the end of the `using` scope) ends the stream.
 *
 *     deno run --allow-ffi examples/channel_producer.ts /orders 100000
 *
 * @module
 */

import { Channel } from "../mod.ts";

const name = Deno.args[0] ?? "/orders";
const count = Number(Deno.args[1] ?? 100_000);

// Asserts what it was written for: open() throws TypeError if the channel differs.
using channel = Channel.open(name, { topology: "spsc", maxMessageSize: 64 });
const message = new Uint8Array(64);
const view = new DataView(message.buffer);
for (let i = 0; i < count; i++) {
  view.setUint32(0, i, true);
  message.fill(i & 0xff, 4);
  await channel.send(message, { timeout: 10_000 });
}
console.log(`[producer pid ${Deno.pid}] sent ${count} messages`);
