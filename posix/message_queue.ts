/**
 * POSIX message queues (`mq_open`, `mq_send`, `mq_receive`): named queues of
 * prioritised messages, with waits that never block the event loop and never
 * lose a message.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { check, createOrOpen, Errno, errnoError, errnoView } from "../ffi/errno.ts";
import { cString } from "../ffi/cstring.ts";
import { O } from "../ffi/constants.ts";
import { MQ, MQ_ATTR_SIZE } from "../ffi/mqueue.ts";
import { decodeStat, STAT_LAYOUT } from "../ffi/stat.ts";
import { checkMode, checkName, checkOptions, checkTimeout } from "../memory/_validate.ts";
import { closeQueueFd, Waiters } from "../memory/_poll.ts";
import { spin, Spinner } from "../memory/_wait.ts";
import { explainOpenError, mqueueLimit } from "./_mq_errors.ts";

/**
 * Priorities run from 0 to `MQ_PRIO_MAX - 1` (`sysconf(_SC_MQ_PRIO_MAX)` on Linux).
 *
 * @example The highest priority there is
 * ```ts
 * import { posix } from "@ipc/shm";
 * import { assertEquals, assertThrows } from "@std/assert";
 * const name = `/doc-mq-prio-${Deno.pid}`;
 * using q = posix.MessageQueue.create(name, { maxMessages: 1, maxMessageSize: 1 });
 * assertEquals(q.trySend(new Uint8Array(1), { priority: posix.MQ_PRIO_MAX - 1 }), true);
 * assertThrows(() => q.trySend(new Uint8Array(1), { priority: posix.MQ_PRIO_MAX }), RangeError);
 * q.unlink();
 * ```
 */
export const MQ_PRIO_MAX = 32768;

/** Options for creating a queue. */
export interface CreateMessageQueueOptions {
  /** Most messages it holds (1 to `/proc/sys/fs/mqueue/msg_max`, 10 by default). */
  maxMessages?: number;
  /** Largest message in bytes (1 to `/proc/sys/fs/mqueue/msgsize_max`, 8192 by default). */
  maxMessageSize?: number;
  /** Permission bits, applied exactly (the umask does not change them). Default `0o600`. */
  mode?: number;
}

/** Options for an async send. */
export interface MessageQueueSendOptions {
  /** 0 (default) to `MQ_PRIO_MAX - 1`: higher priorities are received first. */
  priority?: number;
  /** Milliseconds to wait while full. Absent: forever. `0`: try once. Then `TimedOut`. */
  timeout?: number;
  /** Aborting rejects with `signal.reason`; the message is then not sent. */
  signal?: AbortSignal;
}

/** Options for a blocking send. */
export type MessageQueueSendSyncOptions = Omit<MessageQueueSendOptions, "signal">;

/** Options for an async receive. */
export interface MessageQueueReceiveOptions {
  /** Milliseconds to wait while empty. Absent: forever. `0`: try once. Then `TimedOut`. */
  timeout?: number;
  /** Aborting rejects with `signal.reason`; no message is then taken. */
  signal?: AbortSignal;
}

/** Options for a blocking receive. */
export type MessageQueueReceiveSyncOptions = Omit<MessageQueueReceiveOptions, "signal">;

/** A received message. */
export interface ReceivedMessage {
  /** Its bytes (a copy owned by the caller). */
  data: Uint8Array<ArrayBuffer>;
  /** Its priority. */
  priority: number;
}

/** What a receive into the caller's buffer got. */
export interface ReceivedInto {
  /** Bytes written at the start of the buffer. */
  length: number;
  /** The message's priority. */
  priority: number;
}

/** A queue's attributes (`mq_getattr`). */
export interface MessageQueueAttributes {
  /** Most messages it holds. */
  maxMessages: number;
  /** Largest message in bytes. */
  maxMessageSize: number;
  /** Messages in it now (a snapshot). */
  messages: number;
}

const MAX_NAME_BYTES = 255;
const POLL_MAX_MS = 2 ** 31 - 1;

const handles = new FinalizationRegistry<number>((fd) => {
  // Safety net for a forgotten close(): only for handles nobody can reach.
  libc().mq_close(fd);
});

