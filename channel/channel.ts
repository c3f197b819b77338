/**
 * A bounded channel of variable-length messages in shared memory, between
 * processes (or Workers, or handles of one thread): the public `Channel`
 * class. The algorithms live beside it: `_spsc.ts` and `_mpmc.ts` (the two
 * rings), `_receive.ts` (the receive family and `for await`), `_ending.ts`
 * (senders, end of stream, dead peers), `_wait.ts` (the waiting loop),
 * `_open.ts` (the header) and `_layout.ts` (the shared layout).
 *
 * @module
 */

import { SharedMemory } from "../posix/shared_memory.ts";
import { checkMode, checkName, checkSpin } from "../memory/_validate.ts";
import { channelBytes, H, SLOTS_OFFSET } from "./_layout.ts";
import { ChannelCore } from "./_core.ts";
import { byteLengthOf } from "./_copy.ts";
import {
  checkChannelOptions,
  checkInt,
  checkMax,
  checkTopology,
  checkWait,
  CREATE_KEYS,
  EACH_KEYS,
  expectSame,
  OPEN_KEYS,
  powerOfTwo,
  retitled,
  SYNC_EACH_KEYS,
  SYNC_WAIT_KEYS,
  throwIfAborted,
  type Wait,
  WAIT_KEYS,
} from "./_options.ts";
import { checkHeader, openHeader, writeHeader } from "./_open.ts";
import { sendMpmc } from "./_mpmc.ts";
import { sendManySpsc, sendSpsc } from "./_spsc.ts";
import {
  ChannelIterator,
  tryReceive,
  tryReceiveEach,
  tryReceiveInto,
  tryReceiveMany,
  tryReceiveView,
} from "./_receive.ts";
import {
  checkPositions,
  dropSlotOfDeadSender,
  finishSender,
  freeSlotOfDeadReceiver,
  peek,
  registerSender,
  releaseReceiver,
  releaseSender,
  throwIfEnded,
} from "./_ending.ts";
import { type Attempt, waitAsync, waitSync } from "./_wait.ts";
import { Spinner, WORKING_PEER_SPIN_US } from "../memory/_wait.ts";

/**
 * Options for {@linkcode Channel.open}. `topology`, `capacity` and
 * `maxMessageSize` assert what the caller expects: a channel created
 * otherwise is refused with a `TypeError` instead of used on a wrong belief.
 */
export interface OpenChannelOptions {
  /**
   * Microseconds a blocked send or receive polls the ring before it sleeps on
   * the channel's semaphore. Default: adaptive, the library's one waiting
   * strategy (README "How waits work"): up to 100 µs while the peer answers
   * that fast (50 µs for an awaited wait, so the event loop is never held
   * longer), less after waits that polling did not catch, and none on an
   * oversubscribed machine, where a poller takes the CPU its peer needs.
   * Polling answers a peer that is microseconds away without a wake-up that
   * costs tens of µs; `0` sleeps at once and burns no CPU. At most 10,000
   * (`MAX_SPIN_MICROS`); a wait never spins past its `timeout`. Each wait may
   * override it.
   */
  spinMicros?: number;
  /** The topology the channel must have been created with. */
  topology?: "mpmc" | "spsc";
  /** The capacity it must have been created with (rounded up to a power of two alike). */
  capacity?: number;
  /** The `maxMessageSize` it must have been created with. */
  maxMessageSize?: number;
}

/** Options for {@linkcode Channel.create}. */
export interface CreateChannelOptions {
  /** Messages the ring holds (rounded up to a power of two; 2 to 2^20). */
  capacity: number;
  /** Largest message in bytes (1 to 64 MiB). */
  maxMessageSize: number;
  /**
   * `"mpmc"` (the default): any number of sender and receiver handles, in any
   * processes; every message goes to exactly one receiver (one
   * compare-exchange per message). `"spsc"`: the fast path for one sender
   * handle and one receiver handle at a time, lock-free; a second live sender
   * or receiver is refused with `Deno.errors.Busy` naming the holder's pid.
   */
  topology?: "mpmc" | "spsc";
  /** Permission bits, applied exactly (not filtered by the umask). Default `0o600`. */
  mode?: number;
  /** As in {@linkcode OpenChannelOptions.spinMicros}. */
  spinMicros?: number;
}

