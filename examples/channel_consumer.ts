/**
 * Seed 001's consumer, on a `Channel`: creates the channel, starts the
 * producer as a second process, and checks that every message arrives once,
 * whole, and in order, until the producer's handle closes (ending its stream).
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/channel_consumer.ts [count]
 *
 * @module
 */

import { Channel } from "../mod.ts";

const count = Number(Deno.args[0] ?? 100_000);
const name = `/example-channel-${Deno.pid}`;
// One producer, one consumer: the "spsc" fast path (the default, "mpmc", admits any number).
using channel = Channel.create(name, { capacity: 256, maxMessageSize: 64, topology: "spsc" });
try {
  const producer = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      new URL("./channel_producer.ts", import.meta.url).pathname,
      name,
      `${count}`,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const t0 = performance.now();
  let expected = 0;
  for await (const message of channel) {
    const seq = new DataView(message.buffer, message.byteOffset).getUint32(0, true);
    if (seq !== expected || message.subarray(4).some((b) => b !== (seq & 0xff))) {
      throw new Error(`message ${expected}: got #${seq}, torn or out of order`);
    }
    expected++;
  }
  const ms = performance.now() - t0;
  if ((await producer.status).code !== 0) throw new Error("producer failed");
  if (expected !== count) throw new Error(`got ${expected} of ${count} messages`);
  console.log(
    `[consumer pid ${Deno.pid}] received all ${count} messages once, whole and in order (${
      (count / ms * 1000).toFixed(0)
    } msg/s)`,
  );
} finally {
  Channel.unlink(name);
}