/**
 * A POSIX message queue: a kernel queue of whole messages, each up to
 * `maxMessageSize` bytes, received highest priority first (FIFO within a
 * priority). Any process that knows the name can open it; `unlink` removes
 * the name, and the queue goes when the last handle closes.
 *
 * Async waits (`send`, `receive`, `for await`) never block the event loop and
 * never take a message on a pool thread: they spin briefly, then wait for
 * readiness with one bounded `poll()` per thread, and move the message on the
 * JS thread. A receive that times out or is aborted has taken nothing.
 * Needs `--allow-ffi` (and `-A` only to look at `/dev/mqueue` with Deno's file
 * APIs). See `man 7 mq_overview`.
 *
 * @example Send with priorities, receive the highest first
 * ```ts
 * import { posix } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const name = `/doc-mq-${Deno.pid}`;
 * using q = posix.MessageQueue.create(name, { maxMessages: 4, maxMessageSize: 64 });
 * try {
 *   q.sendSync(new TextEncoder().encode("low"), { priority: 1 });
 *   await q.send(new TextEncoder().encode("high"), { priority: 9 });
 *   const first = await q.receive({ timeout: 1000 });
 *   assertEquals([new TextDecoder().decode(first.data), first.priority], ["high", 9]);
 *   assertEquals(new TextDecoder().decode(q.receiveSync({ timeout: 0 }).data), "low");
 * } finally {
 *   q.unlink();
 * }
 * ```
 */
export class MessageQueue implements Disposable, AsyncIterable<ReceivedMessage> {
  #name: string;
  #fd: number;
  #created: boolean;
  #closed = false;
  #maxMessages: number;
  #maxMessageSize: number;
  #waiters: Waiters;
  #scratch: Uint8Array<ArrayBuffer>;
  #prio = new Uint32Array(1);
  #prioBytes = new Uint8Array(this.#prio.buffer);
  #attr = new Uint8Array(MQ_ATTR_SIZE);
  #token = {};
  #spinner = new Spinner();
  #pollIn: Uint8Array<ArrayBuffer>;
  #pollOut: Uint8Array<ArrayBuffer>;
  /** `BigInt(maxMessageSize)`, made once: the receive size of every call. */
  #scratchSize: bigint;
  /**
   * True while the descriptor is in blocking mode (`mq_flags` 0). An untimed
   * sync call switches it there and leaves it (the next untimed sync call is
   * then one system call, as in C); every non-blocking try switches it back
   * first. Only this thread's JS calls `mq_send`/`mq_receive` on it (the pool
   * only polls, which the flag does not change), so the mode is never wrong.
   */
  #blocking = false;