/** Options for a send or receive that may wait. */
export interface ChannelWaitOptions extends ChannelWaitSyncOptions {
  /** Aborting rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** Options for a blocking send or receive. */
export interface ChannelWaitSyncOptions {
  /** Milliseconds. Absent: forever. `0`: try once. Positive: bounded, then `TimedOut`. */
  timeout?: number;
  /** Microseconds to poll before sleeping; default: the handle's (see {@linkcode OpenChannelOptions}). */
  spinMicros?: number;
}

/** A received message still in the ring: valid until `release()`. */
export interface MessageView extends Disposable {
  /** The message bytes, in shared memory (no copy). */
  readonly bytes: Uint8Array;
  /** Frees the slot for senders; the bytes are dead afterwards. Idempotent. */
  release(): void;
}

/** An already-settled `Promise<void>`: what a send that completed at once returns. */
const SENT: Promise<void> = Promise.resolve();

/**
 * A bounded ring of variable-length messages in a POSIX shared memory object.
 *
 * **Delivery.** Every message is delivered exactly once, whole, and in order
 * per sender, to any number of sender and receiver handles in any processes
 * (topology `"mpmc"`, the default; at most 64 senders at once that have sent
 * and not closed: a closed one's place is free at once, a dead one's when the
 * table fills, and beyond that a send is refused with `Deno.errors.Busy`).
 * Topology `"spsc"` is the fast path for one
 * sender handle and one receiver handle at a time: a second live one is
 * refused with `Deno.errors.Busy`. Senders block (or time out) while the ring
 * is full; receivers while it is empty — polling briefly first when polling
 * pays (`spinMicros`, adaptive by default; an awaited send or receive holds
 * the event loop for at most 50 µs), then sleeping on a
 * semaphore in the mapping that the other side posts only when someone
 * sleeps. An awaited call that can complete at once does, and returns an
 * already-settled promise.
 *
 * **End of stream.** A handle becomes a sender on its first send (or
 * `end()`); a handle that never sent ends nobody's stream. `end()` and
 * `close()` (so also the end of a `using` scope) finish that sender. Once
 * every sender that ever sent has ended, closed or died and the ring is
 * empty, receivers see the end: `for await` stops and `receive()` rejects
 * with `Deno.errors.UnexpectedEof`.
 *
 * **Closing.** `close()` rejects this handle's pending waits with
 * `Deno.errors.BadResource`; every method afterwards throws it.
 *
 * **Faults.** A sender that dies mid-send never delivers a torn message:
 * in `"spsc"` topology the message was never published; in `"mpmc"` the
 * receiver that reaches its slot finds the dead owner (after one 50 ms sleep
 * slice), drops the slot and rejects once with `Deno.errors.BrokenPipe`
 * naming the pid; `dropped` counts them. If every sender died without
 * ending, the stream ends with a `BrokenPipe` instead of a clean end. A
 * receiver that dies mid-receive in `"mpmc"` loses that one message
 * (senders find and free the slot); in `"spsc"` the message was not
 * consumed and the next receiver gets it (so do messages of an unreleased
 * view or an unfinished {@linkcode Channel.tryReceiveEach} drain: a message
 * counts as received when its slot is freed). A sender waiting on a full ring
 * whose receivers all died waits until its timeout.
 *
 * **Corruption.** The mapping is writable by every process that can open it,
 * so the channel trusts none of it: `open()` checks every header field and
 * the object's size, and each message's length and position are checked as it
 * is received. A word no process running this library could have written
 * throws `Deno.errors.InvalidData` naming the channel and the field (a bad
 * message's slot is freed, so the ring goes on) — never a hang, a crash, or
 * another message's bytes.
 *
 * Needs `--allow-ffi`. See `man 7 shm_overview` and `man 7 sem_overview`.
 *
 * @example Send and receive
 * ```ts
 * import { Channel } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const name = `/doc-chan-${Deno.pid}`;
 * using rx = Channel.create(name, { capacity: 8, maxMessageSize: 64 });
 * {
 *   using tx = Channel.open(name);
 *   await tx.send(new TextEncoder().encode("hello"));
 * } // closing the sender ends its stream
 * const got: string[] = [];
 * for await (const m of rx) got.push(new TextDecoder().decode(m));
 * assertEquals(got, ["hello"]);
 * Channel.unlink(name);
 * ```
 */
export class Channel implements Disposable, AsyncIterable<Uint8Array> {
  #c: ChannelCore;
  /** receive()'s attempt, made once: a wait then allocates no closure of its own. */
  #receiveAttempt: Attempt<Uint8Array>;

