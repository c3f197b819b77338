/**
 * A bounded channel of variable-length messages in shared memory, between
 * processes (or Workers, or handles of one thread).
 *
 * @module
 */

import { SharedMemory } from "../posix/shared_memory.ts";
import { type Semaphore, semaphoreAtRaw } from "../posix/semaphore.ts";
import {
  checkMode,
  checkName,
  checkOptions,
  checkSpin,
  checkTimeout,
} from "../memory/_validate.ts";
import { isAlive } from "../memory/_liveness.ts";
import { deadlineOf } from "../sync/_options.ts";
import {
  channelBytes,
  DATA_SEM_OFFSET,
  H,
  MAGIC,
  MAX_SENDERS,
  MAX_WAITERS,
  payloadsOffset,
  PID_MAX,
  SENDER_ACTIVE,
  SENDER_ENDED,
  SENDER_ENTRY,
  SENDERS_OFFSET,
  SLOT_DEAD,
  SLOT_LEN,
  SLOT_OWNER,
  SLOT_POS,
  SLOT_SEQ,
  slotBytes,
  SLOTS_OFFSET,
  SPACE_SEM_OFFSET,
  TOMBSTONE,
  VERSION,
} from "./_layout.ts";

/**
 * Options for {@linkcode Channel.open}. `topology`, `capacity` and
 * `maxMessageSize` assert what the caller expects: a channel created
 * otherwise is refused with a `TypeError` instead of used on a wrong belief.
 */
export interface OpenChannelOptions {
  /**
   * Microseconds a blocked send or receive polls the ring before it sleeps on
   * the channel's semaphore (default 200). Polling answers a peer that is
   * microseconds away without a wake-up that costs tens of µs; `0` sleeps at
   * once and burns no CPU. At most 10,000 (`MAX_SPIN_MICROS`: a longer spin
   * only starves the peer it waits for); a wait never spins past its
   * `timeout`. Each wait may override it.
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

let freeSlot: (channel: Channel, view: SlotView, slot: number, pos: number) => void;

/** One side of the ring, as the waiting loop sees it. */
interface WaitSide {
  /** Header index of this side's sleeper count. */
  waiting: number;
  /** How many of that count are this handle's waits (close() takes them back). */
  counted: number;
  /** The semaphore this side sleeps on (the other side posts it). */
  sem: Semaphore;
  /** For messages: "send" or "receive". */
  verb: string;
  /** Runs after a sleep slice ends with nothing done: dead-peer checks. */
  afterSlice(): void;
}

/** A received message still in its slot (see {@linkcode MessageView}). */
class SlotView implements MessageView {
  readonly bytes: Uint8Array;
  #channel: Channel | undefined;
  #slot: number;
  #pos: number;

  constructor(bytes: Uint8Array, channel: Channel, slot: number, pos: number) {
    this.bytes = bytes;
    this.#channel = channel;
    this.#slot = slot;
    this.#pos = pos;
  }

