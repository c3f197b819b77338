/**
 * A shared-memory channel: a bounded ring of variable-length messages
 * between processes, lock-free for one sender and one receiver.
 *
 * @example
 * ```ts
 * import { Channel } from "@ipc/shm/channel";
 * import { assertEquals } from "@std/assert";
 *
 * const name = `/doc-chanmod-${Deno.pid}`;
 * using ch = Channel.create(name, { capacity: 4, maxMessageSize: 16 });
 * assertEquals(ch.trySend(new Uint8Array([1, 2, 3])), true);
 * assertEquals(ch.tryReceive(), new Uint8Array([1, 2, 3]));
 * Channel.unlink(name);
 * ```
 *
 * @module
 */

export {
  Channel,
  type ChannelWaitOptions,
  type ChannelWaitSyncOptions,
  type CreateChannelOptions,
  type MessageView,
  type OpenChannelOptions,
} from "./channel.ts";