  private constructor(shm: SharedMemory, spinMicros: number | undefined) {
    const c = this.#c = new ChannelCore(shm, spinMicros);
    this.#receiveAttempt = () => tryReceive(c);
    c.senders = {
      waiting: H.SENDERS_WAITING,
      counted: 0,
      sem: c.space,
      // A full ring: receivers have messages to take, so they are at work.
      spinner: new Spinner(WORKING_PEER_SPIN_US),
      verb: "send",
      afterSlice: () => {
        checkPositions(c);
        freeSlotOfDeadReceiver(c);
      },
    };
    c.receivers = {
      waiting: H.RECEIVERS_WAITING,
      counted: 0,
      sem: c.data,
      spinner: new Spinner(),
      verb: "receive",
      afterSlice: () => {
        checkPositions(c);
        dropSlotOfDeadSender(c);
        if (!peek(c)) throwIfEnded(c, true);
      },
    };
  }

  /**
   * Creates a channel (a POSIX shared memory object called `name`).
   *
   * @param name `/` then 1–255 bytes, no other `/`, no NUL
   * @param options capacity, maxMessageSize, topology (default `"mpmc"`), mode
   *   (permission bits, default `0o600`) and spinMicros
   * @returns the handle (not yet a sender or a receiver)
   * @throws {Deno.errors.AlreadyExists} when `name` exists
   * @throws {RangeError} for a bad capacity, message size or mode
   * @throws {TypeError} for an unknown option or topology
   *
   * @example Permission bits and topology
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals, assertThrows } from "@std/assert";
   *
   * const name = `/doc-chan-create-${Deno.pid}`;
   * using ch = Channel.create(name, { capacity: 4, maxMessageSize: 8, topology: "spsc", mode: 0o640 });
   * assertEquals(ch.topology, "spsc");
   * assertEquals(Deno.statSync(`/dev/shm${name}`).mode! & 0o777, 0o640);
   * assertThrows(() => Channel.create(name, { capacity: 4, maxMessageSize: 8 }), Deno.errors.AlreadyExists);
   * Channel.unlink(name);
   * ```
   */
  static create(name: string, options: CreateChannelOptions): Channel {
    checkName(name, "Channel");
    checkChannelOptions(options, "Channel.create()", CREATE_KEYS);
    if (options === undefined) throw new TypeError("create() needs { capacity, maxMessageSize }");
    const {
      capacity,
      maxMessageSize,
      topology = "mpmc",
      mode = 0o600,
      spinMicros,
    } = options;
    if (spinMicros !== undefined) checkSpin(spinMicros);
    checkInt(capacity, "capacity", 2, 1 << 20);
    checkInt(maxMessageSize, "maxMessageSize", 1, 64 << 20);
    checkTopology(topology);
    checkMode(mode);
    const cap = powerOfTwo(capacity);
    let shm: SharedMemory;
    try {
      shm = SharedMemory.create(name, { size: channelBytes(cap, maxMessageSize), mode });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      throw retitled(
        e,
        `Cannot create channel "${name}": it already exists. Open it with Channel.open("${name}"), ` +
          `or remove it with Channel.unlink("${name}") or \`deno run --allow-ffi jsr:@ipc/shm/cli rm ${name}\``,
      );
    }
    try {
      writeHeader(shm, cap, maxMessageSize, topology === "mpmc");
      const channel = new Channel(shm, spinMicros);
      channel.#c.created = true;
      return channel;
    } catch (e) {
      shm.close();
      SharedMemory.unlink(name);
      throw e;
    }
  }