  release(): void {
    const ch = this.#channel;
    if (ch === undefined) return;
    this.#channel = undefined;
    freeSlot(ch, this, this.#slot, this.#pos);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

const SLICE_MS = 50;
const DEFAULT_SPIN_US = 200;
const OPEN_WAIT_MS = 500; // how long open() waits for a creator to finish the header
const pid = Deno.pid;
const CREATE_KEYS = ["capacity", "maxMessageSize", "topology", "mode", "spinMicros"] as const;
const OPEN_KEYS = ["spinMicros", "topology", "capacity", "maxMessageSize"] as const;
const SYNC_WAIT_KEYS = ["timeout", "spinMicros"] as const;
const WAIT_KEYS = ["timeout", "spinMicros", "signal"] as const;
const SYNC_EACH_KEYS = [...SYNC_WAIT_KEYS, "max"] as const;
const EACH_KEYS = [...WAIT_KEYS, "max"] as const;

/**
 * A bounded ring of variable-length messages in a POSIX shared memory object.
 *
 * **Delivery.** Every message is delivered exactly once, whole, and in order
 * per sender, to any number of sender and receiver handles in any processes
 * (topology `"mpmc"`, the default). Topology `"spsc"` is the fast path for one
 * sender handle and one receiver handle at a time: a second live one is
 * refused with `Deno.errors.Busy`. Senders block (or time out) while the ring
 * is full; receivers while it is empty — polling briefly first (`spinMicros`,
 * default 200 µs), then sleeping on a semaphore in the mapping that the other
 * side posts only when someone sleeps.
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
  #shm: SharedMemory;
  #name: string;
  #i32: Int32Array;
  #u8: Uint8Array;
  #mpmc: boolean;
  #mask: number;
  #capacity: number;
  #data0: number; // byte offset of slot 0's payload
  #stride: number; // bytes per payload slot
  #max: number;
  #data: Semaphore;
  #space: Semaphore;
  #senders: WaitSide;
  #receivers: WaitSide;
  #closed = false;
  /** An error met by a batch receive after it had taken messages: the next receive throws it. */
  #deferred: unknown = undefined;
  #spinMs: number;
  #token = crypto.getRandomValues(new Int32Array(1))[0]! | 1;
  #senderEntry = -1;
  // spsc positions. A receiver learns that position p is ready from its slot's
  // seq word (p + 1), on the cache line it reads next anyway, rather than from a
  // shared TAIL that every send would steal from it; the sender reads the shared
  // HEAD only when its cached copy says the ring is full.
  #tail = 0; // sender: next position to write
  #headCache = 0; // sender: last HEAD seen
  #head = 0; // receiver: next position to take
  #freed = 0; // receiver: everything before this is released (= HEAD)
  #freedOutOfOrder: Set<number> | undefined; // views released before earlier ones
  #heldViews = new Set<SlotView>(); // mpmc: views out, freed by close() so no slot stays taken
  #intoWords: Int32Array | undefined; // tryReceiveInto's view of the caller's last buffer
  #slotViews: (Uint8Array | undefined)[] = []; // tryReceiveEach's view per slot, reused
  #receiving = false;
  #created = false;
  #endedReported = false;
  #streamEnded = false;

  private constructor(shm: SharedMemory, spinMicros: number) {
    this.#shm = shm;
    this.#name = shm.name;
    this.#spinMs = spinMicros / 1000;
    this.#i32 = shm.view(Int32Array);
    this.#u8 = shm.bytes;
    const i = this.#i32;
    this.#mpmc = i[H.TOPOLOGY] === 1;
    this.#capacity = i[H.CAPACITY]!;
    this.#mask = this.#capacity - 1;
    this.#data0 = payloadsOffset(this.#capacity);
    this.#stride = i[H.SLOT_BYTES]!;
    this.#max = i[H.MAX_MESSAGE]!;
    this.#data = semaphoreAtRaw(shm, DATA_SEM_OFFSET);
    this.#space = semaphoreAtRaw(shm, SPACE_SEM_OFFSET);
    this.#senders = {
      waiting: H.SENDERS_WAITING,
      counted: 0,
      sem: this.#space,
      verb: "send",
      afterSlice: () => {
        this.#checkPositions();
        this.#freeSlotOfDeadReceiver();
      },
    };
    this.#receivers = {
      waiting: H.RECEIVERS_WAITING,
      counted: 0,
      sem: this.#data,
      verb: "receive",
      afterSlice: () => {
        this.#checkPositions();
        this.#dropSlotOfDeadSender();
        if (!this.#peek()) this.#throwIfEnded(true);
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
      spinMicros = DEFAULT_SPIN_US,
    } = options;
    checkSpin(spinMicros);
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
      const i = shm.view(Int32Array);
      i[H.VERSION] = VERSION;
      i[H.TOPOLOGY] = topology === "mpmc" ? 1 : 0;
      i[H.CAPACITY] = cap;
      i[H.SLOT_BYTES] = slotBytes(maxMessageSize);
      i[H.MAX_MESSAGE] = maxMessageSize;
      for (let s = 0; s < cap; s++) i[(SLOTS_OFFSET >> 2) + (s << 2) + SLOT_SEQ] = s; // Vyukov's start
      semaphoreAtRaw(shm, DATA_SEM_OFFSET, 0).close();
      semaphoreAtRaw(shm, SPACE_SEM_OFFSET, 0).close();
      Atomics.store(i, H.MAGIC, MAGIC); // last: open() trusts nothing before it
      const channel = new Channel(shm, spinMicros);
      channel.#created = true;
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
    const { spinMicros = DEFAULT_SPIN_US, topology, capacity, maxMessageSize } = options;
    checkSpin(spinMicros);
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
    return this.#name;
  }

  /** True only on the handle whose `create` or `openOrCreate` call created the channel. */
  get created(): boolean {
    return this.#created;
  }

  /** Ring capacity in messages (a power of two). */
  get capacity(): number {
    return this.#capacity;
  }

  /** Largest message in bytes. */
  get maxMessageSize(): number {
    return this.#max;
  }

  /** `"mpmc"` or `"spsc"`: see {@linkcode CreateChannelOptions.topology}. */
  get topology(): "mpmc" | "spsc" {
    return this.#mpmc ? "mpmc" : "spsc";
  }

  /**
   * Messages dropped because their sender died while writing them.
   *
   * @throws {Deno.errors.BadResource} once closed
   */
  get dropped(): number {
    this.#ensureOpen();
    return Atomics.load(this.#i32, H.DROPPED);
  }

  /** True after {@linkcode Channel.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends if there is room, without waiting.
   *
   * @returns false when the ring is full
   * @throws {RangeError} when `bytes` is larger than `maxMessageSize`
   * @throws {TypeError} when `bytes` is not a Uint8Array, or its buffer is detached
   */
  trySend(bytes: Uint8Array): boolean {
    const n = this.#lengthOf(bytes);
    if (this.#senderEntry === -1) this.#registerSender();
    return this.#mpmc ? this.#sendMpmc(bytes, n) : this.#sendSpsc(bytes, n);
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
    this.#ensureOpen();
    if (!Array.isArray(messages)) throw new TypeError("trySendMany() takes an array of Uint8Array");
    // Each element is read once, here: an array with getters could otherwise hand
    // the checks one message and the copy another.
    const count = messages.length;
    const list: Uint8Array[] = new Array(count);
    const lengths: number[] = new Array(count);
    for (let k = 0; k < count; k++) lengths[k] = this.#lengthOf(list[k] = messages[k]!);
    if (this.#senderEntry === -1) this.#registerSender();
    if (this.#mpmc) {
      let n = 0;
      while (n < count && this.#sendMpmc(list[n]!, lengths[n]!)) n++;
      return n;
    }
    const i = this.#i32;
    const u8 = this.#u8;
    let pos = this.#tail;
    let room = this.#capacity - ((pos - this.#headCache) | 0);
    if (room < count) {
      this.#headCache = this.#loadHead(pos);
      room = this.#capacity - ((pos - this.#headCache) | 0);
    }
    const n = Math.min(room, count);
    if (n <= 0) return 0;
    // Payloads first, then the headers that publish them, together: a receiver
    // polling the next header does not fight the sender for it message by message.
    for (let k = 0, p = pos; k < n; k++, p = (p + 1) | 0) {
      const slot = this.#header(p);
      i[slot + SLOT_LEN] = lengths[k]!;
      u8.set(list[k]!, this.#payload(p));
      i[slot + SLOT_POS] = p;
    }
    for (let k = 0; k < n; k++) {
      const slot = this.#header(pos);
      pos = (pos + 1) | 0;
      Atomics.store(i, slot + SLOT_SEQ, pos); // publishes this one (a full barrier)
    }
    this.#tail = pos;
    i[H.TAIL] = pos; // only a later sender handle reads it (see #registerSender)
    if (Atomics.load(i, H.RECEIVERS_WAITING) !== 0) this.#wake(this.#data);
    return n;
  }

  /**
   * Sends, blocking this thread while the ring is full.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  sendSync(bytes: Uint8Array, options?: ChannelWaitSyncOptions): void {
    const o = checkWait(options, "sendSync", SYNC_WAIT_KEYS);
    if (this.trySend(bytes)) return;
    this.#waitSync(() => this.trySend(bytes) || undefined, this.#senders, o);
  }

  /**
   * Sends, awaiting room without blocking the event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted
   */
  async send(bytes: Uint8Array, options?: ChannelWaitOptions): Promise<void> {
    const o = checkWait(options, "send", WAIT_KEYS);
    if (this.trySend(bytes)) return;
    await this.#waitAsync(() => this.trySend(bytes) || undefined, this.#senders, o);
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
    if (
      this.#receiving && this.#head === this.#freed && !this.#mpmc && !this.#closed &&
      this.#deferred === undefined
    ) {
      // The spsc fast path: copy straight out of the slot, no view in between.
      const slot = this.#nextSlotSpsc();
      if (slot < 0) return undefined;
      const pos = this.#head;
      const len = this.#lengthAt(slot, pos);
      if (len < 0) throw this.#rejectSlot(slot, pos);
      const copy = copyWordsOut(this.#i32, this.#payload(pos) >> 2, len, this.#u8);
      this.#consumedSpsc(pos);
      return copy;
    }
    const view = this.#take();
    if (view === undefined) {
      this.#throwIfEnded();
      return undefined;
    }
    const copy = copyOut(view.bytes);
    view.release();
    return copy;
  }

  /**
   * Takes up to `max` waiting messages at once (copies), freeing their slots
   * together. Returns `[]` when the ring is empty.
   *
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   */
  tryReceiveMany(max = Infinity): Uint8Array[] {
    checkMax(max);
    this.#ensureOpen();
    // mpmc claims slots one by one; with spsc views still out, slots must free in order.
    if (this.#mpmc) return this.#receiveOneByOne(max);
    if (!this.#receiving) this.#claimReceiver();
    const i = this.#i32;
    let pos = this.#head;
    if (pos !== this.#freed || this.#deferred !== undefined) return this.#receiveOneByOne(max);
    const out: Uint8Array[] = [];
    while (out.length < max) {
      const slot = this.#header(pos);
      const first = out.length === 0;
      if (!this.#readySpsc(slot, pos, first)) break;
      const len = this.#lengthAt(slot, pos);
      if (len < 0) {
        if (first) throw this.#rejectSlot(slot, pos);
        break; // the next call reports it; these are good
      }
      const start = this.#payload(pos);
      out.push(copyOut(this.#u8.subarray(start, start + len)));
      pos = (pos + 1) | 0;
    }
    if (out.length === 0) {
      this.#throwIfEnded();
      return out;
    }
    this.#head = this.#freed = pos;
    Atomics.store(i, H.HEAD, pos);
    if (Atomics.load(i, H.SENDERS_WAITING) !== 0) this.#wake(this.#space);
    return out;
  }

  /**
   * Up to `max` copies, one slot at a time. Messages already taken are never
   * thrown away with an error: an error met after some (a dead sender's
   * dropped message, a corrupted slot, which #take has already freed) is kept
   * and thrown by the next receive, so it is reported, never lost.
   */
  #receiveOneByOne(max: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (out.length < max) {
      let view: SlotView | undefined;
      try {
        view = this.#take();
      } catch (e) {
        if (out.length === 0) throw e;
        this.#deferred = e;
        break;
      }
      if (view === undefined) break;
      out.push(copyOut(view.bytes));
      view.release();
    }
    if (out.length === 0) this.#throwIfEnded();
    return out;
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
    // The buffer's own length, not a subclass's `length` getter: the copy writes that many bytes.
    const room = byteLengthOf(buffer, "tryReceiveInto()");
    this.#ensureOpen();
    if (this.#mpmc || this.#head !== this.#freed || this.#deferred !== undefined) {
      const view = this.#take(room);
      if (view === undefined) {
        this.#throwIfEnded();
        return undefined;
      }
      try {
        typedArraySet.call(buffer, view.bytes);
      } finally {
        view.release();
      }
      return view.bytes.length;
    }
    if (!this.#receiving) this.#claimReceiver();
    const slot = this.#nextSlotSpsc();
    if (slot < 0) return undefined;
    const i = this.#i32;
    const pos = this.#head;
    const len = this.#lengthAt(slot, pos);
    if (len < 0) throw this.#rejectSlot(slot, pos);
    if (len > room) throw tooSmall(len, room);
    const from = (this.#payload(pos)) >> 2;
    const offset = byteOffsetOf(buffer);
    if ((offset & 3) === 0 && len <= 1024) {
      // Word copy through a cached Int32Array over the caller's buffer: no allocation.
      let words = this.#intoWords;
      const backing = bufferOf(buffer);
      if (
        words === undefined || words.buffer !== backing || words.byteOffset !== offset ||
        words.length !== room >> 2
      ) {
        words = this.#intoWords = new Int32Array(backing, offset, room >> 2);
      }
      const n = len >> 2;
      for (let k = 0; k < n; k++) words[k] = i[from + k]!;
      const u8 = this.#u8;
      for (let k = n << 2; k < len; k++) buffer[k] = u8[(from << 2) + k]!;
    } else {
      typedArraySet.call(buffer, this.#u8.subarray(from << 2, (from << 2) + len));
    }
    this.#consumedSpsc(pos);
    return len;
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
    this.#ensureOpen();
    if (
      this.#mpmc || (this.#receiving && this.#head !== this.#freed) || this.#deferred !== undefined
    ) {
      // One view at a time: mpmc slots are claimed one by one, and with views
      // still out, spsc slots must be freed in order.
      let n = 0;
      for (let view; n < max && (view = this.#take()) !== undefined;) {
        n++;
        try {
          callback(view.bytes);
        } finally {
          view.release();
        }
      }
      if (n === 0) this.#throwIfEnded();
      return n;
    }
    if (!this.#receiving) this.#claimReceiver();
    const start = this.#head;
    let pos = start;
    try {
      while (((pos - start) | 0) < max) {
        const slot = this.#header(pos);
        const first = pos === start;
        if (!this.#readySpsc(slot, pos, first)) break;
        const len = this.#lengthAt(slot, pos);
        if (len < 0) {
          if (first) throw this.#rejectSlot(slot, pos);
          break; // the next call reports it; these are good
        }
        const index = pos & this.#mask;
        let view = this.#slotViews[index];
        if (view === undefined || view.length !== len) {
          const at = this.#payload(pos);
          view = this.#slotViews[index] = this.#u8.subarray(at, at + len);
        }
        pos = (pos + 1) | 0;
        callback(view);
      }
    } finally {
      if (pos !== start && !this.#closed) this.#consumedSpsc((pos - 1) | 0);
    }
    if (pos === start) this.#throwIfEnded();
    return (pos - start) | 0;
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
      this.#waitSync(
        () => this.tryReceiveEach(callback, o.max) || undefined,
        this.#receivers,
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
   * @throws `signal.reason` when aborted
   */
  async receiveEach(
    callback: (bytes: Uint8Array) => void,
    options?: ChannelWaitOptions & { max?: number },
  ): Promise<number> {
    const o = checkWait(options, "receiveEach", EACH_KEYS);
    return this.tryReceiveEach(callback, o.max) ||
      await this.#waitAsync(
        () => this.tryReceiveEach(callback, o.max) || undefined,
        this.#receivers,
        o,
      );
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
      this.#waitSync(() => this.tryReceiveInto(buffer), this.#receivers, o);
  }

  /**
   * {@linkcode Channel.tryReceiveInto}, awaiting a message without blocking
   * the event loop.
   *
   * @returns the message length
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws `signal.reason` when aborted
   */
  async receiveInto(buffer: Uint8Array, options?: ChannelWaitOptions): Promise<number> {
    const o = checkWait(options, "receiveInto", WAIT_KEYS);
    return this.tryReceiveInto(buffer) ??
      await this.#waitAsync(() => this.tryReceiveInto(buffer), this.#receivers, o);
  }

  /** Int32 index of the header of position `pos`'s slot. */
  #header(pos: number): number {
    return (SLOTS_OFFSET >> 2) + ((pos & this.#mask) << 2);
  }

  /** Byte offset of the payload of position `pos`'s slot. */
  #payload(pos: number): number {
    return this.#data0 + (pos & this.#mask) * this.#stride;
  }

  /** Has the message for position `pos` been published in its slot (header `slot`)? */
  #isReady(slot: number, pos: number): boolean {
    return Atomics.load(this.#i32, slot + SLOT_SEQ) === ((pos + 1) | 0);
  }

  /** spsc: the slot holding the next message, or -1 when there is none yet (or it ended: throws). */
  #nextSlotSpsc(): number {
    const pos = this.#head;
    const slot = this.#header(pos);
    if (this.#readySpsc(slot, pos, true)) return slot;
    this.#throwIfEnded();
    return -1;
  }

  /**
   * spsc receiver: is position `pos` published? Receivers never write seq in
   * spsc, so an unpublished slot holds the previous lap's `pos − capacity + 1`
   * (or, on the first lap, its own index): anything else is not the
   * library's, and `strict` says so instead of waiting on it forever.
   */
  #readySpsc(slot: number, pos: number, strict: boolean): boolean {
    const seq = Atomics.load(this.#i32, slot + SLOT_SEQ);
    if (seq === ((pos + 1) | 0)) return true;
    if (strict && seq !== pos && seq !== ((pos + 1 - this.#capacity) | 0)) {
      throw this.#corrupt(`slot ${pos & this.#mask}'s seq`, seq, `position ${pos}`);
    }
    return false;
  }

  /**
   * The length of the message published at `pos`, or -1 when its words are
   * not what a sender writes: a length past maxMessageSize would copy other
   * messages' bytes, and a position not `pos` means the seq word was forged
   * or the payload is half-written. One compare each, on a line already read.
   */
  #lengthAt(slot: number, pos: number): number {
    const i = this.#i32;
    const len = i[slot + SLOT_LEN]!;
    return len >= 0 && len <= this.#max && i[slot + SLOT_POS] === pos ? len : -1;
  }

  /** A slot whose message fails {@linkcode Channel.#lengthAt}: frees it (the ring goes on) and says why. */
  #rejectSlot(slot: number, pos: number): Deno.errors.InvalidData {
    const i = this.#i32;
    const len = i[slot + SLOT_LEN]!;
    const e = len >= 0 && len <= this.#max
      ? this.#corrupt(`slot ${pos & this.#mask}'s position`, i[slot + SLOT_POS]!, `position ${pos}`)
      : this.#corrupt(`slot ${pos & this.#mask}'s length`, len, `maxMessageSize ${this.#max}`);
    if (!this.#mpmc && this.#head === pos) this.#head = (pos + 1) | 0;
    this.#free(slot, pos);
    return e;
  }

  /** spsc: position `pos` (the oldest taken) is consumed; give its slot back. */
  #consumedSpsc(pos: number): void {
    const i = this.#i32;
    this.#head = this.#freed = (pos + 1) | 0;
    Atomics.store(i, H.HEAD, this.#head); // after the copy out (a full barrier)
    if (Atomics.load(i, H.SENDERS_WAITING) !== 0) this.#wake(this.#space);
  }

  /**
   * Takes the next message without copying it: the bytes stay in the ring
   * until `release()` (or the end of a `using` scope), and the slot is not
   * reused meanwhile.
   *
   * @returns the view, or `undefined` when the ring is empty
   */
  tryReceiveView(): MessageView | undefined {
    const view = this.#take();
    if (view === undefined) this.#throwIfEnded();
    else if (this.#mpmc) this.#heldViews.add(view);
    return view;
  }

  /**
   * Receives, blocking this thread while the ring is empty.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   */
  receiveSync(options?: ChannelWaitSyncOptions): Uint8Array {
    const o = checkWait(options, "receiveSync", SYNC_WAIT_KEYS);
    return this.tryReceive() ??
      this.#waitSync(() => this.tryReceive(), this.#receivers, o);
  }

  /**
   * Receives, awaiting a message without blocking the event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws `signal.reason` when aborted
   */
  async receive(options?: ChannelWaitOptions): Promise<Uint8Array> {
    const o = checkWait(options, "receive", WAIT_KEYS);
    // The copy is made inside the attempt: nothing can close the handle between taking and copying.
    return this.tryReceive() ??
      await this.#waitAsync(() => this.tryReceive(), this.#receivers, o);
  }

  /**
   * Zero-copy {@linkcode Channel.receive}: see {@linkcode Channel.tryReceiveView}.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.UnexpectedEof} when the stream has ended
   * @throws `signal.reason` when aborted
   */
  async receiveView(options?: ChannelWaitOptions): Promise<MessageView> {
    const o = checkWait(options, "receiveView", WAIT_KEYS);
    return this.tryReceiveView() ??
      await this.#waitAsync(() => this.tryReceiveView(), this.#receivers, o);
  }

  /** Receives until the stream ends: `for await (const msg of channel)`. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (e) {
        if (e instanceof Deno.errors.UnexpectedEof) return;
        throw e;
      }
    }
  }

  /**
   * Ends this sender's stream: receivers get everything sent before, then
   * the end (once every sender has ended, closed or died). A handle that has
   * not sent becomes a sender that sent nothing. Idempotent.
   *
   * @throws {Deno.errors.BadResource} once closed
   */
  end(): void {
    this.#ensureOpen();
    if (this.#senderEntry === -1) this.#registerSender();
    this.#finishSender();
    this.#wakeAll(0);
  }

  /**
   * Releases this handle (not the channel: see {@linkcode Channel.unlink});
   * idempotent. If it has sent, its stream ends as with `end()`. Its pending
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
    if (this.#closed) return;
    this.#closed = true;
    const i = this.#i32;
    // This handle's sleepers leave the shared counts now: once unmapped, their waits cannot.
    const ownReceivers = this.#receivers.counted;
    for (const side of [this.#senders, this.#receivers]) {
      if (side.counted !== 0) Atomics.sub(i, side.waiting, side.counted);
      side.counted = 0;
    }
    for (const view of this.#heldViews) view.release();
    // A park of this handle still in flight may take one of the posts: post for it too.
    if (this.#finishSender()) this.#wakeAll(ownReceivers, false);
    this.#releaseReceiver();
    this.#data.close();
    this.#space.close();
    this.#shm.close();
  }

  /** Same as {@linkcode Channel.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- sending ----

  #sendSpsc(bytes: Uint8Array, n: number): boolean {
    const i = this.#i32;
    const pos = this.#tail;
    if (((pos - this.#headCache) | 0) >= this.#capacity) {
      this.#headCache = this.#loadHead(pos);
      if (((pos - this.#headCache) | 0) >= this.#capacity) return false; // full
    }
    const slot = this.#header(pos);
    i[slot + SLOT_LEN] = n;
    this.#u8.set(bytes, this.#payload(pos));
    i[slot + SLOT_POS] = pos;
    const next = (pos + 1) | 0;
    this.#tail = next;
    Atomics.store(i, slot + SLOT_SEQ, next); // publishes the slot (a full barrier)
    i[H.TAIL] = next; // only a later sender handle reads it (see #registerSender)
    if (Atomics.load(i, H.RECEIVERS_WAITING) !== 0) this.#wake(this.#data);
    return true;
  }

  #sendMpmc(bytes: Uint8Array, n: number): boolean {
    const i = this.#i32;
    for (;;) {
      const pos = Atomics.load(i, H.TAIL);
      const slot = this.#header(pos);
      const seq = Atomics.load(i, slot + SLOT_SEQ);
      const dif = (seq - pos) | 0;
      if (dif < 0) {
        // Full: the slot still holds (or is being emptied of) the previous lap, pos − capacity.
        if (dif < -this.#capacity) throw this.#corrupt(`slot ${pos & this.#mask}'s seq`, seq);
        return false;
      }
      if (dif > 0) {
        // Another sender took pos, so TAIL has moved on; a TAIL that has not moved means the
        // seq word is not the library's, and looping on it would never end.
        if (Atomics.load(i, H.TAIL) === pos) {
          throw this.#corrupt(`slot ${pos & this.#mask}'s seq`, seq);
        }
        continue;
      }
      if (Atomics.compareExchange(i, H.TAIL, pos, (pos + 1) | 0) !== pos) continue;
      Atomics.store(i, slot + SLOT_OWNER, pid);
      i[slot + SLOT_LEN] = n;
      this.#u8.set(bytes, this.#payload(pos));
      i[slot + SLOT_POS] = pos;
      Atomics.store(i, slot + SLOT_SEQ, (pos + 1) | 0);
      if (Atomics.load(i, H.RECEIVERS_WAITING) !== 0) this.#wake(this.#data);
      return true;
    }
  }

  #registerSender(): void {
    this.#ensureOpen();
    const i = this.#i32;
    const base = SENDERS_OFFSET >> 2;
    for (let attempt = 0; attempt < 2; attempt++) {
      for (let s = 0; s < MAX_SENDERS; s++) {
        const e = base + s * (SENDER_ENTRY >> 2);
        if (!this.#mpmc) {
          const state = Atomics.load(i, e + 2);
          const other = this.#pidAt(e, `sender ${s}'s pid`);
          if (
            state === SENDER_ACTIVE && other !== 0 && isAlive(other) &&
            Atomics.load(i, e + 1) !== this.#token
          ) {
            throw new Deno.errors.Busy(
              `Cannot send on channel "${this.#name}": it is "spsc" and already has a sender ` +
                `(pid ${other}${other === pid ? ", this process" : ""}); ` +
                `create it with topology "mpmc" for several senders`,
            );
          }
        }
      }
      for (let s = 0; s < MAX_SENDERS; s++) {
        const e = base + s * (SENDER_ENTRY >> 2);
        if (Atomics.compareExchange(i, e, 0, pid) === 0) {
          Atomics.store(i, e + 1, this.#token);
          Atomics.store(i, e + 2, SENDER_ACTIVE);
          Atomics.add(i, H.REGISTERED, 1);
          Atomics.add(i, H.ACTIVE, 1);
          this.#senderEntry = e;
          this.#tail = this.#firstFreePosition();
          this.#headCache = Atomics.load(i, H.HEAD);
          return;
        }
      }
      // Full: free the entries of dead senders that ended (their end is recorded by being gone).
      for (let s = 0; s < MAX_SENDERS; s++) {
        const e = base + s * (SENDER_ENTRY >> 2);
        const p = this.#pidAt(e, `sender ${s}'s pid`);
        if (p !== 0 && Atomics.load(i, e + 2) === SENDER_ENDED && !isAlive(p)) {
          Atomics.store(i, e, 0);
        }
      }
    }
    throw new Deno.errors.Busy(`The channel's table of ${MAX_SENDERS} senders is full`);
  }

  /**
   * Where a new spsc sender continues. The previous sender stored TAIL just
   * after publishing; if it died in between, TAIL is one behind a published
   * slot, which must be skipped, not overwritten.
   */
  #firstFreePosition(): number {
    if (this.#mpmc) return 0; // mpmc senders take TAIL afresh each send
    let pos = this.#spscTail();
    for (let k = 0; k < this.#capacity && this.#isReady(this.#header(pos), pos); k++) {
      pos = (pos + 1) | 0;
    }
    return pos;
  }

  // ---- receiving ----

  /**
   * Takes the next message's slot. A message longer than `fits` is refused
   * with a RangeError before it is taken, so it stays in the ring.
   */
  #take(fits = Infinity): SlotView | undefined {
    this.#ensureOpen();
    if (this.#deferred !== undefined) {
      const e = this.#deferred;
      this.#deferred = undefined;
      throw e;
    }
    const i = this.#i32;
    if (!this.#mpmc) {
      if (!this.#receiving) this.#claimReceiver();
      const pos = this.#head;
      const slot = this.#header(pos);
      if (!this.#readySpsc(slot, pos, true)) return undefined; // empty
      const len = i[slot + SLOT_LEN]!;
      if (len > fits && len <= this.#max) throw tooSmall(len, fits);
      this.#head = (pos + 1) | 0;
      return this.#view(slot, pos);
    }
    const mask = this.#mask;
    for (;;) {
      const pos = Atomics.load(i, H.HEAD);
      const slot = this.#header(pos);
      const seq = Atomics.load(i, slot + SLOT_SEQ);
      const dif = (seq - ((pos + 1) | 0)) | 0;
      if (dif < 0) {
        // Empty: pos is free or being written (seq = pos), or the previous lap's receiver still
        // holds the slot (pos − capacity + 1). Anything lower is not the library's.
        if (dif < -this.#capacity) throw this.#corrupt(`slot ${pos & mask}'s seq`, seq);
        return undefined;
      }
      if (dif > 0) {
        // Another receiver took pos and freed it, so HEAD has moved on; if it has not, the
        // seq word is not the library's and looping on it would never end.
        if (Atomics.load(i, H.HEAD) === pos) throw this.#corrupt(`slot ${pos & mask}'s seq`, seq);
        continue;
      }
      const len = i[slot + SLOT_LEN]!;
      if (len > fits && len <= this.#max) {
        // Only if the length read is still pos's: another receiver may have taken pos meanwhile.
        if (Atomics.load(i, slot + SLOT_SEQ) === ((pos + 1) | 0)) throw tooSmall(len, fits);
        continue;
      }
      if (Atomics.compareExchange(i, H.HEAD, pos, (pos + 1) | 0) !== pos) continue;
      // A published slot names its sender (a tombstone, the dead one); a free one names nobody.
      const owner = Atomics.exchange(i, slot + SLOT_OWNER, -pid);
      if (!(owner > 0 && owner <= PID_MAX)) {
        this.#free(slot, pos);
        throw this.#corrupt(`slot ${pos & mask}'s owner`, owner, `seq ${seq}`);
      }
      return this.#view(slot, pos);
    }
  }

  /** The taken slot's message as a view, or its slot freed and the reason thrown. */
  #view(slot: number, pos: number): SlotView {
    const i = this.#i32;
    if (this.#mpmc && i[slot + SLOT_LEN] === TOMBSTONE) {
      const dead = i[slot + SLOT_DEAD] ?? 0;
      this.#free(slot, pos);
      throw new Deno.errors.BrokenPipe(
        `A sender (pid ${Math.abs(dead)}) died while writing a message; it was dropped`,
      );
    }
    const len = this.#lengthAt(slot, pos);
    if (len < 0) throw this.#rejectSlot(slot, pos);
    const start = this.#payload(pos);
    return new SlotView(this.#u8.subarray(start, start + len), this, slot, pos);
  }

  /** Gives a taken slot back to senders. */
  #free(slot: number, pos: number): void {
    const i = this.#i32;
    if (i.length === 0) return; // closed meanwhile
    if (this.#mpmc) {
      Atomics.store(i, slot + SLOT_OWNER, 0);
      Atomics.store(i, slot + SLOT_SEQ, (pos + this.#capacity) | 0);
    } else if (pos === this.#freed) {
      let next = (pos + 1) | 0;
      const later = this.#freedOutOfOrder;
      if (later !== undefined) { while (later.delete(next)) next = (next + 1) | 0; }
      this.#freed = next;
      Atomics.store(i, H.HEAD, next);
    } else {
      // Released before an earlier view: HEAD may not pass the earlier one yet.
      (this.#freedOutOfOrder ??= new Set()).add(pos);
      return;
    }
    if (Atomics.load(i, H.SENDERS_WAITING) !== 0) this.#wake(this.#space);
  }

  static {
    freeSlot = (ch, view, slot, pos) => {
      if (ch.#heldViews.size !== 0) ch.#heldViews.delete(view);
      ch.#free(slot, pos);
    };
  }

  #claimReceiver(): void {
    // One receiver at a time in spsc: it continues from the shared head.
    this.#spscTail(); // checks HEAD against it before trusting it
    this.#takeReceiverPlace();
    this.#receiving = true;
    this.#head = this.#freed = Atomics.load(this.#i32, H.HEAD);
  }

  /**
   * spsc: TAIL, checked against HEAD. Its last sender stored TAIL just after
   * publishing, so TAIL is at most one behind HEAD, and never a lap ahead.
   */
  #spscTail(): number {
    const i = this.#i32;
    const tail = Atomics.load(i, H.TAIL);
    const head = Atomics.load(i, H.HEAD);
    const d = (tail - head) | 0;
    if (d < -1 || d > this.#capacity) throw this.#corrupt("tail", tail, `head ${head}`);
    return tail;
  }

  /**
   * mpmc, after a sleep slice ended empty-handed: are HEAD and TAIL possible?
   * A HEAD pushed past TAIL (or TAIL more than a lap ahead) reads as an empty
   * (or full) ring forever; this turns that into InvalidData within a slice.
   */
  #checkPositions(): void {
    if (!this.#mpmc) return;
    const i = this.#i32;
    // TAIL on both sides of HEAD: each bound holds at the instant of its own reads.
    const t1 = Atomics.load(i, H.TAIL);
    const head = Atomics.load(i, H.HEAD);
    const t2 = Atomics.load(i, H.TAIL);
    if (((t1 - head) | 0) > this.#capacity || ((t2 - head) | 0) < 0) {
      throw this.#corrupt("head", head, `tail ${t2}`);
    }
  }

  /**
   * spsc: becomes the channel's one receiver, or throws Busy naming the live
   * one. A dead holder's place is taken over; the compare-exchange on its pid
   * decides between two that try at once.
   */
  #takeReceiverPlace(): void {
    const i = this.#i32;
    const giveUp = performance.now() + OPEN_WAIT_MS;
    for (;;) {
      const holder = Atomics.compareExchange(i, H.RECEIVER_TOKEN, 0, this.#token);
      if (holder === 0) {
        Atomics.store(i, H.RECEIVER_PID, pid);
        return;
      }
      const other = this.#pidAt(H.RECEIVER_PID, "receiver pid");
      if (other !== 0 && isAlive(other)) {
        throw new Deno.errors.Busy(
          `Cannot receive from channel "${this.#name}": it is "spsc" and already has a receiver ` +
            `(pid ${other}${other === pid ? ", this process" : ""}); ` +
            `create it with topology "mpmc" for several receivers`,
        );
      }
      // pid 0: a claimer between its two stores, or a releaser between its two; wait for it.
      if (other === 0 && performance.now() < giveUp) {
        napSync();
        continue;
      }
      if (Atomics.compareExchange(i, H.RECEIVER_PID, other, pid) === other) {
        Atomics.store(i, H.RECEIVER_TOKEN, this.#token);
        return;
      }
    }
  }

  /** spsc: frees the receiver's place, pid first (a claimer seeing pid 0 waits for the token). */
  #releaseReceiver(): void {
    if (this.#mpmc || !this.#receiving) return;
    const i = this.#i32;
    if (Atomics.load(i, H.RECEIVER_TOKEN) !== this.#token) return;
    Atomics.store(i, H.RECEIVER_PID, 0);
    Atomics.compareExchange(i, H.RECEIVER_TOKEN, this.#token, 0);
  }

  /** Marks this handle's sender entry ended; true if that ended an active sender. */
  #finishSender(): boolean {
    if (this.#senderEntry === -1) return false;
    const i = this.#i32;
    if (Atomics.exchange(i, this.#senderEntry + 2, SENDER_ENDED) !== SENDER_ACTIVE) return false;
    Atomics.sub(i, H.ACTIVE, 1);
    return true;
  }

  // ---- end of stream and faults ----

  /**
   * Throws at the end of the stream. Cheap unless `checkLiveness`: senders
   * that died without end() are only looked for by a receiver whose sleep
   * slice ended empty (liveness costs system calls and a /proc read).
   */
  #throwIfEnded(checkLiveness = false): void {
    if (this.#streamEnded && !this.#peek()) {
      throw new Deno.errors.UnexpectedEof(
        "The channel has ended: every sender called end() or exited",
      );
    }
    const i = this.#i32;
    // Cheap answers first: this runs on every empty poll of a spinning receiver.
    if (Atomics.load(i, H.REGISTERED) === 0) return; // no sender yet
    if (Atomics.load(i, H.ACTIVE) > 0 && !checkLiveness) return;
    const base = SENDERS_OFFSET >> 2;
    let any = false;
    let died = 0;
    for (let s = 0; s < MAX_SENDERS; s++) {
      const e = base + s * (SENDER_ENTRY >> 2);
      const p = this.#pidAt(e, `sender ${s}'s pid`);
      if (p === 0) continue;
      any = true;
      const state = Atomics.load(i, e + 2);
      if (state === SENDER_ENDED) continue;
      // 0 is a sender between claiming its entry and marking it active.
      if (state !== SENDER_ACTIVE && state !== 0) throw this.#corrupt(`sender ${s}'s state`, state);
      if (p === pid || isAlive(p)) return; // a live sender may still send
      died = p;
    }
    if (!any) return;
    // Re-check emptiness: a message may have landed after our look.
    if (this.#peek()) return;
    this.#streamEnded = true;
    if (died !== 0 && !this.#endedReported) {
      this.#endedReported = true;
      throw new Deno.errors.BrokenPipe(
        `The channel ended because its sender (pid ${died}) died without end()`,
      );
    }
    throw new Deno.errors.UnexpectedEof(
      "The channel has ended: every sender called end() or exited",
    );
  }

  #peek(): boolean {
    const i = this.#i32;
    const pos = !this.#mpmc && this.#receiving ? this.#head : Atomics.load(i, H.HEAD);
    return this.#isReady(this.#header(pos), pos);
  }

  /** A receiver's sleep ended empty-handed: is the next slot held by a dead sender mid-write? */
  #dropSlotOfDeadSender(): void {
    if (!this.#mpmc) return; // spsc publishes atomically: a dead sender leaves nothing half-written
    const i = this.#i32;
    const pos = Atomics.load(i, H.HEAD);
    if (Atomics.load(i, H.TAIL) === pos) return; // truly empty
    const slot = this.#header(pos);
    if (Atomics.load(i, slot + SLOT_SEQ) !== pos) return;
    const owner = this.#pidAt(slot + SLOT_OWNER, `slot ${pos & this.#mask}'s owner`, true);
    if (owner <= 0 || isAlive(owner)) return;
    // Publish a tombstone in its place, exactly once (the seq CAS decides).
    i[slot + SLOT_LEN] = TOMBSTONE;
    i[slot + SLOT_DEAD] = owner;
    if (Atomics.compareExchange(i, slot + SLOT_SEQ, pos, (pos + 1) | 0) === pos) {
      Atomics.add(i, H.DROPPED, 1);
    }
  }

  /** A sender's sleep ended with the ring still full: did a receiver die holding the slot? */
  #freeSlotOfDeadReceiver(): void {
    if (!this.#mpmc) return;
    const i = this.#i32;
    const pos = Atomics.load(i, H.TAIL);
    const slot = this.#header(pos);
    const seq = Atomics.load(i, slot + SLOT_SEQ);
    const owner = this.#pidAt(slot + SLOT_OWNER, `slot ${pos & this.#mask}'s owner`, true);
    // Only a slot a receiver took and never freed: it still holds pos − capacity + 1.
    if (owner >= 0 || seq !== ((pos + 1 - this.#capacity) | 0) || isAlive(-owner)) return;
    // The dead receiver had taken position pos - capacity: free the slot for pos. The owner
    // word goes first, so that it can never be cleared after a new sender wrote its pid there.
    if (Atomics.compareExchange(i, slot + SLOT_OWNER, owner, 0) !== owner) return;
    if (Atomics.compareExchange(i, slot + SLOT_SEQ, seq, pos) === seq) {
      Atomics.add(i, H.DROPPED, 1);
    }
  }

  // ---- waiting ----

  /**
   * The one waiting loop behind every blocking send and receive: spin, then
   * announce ourselves as a sleeper (so the other side posts), re-check, and
   * sleep for a slice; a slice that ends empty-handed looks for dead peers.
   */
  #waitSync<T>(attempt: () => T | undefined, side: WaitSide, options: Wait): T {
    try {
      return this.#waitSyncLoop(attempt, side, options);
    } catch (e) {
      throw this.#closedWhileWaiting(side, e);
    }
  }

  #waitSyncLoop<T>(attempt: () => T | undefined, side: WaitSide, options: Wait): T {
    const { timeout, spinMicros } = options;
    const deadline = deadlineOf(timeout);
    const spinMs = this.#spinOf(spinMicros, timeout);
    for (;;) {
      let got: T | undefined;
      if (this.#spin(() => (got = attempt()) !== undefined, spinMs, deadline)) return got!;
      this.#sleeping(side);
      try {
        const again = attempt();
        if (again !== undefined) return again;
        const left = deadline - performance.now();
        if (left <= 0) throw timedOut(side.verb, timeout);
        try {
          side.sem.waitSync({ timeout: Math.min(SLICE_MS, left), spinMicros: 0 });
        } catch (e) {
          if (!(e instanceof Deno.errors.TimedOut)) throw e;
          side.afterSlice();
        }
      } finally {
        this.#awake(side);
      }
    }
  }

  /** {@linkcode Channel.#waitSync} without blocking the event loop, with `signal`. */
  async #waitAsync<T>(attempt: () => T | undefined, side: WaitSide, options: Wait): Promise<T> {
    try {
      return await this.#waitAsyncLoop(attempt, side, options);
    } catch (e) {
      throw this.#closedWhileWaiting(side, e);
    }
  }

  async #waitAsyncLoop<T>(
    attempt: () => T | undefined,
    side: WaitSide,
    options: Wait,
  ): Promise<T> {
    const { signal, timeout, spinMicros } = options;
    signal?.throwIfAborted();
    const deadline = deadlineOf(timeout);
    const spinMs = this.#spinOf(spinMicros, timeout);
    for (;;) {
      let got: T | undefined;
      if (this.#spin(() => (got = attempt()) !== undefined, spinMs, deadline)) return got!;
      this.#sleeping(side);
      try {
        const again = attempt();
        if (again !== undefined) return again;
        const left = deadline - performance.now();
        if (left <= 0) throw timedOut(side.verb, timeout);
        try {
          await side.sem.wait({
            timeout: Math.min(SLICE_MS, left),
            spinMicros: 0,
            ...(signal ? { signal } : {}),
          });
        } catch (e) {
          if (!(e instanceof Deno.errors.TimedOut)) throw e;
          side.afterSlice();
        }
      } finally {
        this.#awake(side);
      }
    }
  }

  /** Counts this wait as a sleeper, so the other side posts. */
  #sleeping(side: WaitSide): void {
    Atomics.add(this.#i32, side.waiting, 1);
    side.counted++;
  }

  /** Uncounts it, unless close() already did (the mapping is gone then). */
  #awake(side: WaitSide): void {
    if (this.#closed) return;
    Atomics.sub(this.#i32, side.waiting, 1);
    side.counted--;
  }

  /** Whatever ended a wait of a handle closed meanwhile, the caller learns that. */
  #closedWhileWaiting(side: WaitSide, e: unknown): unknown {
    if (!this.#closed) return e;
    return new Deno.errors.BadResource(
      `Channel ${this.#name} was closed while waiting to ${side.verb}`,
      { cause: e },
    );
  }

  #spinOf(spinMicros: number | undefined, timeout: number | undefined): number {
    if (spinMicros === undefined) return timeout === 0 ? 0 : this.#spinMs;
    return spinMicros / 1000;
  }

  #spin(attempt: () => boolean, spinMs: number, deadline: number): boolean {
    // A wake-up through the semaphore costs tens to hundreds of µs on these
    // VMs, so a waiter polls for up to spinMs first. The clock is read only
    // every 256 polls, and not before the first 256: it costs more than a
    // poll here (0.1–3 µs), and a peer that answers at once should not pay it.
    if (spinMs <= 0) return false;
    for (let k = 0; k < 256; k++) if (attempt()) return true;
    // Never past the wait's deadline: a spin is a cheaper sleep, not a longer wait.
    const end = Math.min(performance.now() + spinMs, deadline);
    do {
      for (let k = 0; k < 256; k++) if (attempt()) return true;
    } while (performance.now() < end);
    return false;
  }

  #wake(sem: Semaphore): void {
    if (sem.value === 0) sem.post();
  }

  /**
   * Posts once for every sleeping receiver. The count is another process's
   * word too: one past MAX_WAITERS would post for minutes, so `end()` refuses
   * it, and `close()` (which must release this handle whatever the mapping
   * holds) posts only for its own waits.
   */
  #wakeAll(extra: number, strict = true): void {
    const n = Atomics.load(this.#i32, H.RECEIVERS_WAITING);
    let posts = extra;
    if (n >= 0 && n <= MAX_WAITERS) posts += n;
    else if (strict) throw this.#corrupt("receivers-waiting count", n);
    for (; posts > 0; posts--) this.#data.post();
  }

  /** The real length of a message to send: checked whole before any slot is claimed. */
  #lengthOf(bytes: Uint8Array): number {
    this.#ensureOpen();
    const n = byteLengthOf(bytes, "send()");
    if (n > this.#max) {
      throw new RangeError(
        `A ${n}-byte message exceeds this channel's maxMessageSize (${this.#max})`,
      );
    }
    return n;
  }

  /** spsc sender: HEAD, which must lie within one lap behind `tail`. */
  #loadHead(tail: number): number {
    const head = Atomics.load(this.#i32, H.HEAD);
    const d = (tail - head) | 0;
    if (d < 0 || d > this.#capacity) throw this.#corrupt("head", head, `tail ${tail}`);
    return head;
  }

  /** A pid read from the mapping (negative for a receiver's slot claim when `signed`). */
  #pidAt(index: number, field: string, signed = false): number {
    const p = Atomics.load(this.#i32, index);
    if (p <= PID_MAX && p >= (signed ? -PID_MAX : 0)) return p;
    throw this.#corrupt(field, p);
  }

  /** A word no process running this library could have written: the channel is corrupt. */
  #corrupt(field: string, value: number, beside = ""): Deno.errors.InvalidData {
    return new Deno.errors.InvalidData(
      `Channel "${this.#name}" is corrupt: its ${field} holds ${value}` +
        `${beside === "" ? "" : ` (beside ${beside})`}, which this library never writes`,
    );
  }

  #ensureOpen(): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Cannot use channel ${this.#name}: this handle is closed`);
    }
  }
}

// Small messages are copied into a shared private arena (as Node's Buffer pool
// does): allocating one ArrayBuffer per 64-byte message costs more than the
// whole ring transfer. A returned message keeps its arena alive until collected.
const ARENA_BYTES = 64 * 1024;
const ARENA_MAX_MESSAGE = 4096;
let arena = new Uint8Array(ARENA_BYTES);
let arenaWords = new Int32Array(arena.buffer); // for word copies into the arena
let arenaUsed = 0;

/** Starts a fresh arena when `n` more bytes would not fit (the old one lives on in its messages). */
function makeArenaRoom(n: number): void {
  if (arenaUsed + n <= ARENA_BYTES) return;
  arena = new Uint8Array(ARENA_BYTES);
  arenaWords = new Int32Array(arena.buffer);
  arenaUsed = 0;
}

function copyOut(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n > ARENA_MAX_MESSAGE) return bytes.slice();
  makeArenaRoom(n);
  const out = arena.subarray(arenaUsed, arenaUsed + n);
  out.set(bytes);
  arenaUsed += (n + 7) & ~7;
  return out;
}

/** {@linkcode copyOut} of `len` bytes starting at word `from` of `words`, without a view of the source. */
function copyWordsOut(words: Int32Array, from: number, len: number, bytes: Uint8Array): Uint8Array {
  if (len > 256) return copyOut(bytes.subarray(from << 2, (from << 2) + len));
  makeArenaRoom(len);
  const at = arenaUsed;
  const n = len >> 2;
  for (let k = 0, w = at >> 2; k < n; k++) arenaWords[w + k] = words[from + k]!;
  for (let k = n << 2; k < len; k++) arena[at + k] = bytes[(from << 2) + k]!;
  arenaUsed += (len + 7) & ~7;
  return arena.subarray(at, at + len);
}

function tooSmall(need: number, have: number): RangeError {
  return new RangeError(`The message is ${need} bytes; the buffer holds ${have}`);
}

function checkInt(v: unknown, what: string, min: number, max: number): void {
  if (typeof v !== "number") throw new TypeError(`${what} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${v}`);
  }
}

function timedOut(what: string, timeout: number | undefined): Deno.errors.TimedOut {
  return new Deno.errors.TimedOut(`Timed out after ${timeout} ms waiting to ${what}`);
}

function checkTopology(topology: unknown): void {
  if (topology !== "mpmc" && topology !== "spsc") {
    throw new TypeError(`topology must be "mpmc" or "spsc", got ${JSON.stringify(topology)}`);
  }
}

function powerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/**
 * Checks a wait's options before anything is tried: `deno run` does not
 * type-check, and a misspelled `timeoutMs` would otherwise wait forever.
 */
function checkWait(options: unknown, method: string, known: readonly string[]): Wait {
  if (options === undefined) return NO_WAIT_OPTIONS;
  const what = `Channel.${method}()`;
  checkChannelOptions(options, what, known);
  // Read once: a getter must not hand these checks one value and the wait another.
  const { timeout, spinMicros, signal, max = Infinity } = options as ChannelWaitOptions & {
    max?: number;
  };
  checkTimeout(timeout);
  if (spinMicros !== undefined) checkSpin(spinMicros);
  if (signal !== undefined) checkSignal(signal);
  checkMax(max);
  return { timeout, spinMicros, signal, max };
}

/** {@linkcode checkOptions}, and an array is not an options object either. */
function checkChannelOptions(options: unknown, what: string, known: readonly string[]): void {
  if (Array.isArray(options)) throw new TypeError(`${what} options must be an object`);
  checkOptions(options, what, known);
}

/** A wait's options, checked and read once (see {@linkcode checkWait}). */
interface Wait {
  readonly timeout: number | undefined;
  readonly spinMicros: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly max: number;
}

const NO_WAIT_OPTIONS: Wait = Object.freeze({
  timeout: undefined,
  spinMicros: undefined,
  signal: undefined,
  max: Infinity,
});

const abortedOf = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")!.get!;

/** A real AbortSignal: `instanceof` is fooled by `Object.create(AbortSignal.prototype)`. */
function checkSignal(signal: unknown): void {
  try {
    abortedOf.call(signal);
  } catch {
    throw new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
}

/** A batch bound: a positive integer, or Infinity for "all there are". */
function checkMax(max: unknown): void {
  if (typeof max !== "number") throw new TypeError(`max must be a number, got ${typeof max}`);
  if (!(max >= 1 && (Number.isInteger(max) || max === Infinity))) {
    throw new RangeError(`max must be a positive integer or Infinity, got ${max}`);
  }
}

function describe(v: unknown): string {
  return v === null ? "null" : typeof v === "object" ? Object.prototype.toString.call(v) : typeof v;
}

// The engine's own accessors: a Uint8Array subclass may override `length`,
// `byteLength`, `byteOffset`, `buffer` or `set`, and the copy must not believe it.
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const intrinsic = (key: PropertyKey) => Object.getOwnPropertyDescriptor(typedArrayProto, key)!.get!;
const tagOf = intrinsic(Symbol.toStringTag) as (this: unknown) => string | undefined;
const byteLengthGetter = intrinsic("byteLength") as (this: Uint8Array) => number;
const byteOffsetGetter = intrinsic("byteOffset") as (this: Uint8Array) => number;
const bufferGetter = intrinsic("buffer") as (this: Uint8Array) => ArrayBufferLike;
const detachedOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached")?.get;
const typedArraySet = typedArrayProto.set as (this: Uint8Array, source: ArrayLike<number>) => void;

/**
 * The real byte length of `bytes`, which must be a Uint8Array (a subclass is
 * fine) whose buffer is not detached; a TypeError otherwise, before anything
 * has been claimed or taken.
 */
function byteLengthOf(bytes: unknown, method: string): number {
  if (tagOf.call(bytes) !== "Uint8Array") {
    throw new TypeError(`${method} takes a Uint8Array, got ${describe(bytes)}`);
  }
  const n = byteLengthGetter.call(bytes as Uint8Array);
  if (n === 0 && isDetached(bytes as Uint8Array)) {
    throw new TypeError(`${method} was given a Uint8Array whose buffer is detached`);
  }
  return n;
}

function isDetached(bytes: Uint8Array): boolean {
  const buffer = bufferGetter.call(bytes);
  try {
    return detachedOf?.call(buffer) === true;
  } catch {
    return false; // a SharedArrayBuffer: it cannot be detached
  }
}

function byteOffsetOf(bytes: Uint8Array): number {
  return byteOffsetGetter.call(bytes);
}

function bufferOf(bytes: Uint8Array): ArrayBufferLike {
  return bufferGetter.call(bytes);
}

/** An option given to open() must be what the channel was created with. */
function expectSame(name: string, what: string, expected: unknown, actual: unknown): void {
  if (expected === undefined || expected === actual) return;
  throw new TypeError(
    `Channel "${name}" was created with ${what} ${JSON.stringify(actual)}, ` +
      `not ${JSON.stringify(expected)} as this open() expects`,
  );
}

/** The same error class and errno fields with a message that teaches. */
function retitled<E extends Error>(e: E, message: string): E {
  const Ctor = e.constructor as new (message: string, options?: ErrorOptions) => E;
  return Object.assign(new Ctor(message, { cause: e }), e);
}

/**
 * Checks every header word a handle trusts for its lifetime (they are cached,
 * never re-read), and the words it reads on its first send or receive, before
 * any slot is touched: another process can write anything here.
 */
function checkHeader(
  name: string,
  words: Int32Array,
  size: number,
): { cap: number; max: number; kind: number } {
  const version = words[H.VERSION];
  if (version !== VERSION) {
    throw new Deno.errors.InvalidData(
      `Cannot open channel "${name}": it is a version ${version} channel; this library speaks version ${VERSION}`,
    );
  }
  const bad = (field: string, value: number | undefined, want: string) =>
    new Deno.errors.InvalidData(
      `Cannot open channel "${name}": its header is corrupt: ${field} is ${value}, ${want}`,
    );
  const kind = words[H.TOPOLOGY]!;
  if (kind !== 0 && kind !== 1) throw bad("topology", kind, "not 0 (spsc) or 1 (mpmc)");
  const cap = words[H.CAPACITY]!;
  if (!(cap >= 2 && cap <= 1 << 20 && (cap & (cap - 1)) === 0)) {
    throw bad("capacity", cap, "not a power of two from 2 to 2^20");
  }
  const max = words[H.MAX_MESSAGE]!;
  if (!(max >= 1 && max <= 64 << 20)) throw bad("maxMessageSize", max, "not from 1 to 64 MiB");
  if (words[H.SLOT_BYTES] !== slotBytes(max)) {
    throw bad("slot bytes", words[H.SLOT_BYTES], `not ${slotBytes(max)} for maxMessageSize ${max}`);
  }
  const need = channelBytes(cap, max);
  if (size < need) throw bad("capacity × slot bytes", need, `more than the object's ${size} bytes`);
  // TAIL read on both sides of HEAD: at any instant 0 ≤ TAIL − HEAD ≤ capacity (spsc: TAIL may
  // lag one behind, when its sender died between publishing and recording it).
  const t1 = Atomics.load(words, H.TAIL);
  const head = Atomics.load(words, H.HEAD);
  const t2 = Atomics.load(words, H.TAIL);
  if (((t1 - head) | 0) > cap || ((t2 - head) | 0) < (kind === 1 ? 0 : -1)) {
    throw bad("head", head, `impossible with tail ${t2} and capacity ${cap}`);
  }
  const pidOk = (p: number) => p >= 0 && p <= PID_MAX;
  const receiver = words[H.RECEIVER_PID]!;
  if (!pidOk(receiver)) throw bad("receiver pid", receiver, "not a pid");
  for (let s = 0; s < MAX_SENDERS; s++) {
    const e = (SENDERS_OFFSET >> 2) + s * (SENDER_ENTRY >> 2);
    if (!pidOk(words[e]!)) throw bad(`sender ${s}'s pid`, words[e], "not a pid");
    const state = words[e + 2]!;
    if (state !== 0 && state !== SENDER_ACTIVE && state !== SENDER_ENDED) {
      throw bad(`sender ${s}'s state`, state, "not 0, 1 or 2");
    }
  }
  for (
    const [field, at] of [["receivers waiting", H.RECEIVERS_WAITING], [
      "senders waiting",
      H.SENDERS_WAITING,
    ]] as const
  ) {
    const n = words[at]!;
    if (!(n >= 0 && n <= MAX_WAITERS)) throw bad(field, n, `not from 0 to ${MAX_WAITERS}`);
  }
  return { cap, max, kind };
}

function notAChannel(name: string, why: string): Deno.errors.InvalidData {
  return new Deno.errors.InvalidData(`Cannot open channel "${name}": it is not a Channel (${why})`);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Opens `name` once its creator has finished the header: the object is
 * empty between its shm_open and its posix_fallocate, and its header is
 * being written until the magic word is stored last. A half-written header
 * is never read.
 */
function openHeader(name: string): SharedMemory {
  const giveUp = performance.now() + OPEN_WAIT_MS;
  for (;;) {
    let shm: SharedMemory;
    try {
      shm = SharedMemory.open(name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw retitled(
        e,
        `Cannot open channel "${name}": it does not exist. ` +
          `Create it with Channel.create("${name}", { capacity, maxMessageSize })`,
      );
    }
    const size = shm.size;
    const magic = size >= SLOTS_OFFSET ? Atomics.load(shm.view(Int32Array, 0, 1), 0) : 0;
    if (magic === MAGIC) return shm;
    shm.close();
    if (size > 0 && size < SLOTS_OFFSET) throw notAChannel(name, `it is only ${size} bytes`);
    if (magic !== 0) throw notAChannel(name, "its header is not a channel's");
    if (performance.now() > giveUp) {
      throw notAChannel(
        name,
        `its header is still blank after ${OPEN_WAIT_MS} ms; if its creator died, unlink it`,
      );
    }
    napSync();
  }
}

/** Sleeps this thread for about a millisecond (there is no sync sleep otherwise). */
function napSync(): void {
  Atomics.wait(sleeper, 0, 0, 1);
}
