/**
 * System V message queues (`msgget`, `msgsnd`, `msgrcv`, `msgctl`): typed
 * messages, received by type.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { createOrOpen, Errno, errnoError, errnoView } from "../ffi/errno.ts";
import { readText } from "../ffi/files.ts";
import { IPC } from "../ffi/sysv_shm.ts";
import { MSG, MSQID_DS, MTYPE_SIZE } from "../ffi/sysv_msg.ts";
import { decodeIpcPerm, encodeIpcPermSet, type IpcPerm, timeField } from "../ffi/sysv_layouts.ts";
import { checkMode, checkOptions, checkTimeout } from "../memory/_validate.ts";
import { checkId, checkKey, checkOwner, hexKey } from "./_args.ts";
import { Waiters } from "../memory/_poll.ts";
import { spin, Spinner } from "../memory/_wait.ts";

/** Options for creating a queue. */
export interface CreateMessageQueueOptions {
  /** Permission bits, applied exactly. Default `0o600`. */
  mode?: number;
  /**
   * The queue's capacity in bytes (`msg_qbytes`). Default: the system's
   * `/proc/sys/kernel/msgmnb` (16384 here); more needs `CAP_SYS_RESOURCE`.
   */
  maxBytes?: number;
}

/** Options for an async send. */
export interface MessageQueueSendOptions {
  /** The message type, a positive integer. Default 1. */
  type?: number;
  /** Milliseconds to wait while full. Absent: forever. `0`: try once. Then `TimedOut`. */
  timeout?: number;
  /** Aborting rejects with `signal.reason`; the message is then not sent. */
  signal?: AbortSignal;
}

/** Options for a blocking send. */
export type MessageQueueSendSyncOptions = Omit<MessageQueueSendOptions, "signal">;

/** Which message to take, and how long to wait. */
export interface MessageQueueReceiveOptions {
  /**
   * 0 (default): the first message. Positive: the first of that type (with
   * `except`, the first of any other type). Negative: the first of the lowest
   * type ≤ |type|.
   */
  type?: number;
  /** `MSG_EXCEPT`: take the first message whose type is NOT `type` (type > 0). */
  except?: boolean;
  /** `MSG_NOERROR`: a message longer than `maxSize` is cut instead of refused. */
  truncate?: boolean;
  /** Longest message accepted, in bytes. Default: the system's `msgmax` (8192 here). */
  maxSize?: number;
  /** Milliseconds to wait while nothing matches. Absent: forever. `0`: try once. */
  timeout?: number;
  /** Aborting rejects with `signal.reason`; nothing is then taken. */
  signal?: AbortSignal;
}

/** Options for a blocking receive. */
export type MessageQueueReceiveSyncOptions = Omit<MessageQueueReceiveOptions, "signal">;

/** A received message. */
export interface ReceivedMessage {
  /** Its bytes (a copy owned by the caller). */
  data: Uint8Array<ArrayBuffer>;
  /** Its type. */
  type: number;
}

/** Decoded `struct msqid_ds`. */
export interface MessageQueueStat extends IpcPerm {
  /** The queue id. */
  id: number;
  /** Messages in the queue. */
  messages: number;
  /** Bytes of message data in the queue. */
  bytes: number;
  /** Capacity in bytes (`msg_qbytes`). */
  maxBytes: number;
  /** Pid of the last `msgsnd`. */
  lastSendPid: number;
  /** Pid of the last `msgrcv`. */
  lastReceivePid: number;
  /** Last `msgsnd`, or null. */
  lastSend: Date | null;
  /** Last `msgrcv`, or null. */
  lastReceive: Date | null;
  /** Last change (creation or `IPC_SET`). */
  lastChange: Date | null;
}

const E2BIG = 7;

let msgmaxCache: number | undefined;
/** The system's largest message (`/proc/sys/kernel/msgmax`), read once. */
function msgmax(): number {
  return msgmaxCache ??= Number(readText("/proc/sys/kernel/msgmax")?.trim() ?? 8192) || 8192;
}

function kernelLimit(name: string): string {
  return readText(`/proc/sys/kernel/${name}`)?.trim() ?? "?";
}