  /**
   * Opens a channel another handle or process created. A channel whose
   * creator is still writing its header is waited for, up to 500 ms.
   *
   * @param name the channel's name
   * @param options spinMicros, and what the channel must be (see {@linkcode OpenChannelOptions})
   * @throws {Deno.errors.NotFound} when `name` does not exist
   * @throws {Deno.errors.InvalidData} when it is not a channel, is of another layout version, or
   *   a header field is corrupt (the message names it)
   * @throws {TypeError} when `topology`, `capacity` or `maxMessageSize` contradict the channel
   *
   * @example Assert what you expect
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals, assertThrows } from "@std/assert";
   *
   * const name = `/doc-chan-open-${Deno.pid}`;
   * using _ch = Channel.create(name, { capacity: 16, maxMessageSize: 256 });
   * using rx = Channel.open(name, { topology: "mpmc", maxMessageSize: 256 });
   * assertEquals(rx.capacity, 16);
   * assertThrows(() => Channel.open(name, { topology: "spsc" }), TypeError, '"mpmc"');
   * const missing = `/doc-chan-nope-${Deno.pid}`;
   * assertThrows(() => Channel.open(missing), Deno.errors.NotFound, "Cannot open channel");
   * Channel.unlink(name);
   * ```
   */
  static open(name: string, options: OpenChannelOptions = {}): Channel {
    checkName(name, "Channel");
    checkChannelOptions(options, "Channel.open()", OPEN_KEYS);
    const { spinMicros, topology, capacity, maxMessageSize } = options;
    if (spinMicros !== undefined) checkSpin(spinMicros);
    if (topology !== undefined) checkTopology(topology);
    if (capacity !== undefined) checkInt(capacity, "capacity", 2, 1 << 20);
    if (maxMessageSize !== undefined) checkInt(maxMessageSize, "maxMessageSize", 1, 64 << 20);
    const shm = openHeader(name);
    try {
      const { cap, max, kind } = checkHeader(
        name,
        shm.view(Int32Array, 0, SLOTS_OFFSET >> 2),
        shm.size,
      );
      const actual = kind === 1 ? "mpmc" : "spsc";
      expectSame(name, "topology", topology, actual);
      expectSame(name, "capacity", capacity === undefined ? undefined : powerOfTwo(capacity), cap);
      expectSame(name, "maxMessageSize", maxMessageSize, max);
      return new Channel(shm, spinMicros);
    } catch (e) {
      shm.close();
      throw e;
    }
  }