  private constructor(name: string, fd: number, created: boolean) {
    this.#name = name;
    this.#fd = fd;
    this.#created = created;
    handles.register(this, fd, this.#token);
    const a = this.attributes();
    this.#maxMessages = a.maxMessages;
    this.#maxMessageSize = a.maxMessageSize;
    this.#scratch = new Uint8Array(a.maxMessageSize);
    this.#scratchSize = BigInt(a.maxMessageSize);
    this.#waiters = new Waiters(fd);
    this.#pollIn = pollfd(fd, MQ.POLLIN);
    this.#pollOut = pollfd(fd, MQ.POLLOUT);
  }

  /**
   * Creates a queue (`mq_open` with `O_CREAT | O_EXCL`), then sets its mode
   * exactly (`fchmod`: `mq_open` applies the umask).
   *
   * @param name `/` then 1–255 bytes, no other `/`, no NUL
   * @throws {Deno.errors.AlreadyExists} when `name` exists (the message says how to remove it)
   * @throws {SystemError} `EINVAL`, `EMFILE` or `ENOSPC` when a system limit is hit; the
   *   message names the limit (`/proc/sys/fs/mqueue/msg_max`, `msgsize_max`, `queues_max`,
   *   `ulimit -q`) and how to raise it
   * @throws {TypeError | RangeError} for a bad name, option or mode
   *
   * @example Create with exact attributes and mode
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assert, assertEquals, assertThrows } from "@std/assert";
   * const name = `/doc-mq-create-${Deno.pid}`;
   * using q = posix.MessageQueue.create(name, { maxMessages: 3, maxMessageSize: 128, mode: 0o640 });
   * assert(q.created);
   * assertEquals([q.maxMessages, q.maxMessageSize, q.mode], [3, 128, 0o640]);
   * assertThrows(() => posix.MessageQueue.create(name), Deno.errors.AlreadyExists);
   * q.unlink();
   * ```
   */
  static create(name: string, options: CreateMessageQueueOptions = {}): MessageQueue {
    const { attr, mode } = createArgs(name, options, "MessageQueue.create()");
    const fd = openFd(name, O.CREAT | O.EXCL, mode, attr, "Cannot create message queue");
    const q = new MessageQueue(name, fd, true);
    const err = errnoView();
    if (libc().fchmod(fd, mode) === -1) {
      const e = errnoError(err[0]!, {
        action: "Cannot create message queue",
        object: name,
        syscall: "fchmod",
      });
      q.close();
      libc().mq_unlink(cString(name));
      throw e;
    }
    return q;
  }

  /**
   * Opens an existing queue for sending and receiving.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   * @throws {Deno.errors.PermissionDenied} when its mode refuses this user
   *
   * @example A missing queue is NotFound
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * assertThrows(() => posix.MessageQueue.open(`/doc-mq-missing-${Deno.pid}`), Deno.errors.NotFound);
   * ```
   */
  static open(name: string): MessageQueue {
    checkName(name, "MessageQueue", MAX_NAME_BYTES);
    const fd = openFd(name, 0, 0, undefined, "Cannot open message queue");
    return new MessageQueue(name, fd, false);
  }

  /**
   * Opens `name`, creating it with `options` if it does not exist. Of racing
   * callers exactly one gets a handle whose {@linkcode MessageQueue.created}
   * is true. An existing queue keeps its own attributes.
   *
   * @example Exactly one opener creates it
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mq-ooc-${Deno.pid}`;
   * using a = posix.MessageQueue.openOrCreate(name, { maxMessageSize: 32 });
   * using b = posix.MessageQueue.openOrCreate(name, { maxMessageSize: 64 });
   * assertEquals([a.created, b.created, b.maxMessageSize], [true, false, 32]);
   * a.unlink();
   * ```
   */
  static openOrCreate(name: string, options: CreateMessageQueueOptions = {}): MessageQueue {
    createArgs(name, options, "MessageQueue.openOrCreate()");
    return createOrOpen(
      () => MessageQueue.create(name, options),
      () => MessageQueue.open(name),
    );
  }

  /**
   * Removes the name (`mq_unlink`). Open handles keep working; the queue and
   * its share of the user's `RLIMIT_MSGQUEUE` go when the last one closes.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   *
   * @example Unlink a name
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * const name = `/doc-mq-unlink-${Deno.pid}`;
   * posix.MessageQueue.create(name).close();
   * posix.MessageQueue.unlink(name);
   * assertThrows(() => posix.MessageQueue.unlink(name), Deno.errors.NotFound);
   * ```
   */
  static unlink(name: string): void {
    checkName(name, "MessageQueue", MAX_NAME_BYTES);
    check(libc().mq_unlink(cString(name)), {
      action: "Cannot unlink message queue",
      object: name,
      syscall: "mq_unlink",
    });
  }

  /** The queue's name. */
  get name(): string {
    return this.#name;
  }

  /** True only on the handle whose call created the queue. */
  get created(): boolean {
    return this.#created;
  }

  /** True after {@linkcode MessageQueue.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Most messages the queue holds (read at open). */
  get maxMessages(): number {
    this.#fdOrThrow();
    return this.#maxMessages;
  }

  /** Largest message in bytes (read at open). */
  get maxMessageSize(): number {
    this.#fdOrThrow();
    return this.#maxMessageSize;
  }

  /** Messages in the queue now (`mq_getattr`): a snapshot. */
  get messages(): number {
    return this.attributes().messages;
  }

  /** The queue's permission bits (`fstat`). */
  get mode(): number {
    const fd = this.#fdOrThrow();
    const st = new Uint8Array(
      STAT_LAYOUT[Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"].size,
    );
    check(libc().fstat(fd, st), this.#site("fstat"));
    return decodeStat(st).mode & 0o777;
  }

  /**
   * The attributes the kernel reports now (`mq_getattr`).
   *
   * @example Read the attributes
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mq-attr-${Deno.pid}`;
   * using q = posix.MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 16 });
   * q.sendSync(new Uint8Array([1]));
   * assertEquals(q.attributes(), { maxMessages: 2, maxMessageSize: 16, messages: 1 });
   * q.unlink();
   * ```
   */
  attributes(): MessageQueueAttributes {
    const fd = this.#fdOrThrow();
    check(libc().mq_getattr(fd, this.#attr), this.#site("mq_getattr"));
    const v = new BigInt64Array(this.#attr.buffer, 0, 4);
    return {
      maxMessages: Number(v[1]),
      maxMessageSize: Number(v[2]),
      messages: Number(v[3]),
    };
  }

  /**
   * Sends `data` if there is room now (`mq_send` on the `O_NONBLOCK` handle).
   *
   * @returns false when the queue is full
   * @throws {RangeError} when `data` is longer than `maxMessageSize`
   *
   * @example Try without waiting
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mq-try-${Deno.pid}`;
   * using q = posix.MessageQueue.create(name, { maxMessages: 1, maxMessageSize: 4 });
   * assertEquals(q.tryReceive(), undefined);
   * assertEquals(q.trySend(new Uint8Array([1])), true);
   * assertEquals(q.trySend(new Uint8Array([2])), false); // full
   * assertEquals(q.tryReceive()?.data, new Uint8Array([1]));
   * q.unlink();
   * ```
   */
  trySend(data: Uint8Array, options: Pick<MessageQueueSendOptions, "priority"> = {}): boolean {
    checkOptions(options, "MessageQueue.trySend()", ["priority"]);
    const priority = this.#sendArgs(data, options.priority);
    return this.#trySend(data, priority);
  }

  /**
   * Sends `data`, blocking this thread while the queue is full. Without a
   * timeout this is one blocking `mq_send`, as in C; with one, `poll` then a
   * non-blocking `mq_send` (the deadline is measured on the monotonic clock).
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  sendSync(data: Uint8Array, options: MessageQueueSendSyncOptions = {}): void {
    checkOptions(options, "MessageQueue.sendSync()", ["priority", "timeout"]);
    const priority = this.#sendArgs(data, options.priority);
    checkTimeout(options.timeout);
    if (options.timeout === undefined) return this.#sendBlocking(data, priority);
    this.#blockUntil(
      () => this.#trySend(data, priority) ? true : undefined,
      MQ.POLLOUT,
      options.timeout,
      "send",
    );
  }

  /**
   * Sends `data`, awaiting room without blocking the event loop. Sends from
   * one handle that have to wait go out in call order.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first (nothing was sent)
   * @throws `signal.reason` when aborted first (nothing was sent)
   * @throws {Deno.errors.BadResource} when the handle is closed meanwhile
   *
   * @example A full queue times out
   * ```ts
   * import { posix, settled } from "@ipc/shm";
   * import { assertRejects } from "@std/assert";
   * const name = `/doc-mq-send-${Deno.pid}`;
   * using q = posix.MessageQueue.create(name, { maxMessages: 1, maxMessageSize: 8 });
   * await q.send(new Uint8Array([1]));
   * await assertRejects(() => q.send(new Uint8Array([2]), { timeout: 20 }), Deno.errors.TimedOut);
   * await settled();
   * q.unlink();
   * ```
   */
  send(data: Uint8Array, options: MessageQueueSendOptions = {}): Promise<void> {
    try {
      checkOptions(options, "MessageQueue.send()", ["priority", "timeout", "signal"]);
      const priority = this.#sendArgs(data, options.priority);
      return this.#wait(
        "write",
        () => this.#trySend(data, priority) ? true : undefined,
        options.timeout,
        options.signal,
      ).then(() => {});
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Takes the highest-priority message if there is one now.
   *
   * @returns the message, or undefined when the queue is empty
   */
  tryReceive(): ReceivedMessage | undefined {
    return this.#tryReceiveCopy();
  }

  /**
   * Takes the highest-priority message, blocking this thread while the queue
   * is empty. Without a timeout this is one blocking `mq_receive`, as in C;
   * with one, `poll` then a non-blocking `mq_receive` (monotonic deadline).
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  receiveSync(options: MessageQueueReceiveSyncOptions = {}): ReceivedMessage {
    checkOptions(options, "MessageQueue.receiveSync()", ["timeout"]);
    checkTimeout(options.timeout);
    if (options.timeout === undefined) {
      const got = this.#receiveBlocking(this.#scratch, this.#scratchSize);
      return { data: this.#scratch.slice(0, got.length), priority: got.priority };
    }
    return this.#blockUntil(() => this.#tryReceiveCopy(), MQ.POLLIN, options.timeout, "receive");
  }

  /**
   * Takes the highest-priority message, awaiting one without blocking the
   * event loop. A receive that times out or is aborted has taken nothing.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted first
   * @throws {Deno.errors.BadResource} when the handle is closed meanwhile
   *
   * @example An abort takes nothing
   * ```ts
   * import { posix, settled } from "@ipc/shm";
   * import { assertEquals, assertRejects } from "@std/assert";
   * const name = `/doc-mq-recv-${Deno.pid}`;
   * using q = posix.MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 8 });
   * const ac = new AbortController();
   * const pending = q.receive({ signal: ac.signal });
   * ac.abort(new Error("no longer needed"));
   * await assertRejects(() => pending, Error, "no longer needed");
   * q.sendSync(new Uint8Array([7]));
   * assertEquals([...(await q.receive({ timeout: 1000 })).data], [7]);
   * await settled();
   * q.unlink();
   * ```
   */
  receive(options: MessageQueueReceiveOptions = {}): Promise<ReceivedMessage> {
    try {
      checkOptions(options, "MessageQueue.receive()", ["timeout", "signal"]);
      return this.#wait("read", () => this.#tryReceiveCopy(), options.timeout, options.signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Takes a message into `buffer` if there is one now (no copy).
   *
   * @param buffer at least `maxMessageSize` bytes (the kernel refuses smaller buffers)
   * @returns its length and priority, or undefined when the queue is empty
   * @throws {RangeError} when `buffer` is smaller than `maxMessageSize`
   */
  tryReceiveInto(buffer: Uint8Array): ReceivedInto | undefined {
    this.#checkBuffer(buffer);
    return this.#tryReceiveInto(buffer);
  }

  /**
   * Takes a message into `buffer`, blocking this thread while the queue is empty.
   *
   * @throws {RangeError} when `buffer` is smaller than `maxMessageSize`
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  receiveIntoSync(buffer: Uint8Array, options: MessageQueueReceiveSyncOptions = {}): ReceivedInto {
    this.#checkBuffer(buffer);
    checkOptions(options, "MessageQueue.receiveIntoSync()", ["timeout"]);
    checkTimeout(options.timeout);
    if (options.timeout === undefined) {
      return this.#receiveBlocking(buffer, BigInt(buffer.byteLength));
    }
    return this.#blockUntil(
      () => this.#tryReceiveInto(buffer),
      MQ.POLLIN,
      options.timeout,
      "receive",
    );
  }

  /**
   * Takes a message into `buffer`, awaiting one without blocking the event loop.
   *
   * @throws {RangeError} when `buffer` is smaller than `maxMessageSize`
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted first
   *
   * @example Reuse one buffer
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mq-into-${Deno.pid}`;
   * using q = posix.MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 16 });
   * const buf = new Uint8Array(q.maxMessageSize);
   * q.sendSync(new TextEncoder().encode("job"), { priority: 3 });
   * const { length, priority } = await q.receiveInto(buf, { timeout: 1000 });
   * assertEquals([new TextDecoder().decode(buf.subarray(0, length)), priority], ["job", 3]);
   * q.unlink();
   * ```
   */
  receiveInto(buffer: Uint8Array, options: MessageQueueReceiveOptions = {}): Promise<ReceivedInto> {
    try {
      this.#checkBuffer(buffer);
      checkOptions(options, "MessageQueue.receiveInto()", ["timeout", "signal"]);
      return this.#wait(
        "read",
        () => this.#tryReceiveInto(buffer),
        options.timeout,
        options.signal,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Receives forever: `for await (const msg of queue)`. The loop ends when
   * the handle is closed.
   *
   * @example Receive until closed with for await
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mq-iter-${Deno.pid}`;
   * const q = posix.MessageQueue.create(name, { maxMessages: 3, maxMessageSize: 8 });
   * for (const b of [1, 2, 3]) q.sendSync(new Uint8Array([b]));
   * const got: number[] = [];
   * for await (const msg of q) {
   *   got.push(msg.data[0]!);
   *   if (got.length === 3) q.close();
   * }
   * assertEquals(got, [1, 2, 3]);
   * posix.MessageQueue.unlink(name);
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<ReceivedMessage, void, undefined> {
    while (!this.#closed) {
      try {
        yield await this.receive();
      } catch (e) {
        if (this.#closed && e instanceof Deno.errors.BadResource) return;
        throw e;
      }
    }
  }

  /** Removes this handle's name (see {@linkcode MessageQueue.unlink}). */
  unlink(): void {
    MessageQueue.unlink(this.#name);
  }

  /**
   * Closes this handle; idempotent. Pending async sends and receives reject
   * with `BadResource`; every later call throws it. The queue stays until unlinked.
   *
   * @example Close rejects a pending receive
   * ```ts
   * import { posix, settled } from "@ipc/shm";
   * import { assertRejects, assertThrows } from "@std/assert";
   * const name = `/doc-mq-close-${Deno.pid}`;
   * const q = posix.MessageQueue.create(name, { maxMessages: 1, maxMessageSize: 4 });
   * const pending = q.receive();
   * q.close();
   * await assertRejects(() => pending, Deno.errors.BadResource);
   * assertThrows(() => q.tryReceive(), Deno.errors.BadResource);
   * await settled();
   * posix.MessageQueue.unlink(name);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    handles.unregister(this.#token);
    this.#waiters.closeAll(
      new Deno.errors.BadResource(`Message queue "${this.#name}" was closed while waiting`),
    );
    closeQueueFd(this.#fd);
  }

  /** Same as {@linkcode MessageQueue.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #fdOrThrow(): number {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Cannot use message queue "${this.#name}": it is closed`);
    }
    return this.#fd;
  }

  #sendArgs(data: Uint8Array, priority: unknown = 0): number {
    this.#fdOrThrow();
    if (!(data instanceof Uint8Array)) {
      throw new TypeError("A message is a Uint8Array");
    }
    if (data.byteLength > this.#maxMessageSize) {
      throw new RangeError(
        `Message of ${data.byteLength} bytes is larger than maxMessageSize ${this.#maxMessageSize} ` +
          `of message queue "${this.#name}" (mq_send would fail with EMSGSIZE); ` +
          `create the queue with a larger maxMessageSize (at most /proc/sys/fs/mqueue/msgsize_max, ${
            mqueueLimit("msgsize_max") ?? "?"
          })`,
      );
    }
    if (typeof priority !== "number") {
      throw new TypeError(`priority must be a number, got ${typeof priority}`);
    }
    if (!Number.isInteger(priority) || priority < 0 || priority >= MQ_PRIO_MAX) {
      throw new RangeError(
        `priority must be an integer from 0 to ${MQ_PRIO_MAX - 1}, got ${priority}`,
      );
    }
    return priority;
  }

  #checkBuffer(buffer: Uint8Array): void {
    this.#fdOrThrow();
    if (!(buffer instanceof Uint8Array)) throw new TypeError("buffer must be a Uint8Array");
    if (buffer.byteLength < this.#maxMessageSize) {
      throw new RangeError(
        `A ${buffer.byteLength}-byte buffer is smaller than maxMessageSize ${this.#maxMessageSize} ` +
          `of message queue "${this.#name}" (mq_receive would fail with EMSGSIZE)`,
      );
    }
  }

  /** The descriptor, in non-blocking mode (switched back if a sync call left it blocking). */
  #nonblockingFd(): number {
    const fd = this.#fdOrThrow();
    if (this.#blocking) {
      check(libc().mq_setattr(fd, NONBLOCK_ATTR, null), this.#site("mq_setattr"));
      this.#blocking = false;
    }
    return fd;
  }

  /** The descriptor, in blocking mode (left there for the next untimed sync call). */
  #blockingFd(): number {
    const fd = this.#fdOrThrow();
    if (!this.#blocking) {
      check(libc().mq_setattr(fd, BLOCKING_ATTR, null), this.#site("mq_setattr"));
      this.#blocking = true;
    }
    return fd;
  }

  /** One blocking `mq_send`: sleeps in the kernel while full, as C does. */
  #sendBlocking(data: Uint8Array, priority: number): void {
    const fd = this.#blockingFd();
    const lib = libc();
    const err = errnoView();
    for (;;) {
      if (lib.mq_send(fd, data, BigInt(data.byteLength), priority) === 0) return;
      const e = err[0]!;
      if (e !== Errno.EINTR) throw errnoError(e, this.#site("mq_send"));
    }
  }

  /** One blocking `mq_receive` into `into`: sleeps in the kernel while empty, as C does. */
  #receiveBlocking(into: Uint8Array, size: bigint): ReceivedInto {
    const fd = this.#blockingFd();
    const lib = libc();
    const err = errnoView();
    for (;;) {
      const n = lib.mq_receive(fd, into, size, this.#prioBytes);
      if (n >= 0) return { length: Number(n), priority: this.#prio[0]! };
      const e = err[0]!;
      if (e !== Errno.EINTR) throw errnoError(e, this.#site("mq_receive"));
    }
  }

  /** One non-blocking `mq_send`; false when full. */
  #trySend(data: Uint8Array, priority: number): boolean {
    const fd = this.#nonblockingFd();
    const lib = libc();
    const err = errnoView();
    for (;;) {
      if (lib.mq_send(fd, data, BigInt(data.byteLength), priority) === 0) return true;
      const e = err[0]!; // inline, before any call can disturb errno
      if (e === Errno.EAGAIN) return false;
      if (e !== Errno.EINTR) throw errnoError(e, this.#site("mq_send"));
    }
  }

  /** One non-blocking `mq_receive` into `into`; undefined when empty. */
  #tryReceiveInto(into: Uint8Array, size = BigInt(into.byteLength)): ReceivedInto | undefined {
    const fd = this.#nonblockingFd();
    const lib = libc();
    const err = errnoView();
    for (;;) {
      const n = lib.mq_receive(fd, into, size, this.#prioBytes);
      if (n >= 0) return { length: Number(n), priority: this.#prio[0]! };
      const e = err[0]!;
      if (e === Errno.EAGAIN) return undefined;
      if (e !== Errno.EINTR) throw errnoError(e, this.#site("mq_receive"));
    }
  }

  #tryReceiveCopy(): ReceivedMessage | undefined {
    const got = this.#tryReceiveInto(this.#scratch, this.#scratchSize);
    if (got === undefined) return undefined;
    return { data: this.#scratch.slice(0, got.length), priority: got.priority };
  }

  /** Tries, then sleeps in `poll()` on this thread until ready or the deadline. */
  #blockUntil<T>(
    attempt: () => T | undefined,
    events: number,
    timeout: number | undefined,
    what: string,
  ): T {
    const first = attempt();
    if (first !== undefined) return first;
    const end = timeout === undefined ? Infinity : performance.now() + timeout;
    const pfd = events === MQ.POLLIN ? this.#pollIn : this.#pollOut;
    // No spin here: a blocked thread costs nothing, and under CPU load a
    // spinning waiter takes the time slice its peer needs to answer (FACTS.md).
    for (let tried = true;; tried = false) {
      if (!tried) {
        const v = attempt();
        if (v !== undefined) return v;
      }
      const left = end - performance.now();
      if (timeout === 0 || left <= 0) throw this.#timedOut(timeout, what);
      libc().poll(pfd, 1n, left === Infinity ? -1 : Math.min(POLL_MAX_MS, Math.ceil(left)));
    }
  }

  /** Try, spin briefly, then queue behind earlier async waits of the same kind. */
  #wait<T>(
    kind: "read" | "write",
    attempt: () => T | undefined,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    this.#fdOrThrow();
    checkTimeout(timeout);
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError("signal must be an AbortSignal");
    }
    signal?.throwIfAborted();
    const what = kind === "read" ? "receive" : "send";
    // Spin only when no earlier wait of the same kind is queued: FIFO. The
    // library's one waiting strategy (memory/_wait.ts) plans the spin: none
    // on an oversubscribed machine, at most MAX_HOLD_US of the event loop.
    const first = !this.#waiters.busy(kind);
    if (first) {
      const v = attempt();
      if (v !== undefined) return Promise.resolve(v);
    }
    if (timeout === 0) throw this.#timedOut(0, what);
    const t0 = performance.now();
    const plan = first ? this.#spinner.plan(timeout, undefined, true) : undefined;
    if (plan !== undefined && plan.spinUs > 0) {
      let v: T | undefined;
      if (spin(() => (v = attempt()) !== undefined, plan.spinUs, Infinity, 8)) {
        this.#spinner.done(t0, false);
        return Promise.resolve(v!);
      }
    }
    const learn = plan?.learn === true;
    const deadline = timeout === undefined ? Infinity : t0 + timeout;
    return this.#waiters.wait(kind, attempt, deadline, () => this.#timedOut(timeout, what), signal)
      .then((v) => {
        if (learn) this.#spinner.done(t0, true);
        return v;
      });
  }

  #timedOut(timeout: number | undefined, what: string): Deno.errors.TimedOut {
    return new Deno.errors.TimedOut(
      `Timed out after ${timeout} ms waiting to ${what} on message queue "${this.#name}"`,
    );
  }

  #site(syscall: string) {
    return { action: "Message queue operation failed", object: this.#name, syscall };
  }
}

/** `struct mq_attr` for `mq_setattr`: only `mq_flags` (the first long) is read. */
const NONBLOCK_ATTR = new Uint8Array(MQ_ATTR_SIZE);
new DataView(NONBLOCK_ATTR.buffer).setBigInt64(0, BigInt(MQ.NONBLOCK), true);
const BLOCKING_ATTR = new Uint8Array(MQ_ATTR_SIZE);

/** One `struct pollfd` for a blocking wait on this thread. */
function pollfd(fd: number, events: number): Uint8Array<ArrayBuffer> {
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, events, true);
  return pfd;
}

function createArgs(name: string, options: CreateMessageQueueOptions, what: string) {
  checkName(name, "MessageQueue", MAX_NAME_BYTES);
  checkOptions(options, what, ["maxMessages", "maxMessageSize", "mode"]);
  const { maxMessages, maxMessageSize, mode = 0o600 } = options;
  checkMode(mode);
  if (maxMessages !== undefined) checkCount(maxMessages, "maxMessages");
  if (maxMessageSize !== undefined) checkCount(maxMessageSize, "maxMessageSize");
  // Absent both: the kernel's defaults. One given: the other from the defaults.
  const attr = maxMessages === undefined && maxMessageSize === undefined ? undefined : {
    maxMessages: maxMessages ?? mqueueLimit("msg_default") ?? 10,
    maxMessageSize: maxMessageSize ?? mqueueLimit("msgsize_default") ?? 8192,
  };
  return { attr, mode };
}

function checkCount(v: unknown, what: string): void {
  if (typeof v !== "number") throw new TypeError(`${what} must be a number, got ${typeof v}`);
  if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 31 - 1) {
    throw new RangeError(`${what} must be a positive integer, got ${v}`);
  }
}

function openFd(
  name: string,
  flags: number,
  mode: number,
  attr: { maxMessages: number; maxMessageSize: number } | undefined,
  action: string,
): number {
  let attrPtr: Deno.PointerValue = null;
  let attrBuf: BigInt64Array | undefined;
  if (attr !== undefined) {
    attrBuf = new BigInt64Array(MQ_ATTR_SIZE / 8);
    attrBuf[1] = BigInt(attr.maxMessages);
    attrBuf[2] = BigInt(attr.maxMessageSize);
    attrPtr = Deno.UnsafePointer.of(attrBuf);
  }
  const err = errnoView();
  const fd = libc().mq_open(
    cString(name),
    O.RDWR | MQ.NONBLOCK | O.CLOEXEC | flags,
    mode,
    attrPtr,
  );
  const e = err[0]!;
  attrBuf?.fill(0n); // keeps the buffer alive across the call
  if (fd === -1) {
    const error = errnoError(e, { action, object: name, syscall: "mq_open" });
    throw explainOpenError(error, name, attr, (flags & O.CREAT) !== 0);
  }
  return fd;
}