/**
 * A System V message queue: messages of up to `msgmax` bytes, each with a
 * positive type, received in order by type. The queue lives until
 * {@linkcode MessageQueue.remove} (or reboot); {@linkcode MessageQueue.close}
 * (or `using`) ends only this handle and its pending waits.
 *
 * There is no descriptor to wait on and no timed receive, so `send()` and
 * `receive()` try with `IPC_NOWAIT`, spin briefly, then retry with back-off:
 * each retry after sleeping as long again as the wait has lasted (20 µs
 * doubling to 1 ms; past 20 ms, a tenth of the time waited, up to 20 ms),
 * timed by the bounded poll that POSIX queue waits share (it counts for
 * `settled()`). No kernel
 * wait is ever left behind, so a wait that times out or is aborted has taken
 * (or sent) nothing, and the program can exit at once. Receives of different
 * types do not wait for each other. `sendSync()`/`receiveSync()` without a
 * timeout block this thread in the kernel; with one they retry with naps. Needs `--allow-ffi`. See `man 7 sysvipc`.
 *
 * @example Typed request and reply on one queue
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const q = sysv.MessageQueue.private();
 * try {
 *   q.sendSync(new TextEncoder().encode("ping"), { type: 1 });
 *   const req = await q.receive({ type: 1, timeout: 1000 });
 *   await q.send(req.data, { type: 2 });
 *   const reply = q.receiveSync({ type: 2, timeout: 0 });
 *   assertEquals([new TextDecoder().decode(reply.data), reply.type], ["ping", 2]);
 * } finally {
 *   q.remove();
 * }
 * ```
 */
export class MessageQueue implements Disposable {
  #id: number;
  #key: number;
  #created: boolean;
  #sendBuf = new Uint8Array(MTYPE_SIZE + 64);
  /** `long mtype` of #sendBuf as two little-endian words (no DataView or BigInt per send). */
  #sendType = new Uint32Array(this.#sendBuf.buffer, 0, 2);
  /** `long mtype` of #recvBuf likewise. */
  #recvType: Uint32Array | undefined;
  /** The last receive's `type` and `maxSize` as BigInts, made once per value, not per call. */
  #typeKey = NaN;
  #typeBig = 0n;
  #sizeKey = NaN;
  #sizeBig = 0n;
  #sendOwner: object | undefined;
  #recvBuf: Uint8Array<ArrayBuffer> | undefined;
  #qbytes: number;
  #spinner = new Spinner();
  #waiters = new Waiters(-1, false);
  #closed = false;

  private constructor(id: number, key: number, created: boolean, qbytes: number) {
    this.#id = id;
    this.#key = key;
    this.#created = created;
    this.#qbytes = qbytes;
  }

  /**
   * Creates the queue for `key` (`IPC_CREAT | IPC_EXCL`).
   *
   * @param key from {@linkcode ftok}
   * @throws {Deno.errors.AlreadyExists} when `key` has a queue (the message says how to remove it)
   * @throws {Deno.errors.PermissionDenied} when `maxBytes` is over `msgmnb` without `CAP_SYS_RESOURCE`
   *
   * @example Create by key
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assert, assertThrows } from "@std/assert";
   * const key = sysv.ftok("/tmp", 211);
   * const q = sysv.MessageQueue.create(key, { mode: 0o640 });
   * try {
   *   assert(q.created);
   *   assertThrows(() => sysv.MessageQueue.create(key), Deno.errors.AlreadyExists);
   * } finally {
   *   q.remove();
   * }
   * ```
   */
  static create(key: number, options: CreateMessageQueueOptions = {}): MessageQueue {
    const k = checkKey(key);
    if (k === IPC.PRIVATE) {
      throw new TypeError("create() needs a key; use MessageQueue.private() for IPC_PRIVATE");
    }
    return MessageQueue.#create(k, options, IPC.CREAT | IPC.EXCL, "MessageQueue.create()");
  }