  /**
   * Opens `name`, creating it first if it does not exist: every process may
   * call it, and exactly one call creates the channel ({@linkcode Channel.created}
   * says which). A channel that exists must have `capacity` and
   * `maxMessageSize` (and `topology`, if given), else `TypeError`; `mode`
   * applies only to a channel this call creates.
   *
   * @param name the channel's name
   * @param options as for {@linkcode Channel.create}
   * @throws {TypeError} when the existing channel contradicts `options`
   *
   * @example Both sides may call openOrCreate
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   *
   * const name = `/doc-chan-ooc-${Deno.pid}`;
   * using a = Channel.openOrCreate(name, { capacity: 4, maxMessageSize: 8 });
   * using b = Channel.openOrCreate(name, { capacity: 4, maxMessageSize: 8 });
   * assertEquals([a.created, b.created], [true, false]);
   * Channel.unlink(name);
   * ```
   */
  static openOrCreate(name: string, options: CreateChannelOptions): Channel {
    checkName(name, "Channel");
    checkChannelOptions(options, "Channel.openOrCreate()", CREATE_KEYS);
    if (options === undefined) {
      throw new TypeError("openOrCreate() needs { capacity, maxMessageSize }");
    }
    const { capacity, maxMessageSize, topology, spinMicros } = options;
    const expected: OpenChannelOptions = { capacity, maxMessageSize };
    if (topology !== undefined) expected.topology = topology;
    if (spinMicros !== undefined) expected.spinMicros = spinMicros;
    for (let attempt = 0;; attempt++) {
      try {
        return Channel.create(name, options);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      try {
        return Channel.open(name, expected); // waits for a creator still writing the header
      } catch (e) {
        // Gone between the two calls (its creator failed, or someone unlinked it): again, bounded.
        if (!(e instanceof Deno.errors.NotFound) || attempt >= 8) throw e;
      }
    }
  }

  /**
   * Removes the channel's name; open handles keep working.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   */
  static unlink(name: string): void {
    checkName(name, "Channel");
    try {
      SharedMemory.unlink(name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw retitled(e, `Cannot unlink channel "${name}": it does not exist`);
    }
  }

  /** The channel's name. */
  get name(): string {
    return this.#c.name;
  }

  /** True only on the handle whose `create` or `openOrCreate` call created the channel. */
  get created(): boolean {
    return this.#c.created;
  }

  /** Ring capacity in messages (a power of two). */
  get capacity(): number {
    return this.#c.capacity;
  }

  /** Largest message in bytes. */
  get maxMessageSize(): number {
    return this.#c.max;
  }

  /** `"mpmc"` or `"spsc"`: see {@linkcode CreateChannelOptions.topology}. */
  get topology(): "mpmc" | "spsc" {
    return this.#c.mpmc ? "mpmc" : "spsc";
  }

  /**
   * Messages dropped because their sender died while writing them.
   *
   * @throws {Deno.errors.BadResource} once closed
   */
  get dropped(): number {
    this.#c.ensureOpen();
    return Atomics.load(this.#c.i32, H.DROPPED);
  }

  /** True after {@linkcode Channel.close}. */
  get closed(): boolean {
    return this.#c.closed;
  }

  /**
   * Sends if there is room, without waiting.
   *
   * @returns false when the ring is full
   * @throws {RangeError} when `bytes` is larger than `maxMessageSize`
   * @throws {TypeError} when `bytes` is not a Uint8Array, or its buffer is detached
   */
  trySend(bytes: Uint8Array): boolean {
    const c = this.#c;
    const n = lengthOf(c, bytes);
    if (c.senderEntry === -1) registerSender(c);
    return c.mpmc ? sendMpmc(c, bytes, n) : sendSpsc(c, bytes, n);
  }

  /**
   * Sends as many of `messages` as fit, in order, without waiting. In
   * `"spsc"` topology it checks for room once, writes every payload, then publishes
   * the headers together, so a receiver waiting on the next header is not
   * fought message by message (the fast way to move many small messages).
   *
   * @returns how many were sent (a prefix of `messages`)
   * @throws {RangeError} when a message is larger than `maxMessageSize`
   *
   * @example Send a batch, receive it
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-batch-${Deno.pid}`;
   * using ch = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
   * const batch = [1, 2, 3, 4, 5].map((n) => new Uint8Array([n]));
   * assertEquals(ch.trySendMany(batch), 4);
   * assertEquals(ch.tryReceiveMany().map((m) => m[0]), [1, 2, 3, 4]);
   * Channel.unlink(name);
   * ```
   */
  trySendMany(messages: readonly Uint8Array[]): number {
    const c = this.#c;
    c.ensureOpen();
    if (!Array.isArray(messages)) throw new TypeError("trySendMany() takes an array of Uint8Array");
    // Each element is read once, here: an array with getters could otherwise hand
    // the checks one message and the copy another.
    const count = messages.length;
    const list: Uint8Array[] = new Array(count);
    const lengths: number[] = new Array(count);
    for (let k = 0; k < count; k++) lengths[k] = lengthOf(c, list[k] = messages[k]!);
    if (c.senderEntry === -1) registerSender(c);
    if (c.mpmc) {
      let n = 0;
      while (n < count && sendMpmc(c, list[n]!, lengths[n]!)) n++;
      return n;
    }
    return sendManySpsc(c, list, lengths, count);
  }

  /**
   * Sends, blocking this thread while the ring is full.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  sendSync(bytes: Uint8Array, options?: ChannelWaitSyncOptions): void {
    const o = checkWait(options, "sendSync", SYNC_WAIT_KEYS);
    if (this.trySend(bytes)) return;
    waitSync(this.#c, () => this.trySend(bytes) || undefined, this.#c.senders, o);
  }

  /**
   * Sends, awaiting room without blocking the event loop. When there is
   * room the message is sent at once and the promise is already settled;
   * otherwise it waits as {@linkcode Channel.receive} does. Bad arguments and
   * a closed handle reject; nothing throws.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted, or already aborted when called (even if it could
   *   complete at once, as `Semaphore.wait`)
   */
  send(bytes: Uint8Array, options?: ChannelWaitOptions): Promise<void> {
    let o: Wait;
    try {
      o = checkWait(options, "send", WAIT_KEYS);
      throwIfAborted(o);
      if (this.trySend(bytes)) return SENT;
    } catch (e) {
      return Promise.reject(e);
    }
    const attempt = () => this.trySend(bytes) || undefined;
    return waitAsync(this.#c, attempt, this.#c.senders, o).then(toVoid);
  }

  /**
   * Takes the next message if there is one (a copy).
   *
   * @returns the message, or `undefined` when the ring is empty
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws {Deno.errors.BrokenPipe} for a message whose sender died mid-send
   * @throws {Deno.errors.InvalidData} for a message whose words another process overwrote
   */
  tryReceive(): Uint8Array | undefined {
    return tryReceive(this.#c);
  }

  /**
   * Takes up to `max` waiting messages at once (copies), freeing their slots
   * together. Returns `[]` when the ring is empty.
   *
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   */
  tryReceiveMany(max = Infinity): Uint8Array[] {
    checkMax(max);
    return tryReceiveMany(this.#c, max);
  }

  /**
   * Copies the next message into `buffer` (no allocation at all: the fastest
   * receive for small messages) and frees its slot.
   *
   * @returns the message length, or `undefined` when the ring is empty
   * @throws {RangeError} when `buffer` is smaller than the message (which then stays in the
   *   ring)
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   *
   * @example Receive into your own buffer
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-into-${Deno.pid}`;
   * using ch = Channel.create(name, { capacity: 4, maxMessageSize: 16 });
   * ch.trySend(new Uint8Array([7, 8, 9]));
   * const buf = new Uint8Array(16);
   * assertEquals(ch.tryReceiveInto(buf), 3);
   * assertEquals([...buf.subarray(0, 3)], [7, 8, 9]);
   * assertEquals(ch.tryReceiveInto(buf), undefined);
   * Channel.unlink(name);
   * ```
   */
  tryReceiveInto(buffer: Uint8Array): number | undefined {
    return tryReceiveInto(this.#c, buffer);
  }

  /**
   * Hands every waiting message (up to `max`), oldest first, to `callback` as
   * a view into the ring — no copy, and in `"spsc"` topology no allocation per
   * message — then frees all their slots with one shared store. The fastest
   * way to drain many small messages.
   *
   * The view is valid only during its call: the same `Uint8Array` may show a
   * later message afterwards (copy it with `bytes.slice()` to keep it). If
   * `callback` throws, the messages handed over so far, that one included,
   * are consumed and the error propagates. In `"spsc"` topology the slots are
   * freed when the drain returns: if this process dies during a drain, the
   * next receiver gets that drain's messages again (as it gets an unreleased
   * view's message).
   *
   * @returns how many messages were handed over; 0 when the ring is empty
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   *
   * @example Drain every waiting message
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-each-${Deno.pid}`;
   * using ch = Channel.create(name, { capacity: 8, maxMessageSize: 8 });
   * ch.trySendMany([1, 2, 3].map((n) => new Uint8Array([n, n])));
   * let sum = 0;
   * assertEquals(ch.tryReceiveEach((bytes) => (sum += bytes[0]! + bytes[1]!)), 3);
   * assertEquals(sum, 12);
   * assertEquals(ch.tryReceiveEach(() => {}), 0);
   * Channel.unlink(name);
   * ```
   */
  tryReceiveEach(callback: (bytes: Uint8Array) => void, max = Infinity): number {
    if (typeof callback !== "function") throw new TypeError("tryReceiveEach() takes a function");
    checkMax(max);
    return tryReceiveEach(this.#c, callback, max);
  }

  /**
   * {@linkcode Channel.tryReceiveEach}, blocking this thread until at least
   * one message is there.
   *
   * @returns how many messages were handed over (at least 1)
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   *
   * @example Drain until the senders end
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-each-sync-${Deno.pid}`;
   * using ch = Channel.create(name, { capacity: 8, maxMessageSize: 4 });
   * ch.trySendMany([new Uint8Array([3]), new Uint8Array([4])]);
   * ch.end();
   * let sum = 0;
   * for (;;) {
   *   try {
   *     ch.receiveEachSync((bytes) => (sum += bytes[0]!), { timeout: 1000 });
   *   } catch (e) {
   *     if (e instanceof Deno.errors.UnexpectedEof) break;
   *     throw e;
   *   }
   * }
   * assertEquals(sum, 7);
   * Channel.unlink(name);
   * ```
   */
  receiveEachSync(
    callback: (bytes: Uint8Array) => void,
    options?: ChannelWaitSyncOptions & { max?: number },
  ): number {
    const o = checkWait(options, "receiveEachSync", SYNC_EACH_KEYS);
    return this.tryReceiveEach(callback, o.max) ||
      waitSync(
        this.#c,
        () => this.tryReceiveEach(callback, o.max) || undefined,
        this.#c.receivers,
        o,
      );
  }

  /**
   * {@linkcode Channel.tryReceiveEach}, awaiting at least one message
   * without blocking the event loop.
   *
   * @returns how many messages were handed over (at least 1)
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws `signal.reason` when aborted, or already aborted when called (even if it could
   *   complete at once, as `Semaphore.wait`)
   */
  receiveEach(
    callback: (bytes: Uint8Array) => void,
    options?: ChannelWaitOptions & { max?: number },
  ): Promise<number> {
    let o: Wait;
    try {
      o = checkWait(options, "receiveEach", EACH_KEYS);
      throwIfAborted(o);
      const n = this.tryReceiveEach(callback, o.max);
      if (n !== 0) return Promise.resolve(n);
    } catch (e) {
      return Promise.reject(e);
    }
    const max = o.max;
    return this.#waitAsync(() => this.tryReceiveEach(callback, max) || undefined, o);
  }

  /**
   * {@linkcode Channel.tryReceiveInto}, blocking this thread until a message
   * is there.
   *
   * @returns the message length
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   *
   * @example Wait for a message, into your buffer
   * ```ts
   * import { Channel } from "@ipc/shm";
   * import { assertEquals, assertThrows } from "@std/assert";
   * const name = `/doc-into-sync-${Deno.pid}`;
   * using ch = Channel.create(name, { capacity: 4, maxMessageSize: 16 });
   * const buf = new Uint8Array(16);
   * assertThrows(() => ch.receiveIntoSync(buf, { timeout: 5 }), Deno.errors.TimedOut);
   * ch.trySend(new Uint8Array([1, 2]));
   * assertEquals(ch.receiveIntoSync(buf, { timeout: 1000 }), 2);
   * Channel.unlink(name);
   * ```
   */
  receiveIntoSync(buffer: Uint8Array, options?: ChannelWaitSyncOptions): number {
    const o = checkWait(options, "receiveIntoSync", SYNC_WAIT_KEYS);
    return this.tryReceiveInto(buffer) ??
      waitSync(this.#c, () => this.tryReceiveInto(buffer), this.#c.receivers, o);
  }

  /**
   * {@linkcode Channel.tryReceiveInto}, awaiting a message without blocking
   * the event loop.
   *
   * @returns the message length
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws `signal.reason` when aborted, or already aborted when called (even if it could
   *   complete at once, as `Semaphore.wait`)
   */
  receiveInto(buffer: Uint8Array, options?: ChannelWaitOptions): Promise<number> {
    let o: Wait;
    try {
      o = checkWait(options, "receiveInto", WAIT_KEYS);
      throwIfAborted(o);
      const n = this.tryReceiveInto(buffer);
      if (n !== undefined) return Promise.resolve(n);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#waitAsync(() => this.tryReceiveInto(buffer), o);
  }

  /**
   * Takes the next message without copying it: the bytes stay in the ring
   * until `release()` (or the end of a `using` scope), and the slot is not
   * reused meanwhile.
   *
   * @returns the view, or `undefined` when the ring is empty
   */
  tryReceiveView(): MessageView | undefined {
    return tryReceiveView(this.#c);
  }

  /**
   * Receives, blocking this thread while the ring is empty.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   */
  receiveSync(options?: ChannelWaitSyncOptions): Uint8Array {
    const o = checkWait(options, "receiveSync", SYNC_WAIT_KEYS);
    return tryReceive(this.#c) ?? waitSync(this.#c, this.#receiveAttempt, this.#c.receivers, o);
  }

  /**
   * Receives, awaiting a message without blocking the event loop. When a
   * message is there it is taken at once and the promise is already settled;
   * otherwise the wait polls for at most 50 µs (or naps, on an oversubscribed
   * machine: see the README's "How waits work"), then sleeps without holding
   * the event loop. Bad arguments and a closed handle reject; nothing throws.
   *
   * Each message is copied out: small ones into a shared arena, large ones
   * into a fresh buffer each, whose allocation costs more than the copy (at
   * 1 MiB a fresh buffer costs several times a copy into a buffer in hand).
   * For big messages use {@linkcode Channel.receiveInto} into a buffer you
   * reuse.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws `signal.reason` when aborted, or already aborted when called (even if it could
   *   complete at once, as `Semaphore.wait`)
   */
  receive(options?: ChannelWaitOptions): Promise<Uint8Array> {
    let o: Wait;
    try {
      o = checkWait(options, "receive", WAIT_KEYS);
      throwIfAborted(o);
      const got = tryReceive(this.#c);
      if (got !== undefined) return Promise.resolve(got);
    } catch (e) {
      return Promise.reject(e);
    }
    // The copy is made inside the attempt: nothing can close the handle between taking and copying.
    return this.#waitAsync(this.#receiveAttempt, o);
  }

  /**
   * Zero-copy {@linkcode Channel.receive}: see {@linkcode Channel.tryReceiveView}.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws `signal.reason` when aborted, or already aborted when called (even if it could
   *   complete at once, as `Semaphore.wait`)
   */
  receiveView(options?: ChannelWaitOptions): Promise<MessageView> {
    let o: Wait;
    try {
      o = checkWait(options, "receiveView", WAIT_KEYS);
      throwIfAborted(o);
      const got = this.tryReceiveView();
      if (got !== undefined) return Promise.resolve(got);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#waitAsync(() => this.tryReceiveView(), o);
  }

  /**
   * Receives until the stream ends: `for await (const msg of channel)`. Each
   * step takes a message at once when one is there (no wait, no timer); a
   * loop that breaks leaves the messages it did not take in the ring.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return new ChannelIterator(this.#c);
  }

  /**
   * Ends this sender's stream: receivers get everything sent before, then
   * the end (once every sender has ended, closed or died). A handle that has
   * not sent becomes a sender that sent nothing. Idempotent.
   *
   * @throws {Deno.errors.BadResource} once closed
   */
  end(): void {
    const c = this.#c;
    c.ensureOpen();
    if (c.senderEntry === -1) registerSender(c);
    finishSender(c);
    c.wakeAll(0);
  }

  /**
   * Releases this handle (not the channel: see {@linkcode Channel.unlink});
   * idempotent. If it has sent, its stream ends as with `end()` and its place
   * in the senders table is free for another sender handle. Its pending
   * waits reject with `Deno.errors.BadResource`, and in `"spsc"` topology its
   * place as sender or receiver is free for another handle. In `"mpmc"`
   * topology, views it has not released count as received.
   *
   * @example Closing ends a pending wait
   * ```ts
   * import { Channel, settled } from "@ipc/shm";
   * import { assertRejects } from "@std/assert";
   *
   * const name = `/doc-chan-close-${Deno.pid}`;
   * const rx = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
   * const pending = rx.receive();
   * rx.close();
   * await assertRejects(() => pending, Deno.errors.BadResource, "closed while waiting to receive");
   * await settled(); // its last bounded sleep (≤ 50 ms) has ended
   * Channel.unlink(name);
   * ```
   */
  close(): void {
    const c = this.#c;
    if (c.closed) return;
    c.closed = true;
    const i = c.i32;
    // This handle's sleepers leave the shared counts now: once unmapped, their waits cannot.
    const ownReceivers = c.receivers.counted;
    for (const side of [c.senders, c.receivers]) {
      if (side.counted !== 0) Atomics.sub(i, side.waiting, side.counted);
      side.counted = 0;
    }
    for (const view of c.heldViews) view.release();
    // A park of this handle still in flight may take one of the posts: post for it too.
    const ended = finishSender(c);
    releaseSender(c); // before the wake-up: woken receivers see the table as it stays
    if (ended) c.wakeAll(ownReceivers, false);
    releaseReceiver(c);
    c.data.close();
    c.space.close();
    c.shm.close();
  }

  /** Same as {@linkcode Channel.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** An awaited receive that must wait: the receivers' side of the waiting loop. */
  #waitAsync<T>(attempt: Attempt<T>, o: Wait): Promise<T> {
    return waitAsync(this.#c, attempt, this.#c.receivers, o);
  }
}

function toVoid(): void {}

/** The real length of a message to send: checked whole before any slot is claimed. */
function lengthOf(c: ChannelCore, bytes: Uint8Array): number {
  c.ensureOpen();
  const n = byteLengthOf(bytes, "send()");
  if (n > c.max) {
    throw new RangeError(`A ${n}-byte message exceeds this channel's maxMessageSize (${c.max})`);
  }
  return n;
}
