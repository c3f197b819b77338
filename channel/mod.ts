/**
 * A shared-memory channel: a bounded ring of variable-length messages
 * between processes. Every message reaches exactly one receiver, whatever
 * the number of senders and receivers (topology `"mpmc"`, the default);
 * topology `"spsc"` is the lock-free fast path for one of each.
 *
 * @example Send and receive
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