  /**
   * Creates a new queue with `IPC_PRIVATE`: share its {@linkcode MessageQueue.id}.
   *
   * @example A private queue with a smaller capacity
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const q = sysv.MessageQueue.private({ maxBytes: 1024 });
   * assertEquals(q.stat().maxBytes, 1024);
   * q.remove();
   * ```
   */
  static private(options: CreateMessageQueueOptions = {}): MessageQueue {
    return MessageQueue.#create(IPC.PRIVATE, options, IPC.CREAT, "MessageQueue.private()");
  }

  static #create(
    key: number,
    options: CreateMessageQueueOptions,
    flags: number,
    what: string,
  ): MessageQueue {
    checkOptions(options, what, ["mode", "maxBytes"]);
    const { mode = 0o600, maxBytes } = options;
    checkMode(mode);
    if (maxBytes !== undefined) checkMaxBytes(maxBytes);
    const err = errnoView();
    const id = libc().msgget(key, flags | mode);
    const e = err[0]!;
    if (id === -1) {
      const error = errnoError(e, {
        action: "Cannot create message queue",
        object: key === 0 ? "IPC_PRIVATE" : hexKey(key),
        syscall: "msgget",
      });
      if (e === Errno.EEXIST) {
        error.message += `. Open it with MessageQueue.open(${hexKey(key)}), or remove the old ` +
          `one first: MessageQueue.open(${hexKey(key)}).remove() (or \`ipcrm -Q ${hexKey(key)}\`)`;
      } else if (e === Errno.ENOSPC) {
        error.message += `. The system limit of queues, /proc/sys/kernel/msgmni (${
          kernelLimit("msgmni")
        }), is reached: remove unused queues (ipcs -q) or raise it`;
      }
      throw error;
    }
    const q = new MessageQueue(id, key, true, 0);
    try {
      if (maxBytes !== undefined) q.setMaxBytes(maxBytes);
      else q.#qbytes = q.stat().maxBytes;
    } catch (error) {
      libc().msgctl(id, IPC.RMID, new Uint8Array(MSQID_DS.size));
      throw error;
    }
    return q;
  }

  /**
   * Opens the queue for `key`.
   *
   * @throws {Deno.errors.NotFound} when `key` has no queue
   *
   * @example A missing key is NotFound
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * assertThrows(() => sysv.MessageQueue.open(0x7ffe4329), Deno.errors.NotFound);
   * ```
   */
  static open(key: number): MessageQueue {
    const k = checkKey(key);
    if (k === IPC.PRIVATE) {
      throw new TypeError("IPC_PRIVATE queues cannot be opened by key; use MessageQueue.fromId()");
    }
    const err = errnoView();
    const id = libc().msgget(k, 0);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action: "Cannot open message queue",
        object: hexKey(k),
        syscall: "msgget",
      });
    }
    const q = new MessageQueue(id, k, false, 0);
    q.#qbytes = q.stat().maxBytes;
    return q;
  }

  /**
   * Opens the queue for `key`, creating it if there is none. Of racing
   * callers exactly one gets a handle whose `created` is true.
   *
   * @example Exactly one opener creates it
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const key = sysv.ftok("/tmp", 212);
   * const a = sysv.MessageQueue.openOrCreate(key);
   * const b = sysv.MessageQueue.openOrCreate(key);
   * assertEquals([a.created, b.created, a.id], [true, false, b.id]);
   * a.remove();
   * ```
   */
  static openOrCreate(key: number, options: CreateMessageQueueOptions = {}): MessageQueue {
    const k = checkKey(key);
    checkOptions(options, "MessageQueue.openOrCreate()", ["mode", "maxBytes"]);
    return createOrOpen(
      () => MessageQueue.create(k, options),
      () => MessageQueue.open(k),
    );
  }

  /**
   * The queue with id `id` (`ipcs -q` msqid).
   *
   * @throws {Deno.errors.NotFound} when no queue has that id (or it was removed)
   *
   * @example Find a queue by id
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals, assertThrows } from "@std/assert";
   * const q = sysv.MessageQueue.private();
   * assertEquals(sysv.MessageQueue.fromId(q.id).id, q.id);
   * q.remove();
   * assertThrows(() => sysv.MessageQueue.fromId(q.id), Deno.errors.NotFound);
   * ```
   */
  static fromId(id: number): MessageQueue {
    checkId(id);
    const buf = new Uint8Array(MSQID_DS.size);
    const err = errnoView();
    if (libc().msgctl(id, IPC.STAT, buf) === -1) {
      const e = err[0]!;
      throw errnoError(e === Errno.EINVAL ? Errno.ENOENT : e, {
        action: "No message queue",
        object: `id ${id}`,
        syscall: "msgctl",
      });
    }
    const dv = new DataView(buf.buffer);
    return new MessageQueue(
      id,
      decodeIpcPerm(dv).key,
      false,
      Number(dv.getBigUint64(MSQID_DS.qbytes, true)),
    );
  }

  /** The queue id (`ipcs -q` msqid). */
  get id(): number {
    return this.#id;
  }

  /** The key (0 for `IPC_PRIVATE`). */
  get key(): number {
    return this.#key;
  }

  /** True only on the handle whose call created the queue. */
  get created(): boolean {
    return this.#created;
  }

  /**
   * Sends `data` if it fits now (`msgsnd` with `IPC_NOWAIT`).
   *
   * @returns false when the queue is full
   * @throws {RangeError} when the message can never fit (over `msgmax` or the queue's `maxBytes`)
   * @throws {Deno.errors.NotFound} when the queue was removed
   */
  trySend(data: Uint8Array, options: Pick<MessageQueueSendOptions, "type"> = {}): boolean {
    this.#ensureOpen("send to");
    checkOptions(options, "MessageQueue.trySend()", ["type"]);
    const len = this.#prepareSend(data, options.type);
    this.#sendOwner = undefined;
    return this.#trySend(len);
  }

  /**
   * Sends `data`, blocking this thread while the queue is full: in the
   * kernel without a timeout, in `IPC_NOWAIT` retries with short naps with one.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {RangeError} when the message can never fit
   */
  sendSync(data: Uint8Array, options: MessageQueueSendSyncOptions = {}): void {
    this.#ensureOpen("send to");
    checkOptions(options, "MessageQueue.sendSync()", ["type", "timeout"]);
    checkTimeout(options.timeout);
    const len = this.#prepareSend(data, options.type);
    this.#sendOwner = undefined;
    if (options.timeout === undefined) {
      const err = errnoView();
      for (;;) {
        if (libc().msgsnd(this.#id, this.#sendBuf, BigInt(len), 0) === 0) return;
        const e = err[0]!;
        if (e !== Errno.EINTR) throw this.#error(e, "msgsnd");
      }
    }
    this.#napUntil(() => this.#trySend(len) || undefined, options.timeout, "send");
  }

  /**
   * Sends `data`, awaiting room without blocking the event loop (see the
   * class notes). A send that times out or is aborted has sent nothing.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted first
   * @throws {RangeError} when the message can never fit (over `msgmax` or `maxBytes`)
   *
   * @example A message larger than the queue is refused up front
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertRejects } from "@std/assert";
   * const q = sysv.MessageQueue.private({ maxBytes: 100 });
   * await assertRejects(() => q.send(new Uint8Array(101)), RangeError);
   * q.remove();
   * ```
   */
  async send(data: Uint8Array, options: MessageQueueSendOptions = {}): Promise<void> {
    this.#ensureOpen("send to");
    checkOptions(options, "MessageQueue.send()", ["type", "timeout", "signal"]);
    const { type, timeout, signal } = options;
    checkTimeout(timeout);
    checkSignal(signal);
    const token = {};
    let len = this.#prepareSend(data, type);
    this.#sendOwner = token;
    await this.#backoff(
      "write",
      () => {
        // Another send may have refilled the shared send buffer while this one waited.
        if (this.#sendOwner !== token) {
          len = this.#prepareSend(data, type);
          this.#sendOwner = token;
        }
        return this.#trySend(len) || undefined;
      },
      timeout,
      signal,
      "send",
    );
  }

  /**
   * Takes a matching message if there is one now (`msgrcv` with `IPC_NOWAIT`).
   *
   * @returns the message, or undefined when none matches
   */
  tryReceive(
    options: Pick<MessageQueueReceiveOptions, "type" | "except" | "truncate" | "maxSize"> = {},
  ): ReceivedMessage | undefined {
    this.#ensureOpen("receive from");
    checkOptions(options, "MessageQueue.tryReceive()", ["type", "except", "truncate", "maxSize"]);
    const r = this.#receiveArgs(options);
    return this.#tryReceive(r);
  }

  /**
   * Takes a matching message, blocking this thread while there is none: in
   * the kernel without a timeout, in `IPC_NOWAIT` retries with short naps with one.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {Deno.errors.NotFound} when the queue is removed
   */
  receiveSync(options: MessageQueueReceiveSyncOptions = {}): ReceivedMessage {
    this.#ensureOpen("receive from");
    checkOptions(options, "MessageQueue.receiveSync()", [
      "type",
      "except",
      "truncate",
      "maxSize",
      "timeout",
    ]);
    checkTimeout(options.timeout);
    const r = this.#receiveArgs(options);
    if (options.timeout === undefined) {
      const got = this.#receive(r, r.flags);
      if (got !== undefined) return got;
    }
    return this.#napUntil(() => this.#tryReceive(r), options.timeout, "receive");
  }

  /**
   * Takes a matching message, awaiting one without blocking the event loop.
   * A receive that times out or is aborted has taken nothing.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted first
   * @throws {Deno.errors.NotFound} when the queue is removed
   *
   * @example Receive by type
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const q = sysv.MessageQueue.private();
   * try {
   *   for (const type of [3, 1, 2]) q.sendSync(new Uint8Array([type]), { type });
   *   assertEquals((await q.receive({ type: 2 })).type, 2);
   *   assertEquals((await q.receive({ type: -5 })).type, 1); // lowest type ≤ 5
   *   assertEquals((await q.receive({ type: 0, timeout: 0 })).type, 3);
   * } finally {
   *   q.remove();
   * }
   * ```
   */
  async receive(options: MessageQueueReceiveOptions = {}): Promise<ReceivedMessage> {
    this.#ensureOpen("receive from");
    checkOptions(options, "MessageQueue.receive()", [
      "type",
      "except",
      "truncate",
      "maxSize",
      "timeout",
      "signal",
    ]);
    checkTimeout(options.timeout);
    checkSignal(options.signal);
    const r = this.#receiveArgs(options);
    return await this.#backoff(
      "read",
      () => this.#tryReceive(r),
      options.timeout,
      options.signal,
      "receive",
    );
  }

  /**
   * The decoded `msqid_ds` (`IPC_STAT`).
   *
   * @example Inspect a queue with stat()
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const q = sysv.MessageQueue.private();
   * q.sendSync(new Uint8Array(10));
   * const st = q.stat();
   * assertEquals([st.messages, st.bytes, st.lastSendPid], [1, 10, Deno.pid]);
   * q.remove();
   * ```
   */
  stat(): MessageQueueStat {
    this.#ensureOpen("stat");
    const buf = new Uint8Array(MSQID_DS.size);
    this.#ctl(IPC.STAT, buf, "IPC_STAT");
    const dv = new DataView(buf.buffer);
    const st: MessageQueueStat = {
      ...decodeIpcPerm(dv),
      id: this.#id,
      messages: Number(dv.getBigUint64(MSQID_DS.qnum, true)),
      bytes: Number(dv.getBigUint64(MSQID_DS.cbytes, true)),
      maxBytes: Number(dv.getBigUint64(MSQID_DS.qbytes, true)),
      lastSendPid: dv.getInt32(MSQID_DS.lspid, true),
      lastReceivePid: dv.getInt32(MSQID_DS.lrpid, true),
      lastSend: timeField(dv, MSQID_DS.stime),
      lastReceive: timeField(dv, MSQID_DS.rtime),
      lastChange: timeField(dv, MSQID_DS.ctime),
    };
    this.#qbytes = st.maxBytes;
    return st;
  }

  /** Changes owner and permissions (`IPC_SET`). */
  setPermissions(change: { mode?: number; uid?: number; gid?: number }): void {
    this.#ensureOpen("change");
    checkOptions(change, "MessageQueue.setPermissions()", ["mode", "uid", "gid"]);
    const buf = new Uint8Array(MSQID_DS.size);
    this.#ctl(IPC.STAT, buf, "IPC_STAT");
    const dv = new DataView(buf.buffer);
    const now = decodeIpcPerm(dv);
    const { mode = now.mode & 0o777 } = change;
    checkMode(mode);
    encodeIpcPermSet(dv, {
      uid: change.uid === undefined ? now.uid : checkOwner(change.uid, "uid"),
      gid: change.gid === undefined ? now.gid : checkOwner(change.gid, "gid"),
      mode: (now.mode & ~0o777) | mode,
    });
    this.#ctl(IPC.SET, buf, "IPC_SET");
  }

  /**
   * Sets the capacity in bytes (`msg_qbytes` through `IPC_SET`).
   *
   * @throws {Deno.errors.PermissionDenied} above `/proc/sys/kernel/msgmnb` without `CAP_SYS_RESOURCE`
   *
   * @example Shrink a queue, then change its mode
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const q = sysv.MessageQueue.private();
   * q.setMaxBytes(512);
   * q.setPermissions({ mode: 0o640 });
   * const st = q.stat();
   * assertEquals([st.maxBytes, st.mode & 0o777], [512, 0o640]);
   * q.remove();
   * ```
   */
  setMaxBytes(bytes: number): void {
    this.#ensureOpen("change");
    checkMaxBytes(bytes);
    const buf = new Uint8Array(MSQID_DS.size);
    this.#ctl(IPC.STAT, buf, "IPC_STAT");
    new DataView(buf.buffer).setBigUint64(MSQID_DS.qbytes, BigInt(bytes), true);
    try {
      this.#ctl(IPC.SET, buf, "IPC_SET");
    } catch (e) {
      if (e instanceof Deno.errors.PermissionDenied) {
        e.message += `. Raising maxBytes above /proc/sys/kernel/msgmnb (${
          kernelLimit("msgmnb")
        }) needs CAP_SYS_RESOURCE; raise msgmnb (sysctl kernel.msgmnb=N) or ask for less`;
      }
      throw e;
    }
    this.#qbytes = bytes;
  }

  /** True after {@linkcode MessageQueue.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Ends this handle; idempotent. The queue stays for other processes (see
   * {@linkcode MessageQueue.remove}). A pending async `send()` or `receive()`
   * rejects with `Deno.errors.BadResource` at once, having sent or taken
   * nothing, and every later call throws `BadResource`.
   *
   * @example Closing ends a pending wait
   * ```ts
   * import { settled, sysv } from "@ipc/shm";
   * import { assertRejects, assertThrows } from "@std/assert";
   * const q = sysv.MessageQueue.private();
   * const pending = q.receive(); // nobody will send
   * q.close();
   * await assertRejects(() => pending, Deno.errors.BadResource);
   * assertThrows(() => q.tryReceive(), Deno.errors.BadResource);
   * sysv.MessageQueue.fromId(q.id).remove();
   * await settled(); // the retry timer's bounded park has ended
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.closeAll(
      new Deno.errors.BadResource(`${this.#describe()} was closed while waiting`),
    );
  }

  /** Same as {@linkcode MessageQueue.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Removes the queue at once (`IPC_RMID`): its messages are lost, waiters get `NotFound`. */
  remove(): void {
    this.#ensureOpen("remove");
    this.#ctl(IPC.RMID, new Uint8Array(MSQID_DS.size), "IPC_RMID");
  }

  /** Writes `mtype` and `data` into the send buffer; returns the data length. */
  #prepareSend(data: Uint8Array, type: unknown = 1): number {
    if (!(data instanceof Uint8Array)) throw new TypeError("A message is a Uint8Array");
    if (typeof type !== "number") throw new TypeError(`type must be a number, got ${typeof type}`);
    if (!Number.isSafeInteger(type) || type < 1) {
      throw new RangeError(`type must be a positive safe integer, got ${type}`);
    }
    const len = data.byteLength;
    if (len > msgmax()) {
      throw new RangeError(
        `Message of ${len} bytes is larger than /proc/sys/kernel/msgmax (${msgmax()}): ` +
          `msgsnd would fail with EINVAL`,
      );
    }
    if (len > this.#qbytes && len > this.stat().maxBytes) {
      throw new RangeError(
        `Message of ${len} bytes can never fit in message queue ${this.#id}, whose maxBytes ` +
          `(msg_qbytes) is ${this.#qbytes}: msgsnd would wait forever. Send smaller messages ` +
          `or raise it with setMaxBytes()`,
      );
    }
    if (this.#sendBuf.length < MTYPE_SIZE + len) {
      this.#sendBuf = new Uint8Array(Math.max(MTYPE_SIZE + len, this.#sendBuf.length * 2));
      this.#sendType = new Uint32Array(this.#sendBuf.buffer, 0, 2);
    }
    // type is a positive safe integer: its low and high 32 bits, little-endian.
    this.#sendType[0] = type >>> 0;
    this.#sendType[1] = Math.floor(type / 2 ** 32);
    this.#sendBuf.set(data, MTYPE_SIZE);
    return len;
  }

  #trySend(len: number): boolean {
    const lib = libc();
    const err = errnoView();
    for (;;) {
      if (lib.msgsnd(this.#id, this.#sendBuf, BigInt(len), IPC.NOWAIT) === 0) return true;
      const e = err[0]!; // inline, before any call can disturb errno
      if (e === Errno.EAGAIN) return false;
      if (e !== Errno.EINTR) throw this.#error(e, "msgsnd");
    }
  }

  #receiveArgs(options: MessageQueueReceiveSyncOptions): ReceiveArgs {
    const { type = 0, except = false, truncate = false, maxSize = msgmax() } = options;
    if (typeof type !== "number") throw new TypeError(`type must be a number, got ${typeof type}`);
    if (!Number.isSafeInteger(type)) {
      throw new RangeError(`type must be a safe integer, got ${type}`);
    }
    if (typeof except !== "boolean" || typeof truncate !== "boolean") {
      throw new TypeError("except and truncate are booleans");
    }
    if (except && type <= 0) {
      throw new RangeError(`except: true needs a positive type (got ${type})`);
    }
    if (typeof maxSize !== "number") {
      throw new TypeError(`maxSize must be a number, got ${typeof maxSize}`);
    }
    if (!Number.isSafeInteger(maxSize) || maxSize < 0) {
      throw new RangeError(`maxSize must be a non-negative integer, got ${maxSize}`);
    }
    if (this.#recvBuf === undefined || this.#recvBuf.length < MTYPE_SIZE + maxSize) {
      this.#recvBuf = new Uint8Array(MTYPE_SIZE + maxSize);
      this.#recvType = new Uint32Array(this.#recvBuf.buffer, 0, 2);
    }
    if (type !== this.#typeKey) {
      this.#typeBig = BigInt(type);
      this.#typeKey = type;
    }
    if (maxSize !== this.#sizeKey) {
      this.#sizeBig = BigInt(maxSize);
      this.#sizeKey = maxSize;
    }
    return {
      type: this.#typeBig,
      size: this.#sizeBig,
      flags: (except ? MSG.EXCEPT : 0) | (truncate ? MSG.NOERROR : 0),
    };
  }

  #tryReceive(r: ReceiveArgs): ReceivedMessage | undefined {
    return this.#receive(r, r.flags | IPC.NOWAIT);
  }

  /** One `msgrcv`; undefined when IPC_NOWAIT found nothing. */
  #receive(r: ReceiveArgs, flags: number): ReceivedMessage | undefined {
    const lib = libc();
    const err = errnoView();
    const buf = this.#recvBuf!;
    for (;;) {
      const n = lib.msgrcv(this.#id, buf, r.size, r.type, flags);
      if (n >= 0n) {
        // A received mtype is positive: low word unsigned, high word below 2^31.
        const words = this.#recvType!;
        const type = words[1]! * 2 ** 32 + words[0]!;
        return { data: buf.slice(MTYPE_SIZE, MTYPE_SIZE + Number(n)), type };
      }
      const e = err[0]!;
      if (e === Errno.ENOMSG) return undefined;
      if (e === Errno.EINTR) continue;
      if (e === E2BIG) {
        throw new RangeError(
          `The next matching message of queue ${this.#id} is longer than maxSize ${r.size} ` +
            `(msgrcv failed with E2BIG): pass a larger maxSize, or truncate: true`,
        );
      }
      throw this.#error(e, "msgrcv");
    }
  }

  /** Blocks this thread in retries with naps of 0.1 ms growing to 10 ms. */
  #napUntil<T>(attempt: () => T | undefined, timeout: number | undefined, what: string): T {
    const end = timeout === undefined ? Infinity : performance.now() + timeout;
    const cell = new Int32Array(new SharedArrayBuffer(4));
    let nap = 0.1;
    for (;;) {
      const v = attempt();
      if (v !== undefined) return v;
      const left = end - performance.now();
      if (timeout === 0 || left <= 0) throw this.#timedOut(timeout, what);
      Atomics.wait(cell, 0, 0, Math.min(nap, left));
      nap = Math.min(10, nap * 2);
    }
  }

  /**
   * Try, spin (as the library's one waiting strategy, memory/_wait.ts,
   * plans: adaptive, at most MAX_HOLD_US, none on an oversubscribed machine),
   * then queue for retries timed
   * by the shared poll of posix/_mq_poll.ts (see `Waiters.retryInUs`): 20 µs
   * doubling to 1 ms, then a tenth of the time waited, up to 20 ms.
   */
  async #backoff<T>(
    kind: "read" | "write",
    attempt: () => T | undefined,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<T> {
    signal?.throwIfAborted();
    const t0 = performance.now();
    // Sends from one handle keep their order; receives by type need not.
    let learn = false;
    if (kind === "read" || !this.#waiters.busy("write")) {
      let v = attempt();
      if (v !== undefined) return v;
      if (timeout === 0) throw this.#timedOut(0, what);
      const plan = this.#spinner.plan(timeout, undefined, true);
      if (spin(() => (v = attempt()) !== undefined, plan.spinUs, Infinity, 8)) {
        if (plan.learn) this.#spinner.done(t0, false);
        return v!;
      }
      learn = plan.learn;
    } else if (timeout === 0) {
      throw this.#timedOut(0, what);
    }
    const deadline = timeout === undefined ? Infinity : t0 + timeout;
    const v = await this.#waiters.wait(
      kind,
      attempt,
      deadline,
      () => this.#timedOut(timeout, what),
      signal,
    );
    if (learn) this.#spinner.done(t0, true);
    return v;
  }

  #describe(): string {
    return `System V message queue ${this.#id}${
      this.#key === 0 ? "" : ` (key 0x${(this.#key >>> 0).toString(16)})`
    }`;
  }

  #ensureOpen(what: string): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(
        `Cannot ${what} ${this.#describe()}: this handle is closed`,
      );
    }
  }

  #ctl(cmd: number, buf: Uint8Array, name: string): void {
    const err = errnoView();
    if (libc().msgctl(this.#id, cmd, buf) === -1) {
      const e = err[0]!;
      throw errnoError(e === Errno.EINVAL ? Errno.EIDRM : e, {
        ...this.#site(),
        syscall: `msgctl(${name})`,
      });
    }
  }

  #error(e: number, syscall: string): Error {
    // A removed id is EIDRM for a waiter and EINVAL for a later call: both NotFound.
    return errnoError(e === Errno.EINVAL ? Errno.EIDRM : e, { ...this.#site(), syscall });
  }

  #site() {
    return {
      action: "Message queue operation failed",
      object: `${this.#id}${this.#key === 0 ? "" : ` (key ${hexKey(this.#key)})`}`,
    };
  }

  #timedOut(timeout: number | undefined, what: string): Deno.errors.TimedOut {
    return new Deno.errors.TimedOut(
      `Timed out after ${timeout} ms waiting to ${what} on message queue ${this.#id}`,
    );
  }
}

interface ReceiveArgs {
  type: bigint;
  size: bigint;
  flags: number;
}

function checkSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError("signal must be an AbortSignal");
  }
}

function checkMaxBytes(v: unknown): asserts v is number {
  if (typeof v !== "number") throw new TypeError(`maxBytes must be a number, got ${typeof v}`);
  if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 31 - 1) {
    throw new RangeError(`maxBytes must be a positive 32-bit integer, got ${v}`);
  }
}
