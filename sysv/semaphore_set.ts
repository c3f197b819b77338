/**
 * System V semaphore sets (`semget`, `semop`/`semtimedop`, `semctl`).
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { createOrOpen, Errno, errno, errnoError, errnoView } from "../ffi/errno.ts";
import { IPC } from "../ffi/sysv_shm.ts";
import { SEM } from "../ffi/sysv_sem.ts";
import {
  decodeIpcPerm,
  encodeIpcPermSet,
  encodeSembufs,
  type IpcPerm,
  type SemOp,
  sysvLayout,
  timeField,
} from "../ffi/sysv_layouts.ts";
import { checkMode, checkOptions, checkTimeout, refuseNegativeZero } from "../memory/_validate.ts";
import { spin, Spinner } from "../memory/_wait.ts";
import { checkChange, checkId, checkKey, checkOwner, hexKey } from "./_args.ts";
import { idError, isGone, keyHints } from "./_errors.ts";

export type { SemOp } from "../ffi/sysv_layouts.ts";

/** The largest value of a System V semaphore (`SEMVMX`). */
export const SEMVMX = 32767;

/** Options for creating a set. */
export interface CreateSemaphoreSetOptions {
  /** Semaphores in the set, 1 or more (the system limit `SEMMSL` is usually 32000). */
  count: number;
  /** Initial value of every semaphore (0–32767). Default 0. */
  value?: number;
  /** Permission bits, applied exactly. Default `0o600`. */
  mode?: number;
}

/** Options for an operation. */
export interface SemOpOptions {
  /**
   * Milliseconds. Absent (or `Infinity`, or 2⁵³ and more): forever. `0`: try once.
   * Positive: bounded, then `TimedOut`.
   */
  timeout?: number;
  /** (async only) Aborting rejects with `signal.reason`; the operation is then not applied. */
  signal?: AbortSignal;
}

/** Decoded `struct semid_ds`. */
export interface SemaphoreSetStat extends IpcPerm {
  /** The set id. */
  id: number;
  /** Semaphores in the set. */
  count: number;
  /** Last `semop`, or null if never (an initialised set always has one). */
  otime: Date | null;
  /** Last change. */
  ctime: Date | null;
}

const INIT_WAIT_MS = 1000;

/**
 * Timeouts from here up wait without a deadline: 2⁵³ ms is 285,000 years, and
 * beyond it `tv_sec` would not fit a timespec (semtimedop says EINVAL).
 */
const FOREVER_MS = 2 ** 53;

/** `semctl(IPC_STAT)` into a fresh buffer; errno is left for the caller on failure. */
function statInto(id: number): DataView<ArrayBuffer> | undefined {
  const buf = new Uint8Array(sysvLayout().semid_ds.size);
  return libc().semctl(id, 0, IPC.STAT, pointerArg(buf)) === -1
    ? undefined
    : new DataView(buf.buffer);
}

/** True unless `IPC_STAT` says `id` names no set (tells a removed id from a bad argument). */
function setExists(id: number): boolean {
  return statInto(id) !== undefined || !isGone(errno());
}

/** The error for a failed call on set `id`: a removed id is NotFound. */
function setError(e: number, id: number, action: string, syscall: string) {
  return idError(e, { action, syscall }, "semaphore set", id, () => setExists(id));
}

function statSet(id: number, action: string): SemaphoreSetStat {
  const l = sysvLayout().semid_ds;
  const dv = statInto(id);
  if (dv === undefined) throw setError(errno(), id, action, "semctl(IPC_STAT)");
  return {
    ...decodeIpcPerm(dv),
    id,
    count: Number(dv.getBigUint64(l.nsems, true)),
    otime: timeField(dv, l.otime),
    ctime: timeField(dv, l.ctime),
  };
}

function pointerArg(buf: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/**
 * A System V semaphore set: `count` counters changed together, atomically,
 * by {@linkcode SemaphoreSet.op}. `undo: true` operations are reversed by the
 * kernel when the process exits, however it exits (`SEM_UNDO`), which makes
 * them the robust choice for locks.
 *
 * `op()` never blocks the event loop: it tries with `IPC_NOWAIT`, spins
 * briefly (adaptively, and not on an oversubscribed machine: the library's
 * one waiting strategy, `memory/_wait.ts`), then polls with backoff (1 ms growing to 20 ms). Unlike a POSIX
 * semaphore wait, a parked `semop` could not be taken back if the wait were
 * aborted after the kernel applied it, so no kernel wait is ever left behind:
 * an aborted or timed-out `op()` has applied nothing, and the program can exit
 * at once. `opSync()` blocks this thread in `semtimedop`.
 *
 * A handle is only an id: {@linkcode SemaphoreSet.close} (or `using`) ends
 * this handle, rejecting its pending `op()` with `Deno.errors.BadResource`;
 * {@linkcode SemaphoreSet.remove} destroys the set for everyone, and every
 * call on a removed set, here or in another process, is `Deno.errors.NotFound`.
 *
 * @example A lock with SEM_UNDO
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * using set = sysv.SemaphoreSet.private(1, { value: 1 });
 * try {
 *   await set.op([{ index: 0, delta: -1, undo: true }], { timeout: 100 });
 *   assertEquals(set.getValue(0), 0);
 *   assertThrows(() => set.opSync([{ index: 0, delta: -1 }], { timeout: 0 }), Deno.errors.TimedOut);
 *   set.opSync([{ index: 0, delta: 1, undo: true }]);
 * } finally {
 *   set.remove();
 * }
 * ```
 */
export class SemaphoreSet implements Disposable {
  #id: number;
  #key: number;
  #count: number;
  #created: boolean;
  #closed = false;
  /** Wakes the naps of pending `op()` calls, so that `close()` ends them at once. */
  #wakers = new Set<() => void>();
  #spinner = new Spinner();

  private constructor(id: number, key: number, count: number, created: boolean) {
    this.#id = id;
    this.#key = key;
    this.#count = count;
    this.#created = created;
  }

  /**
   * Creates a set for `key` (`IPC_CREAT | IPC_EXCL`), sets every value, and
   * performs one no-op `semop` so that `sem_otime` marks it initialised.
   *
   * @throws {Deno.errors.AlreadyExists} when `key` has a set (the message says how to
   *   open or remove it: `SemaphoreSet.open(key).remove()`, `ipcrm -S key` or the CLI's `rm`)
   * @throws {TypeError | RangeError} for a bad key, count, value or mode, or an unknown option
   *
   * @example Three semaphores, each starting at 2
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assert, assertEquals } from "@std/assert";
   * using set = sysv.SemaphoreSet.private(3, { value: 2 });
   * assert(set.created);
   * assertEquals(set.getAll(), [2, 2, 2]);
   * set.remove();
   * ```
   */
  static create(key: number, options: CreateSemaphoreSetOptions): SemaphoreSet {
    const k = checkKey(key);
    checkOptions(options, "SemaphoreSet.create()", ["count", "value", "mode"]);
    return SemaphoreSet.#create(k, options, IPC.CREAT | IPC.EXCL);
  }

  /**
   * Creates a new set with `IPC_PRIVATE` (share {@linkcode SemaphoreSet.id}).
   *
   * @example A set only its id can reach
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * using set = sysv.SemaphoreSet.private(1);
   * assertEquals(set.key, sysv.IPC_PRIVATE);
   * set.remove();
   * ```
   */
  static private(
    count: number,
    options: Omit<CreateSemaphoreSetOptions, "count"> = {},
  ): SemaphoreSet {
    checkOptions(options, "SemaphoreSet.private()", ["value", "mode"]);
    return SemaphoreSet.#create(IPC.PRIVATE, { ...options, count }, IPC.CREAT);
  }

  /** Makes and initialises a set; `options` were checked by the public caller. */
  static #create(key: number, options: CreateSemaphoreSetOptions, flags: number): SemaphoreSet {
    if (options === undefined) throw new TypeError("creating a semaphore set needs { count }");
    const { count, value = 0, mode = 0o600 } = options;
    checkCount(count);
    checkValue(value);
    checkMode(mode);
    const err = errnoView();
    const id = libc().semget(key, count, flags | mode);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action: "Cannot create semaphore set",
        object: key === 0 ? "IPC_PRIVATE" : hexKey(key),
        syscall: "semget",
        ...(key === IPC.PRIVATE ? {} : { hints: keyHints("semaphore set", key) }),
      });
    }
    const set = new SemaphoreSet(id, key, count, true);
    try {
      set.setAll(new Array(count).fill(value));
      // A net-zero semop sets sem_otime: openers wait for it (the classic init race).
      // The kernel checks each step against 0..SEMVMX, so at SEMVMX step down first.
      const d = value === SEMVMX ? -1 : 1;
      set.opSync([{ index: 0, delta: d }, { index: 0, delta: -d }], { timeout: 0 });
    } catch (e) {
      libc().semctl(id, 0, IPC.RMID, 0n);
      throw e;
    }
    return set;
  }

  /**
   * Opens the set for `key`, waiting (up to 1 s) until its creator has
   * initialised it.
   *
   * @throws {Deno.errors.NotFound} when `key` has no set (the message says how to create it)
   * @throws {Deno.errors.TimedOut} when its creator never initialised it
   *
   * @example A key with no set
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * assertThrows(
   *   () => sysv.SemaphoreSet.open(0x7ffe4321),
   *   Deno.errors.NotFound,
   *   "SemaphoreSet.create()",
   * );
   * ```
   */
  static open(key: number): SemaphoreSet {
    const k = checkKey(key);
    if (k === IPC.PRIVATE) {
      throw new TypeError("IPC_PRIVATE sets cannot be opened by key; use SemaphoreSet.fromId()");
    }
    const err = errnoView();
    const id = libc().semget(k, 0, 0);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action: "Cannot open semaphore set",
        object: hexKey(k),
        syscall: "semget",
        hints: keyHints("semaphore set", k),
      });
    }
    return SemaphoreSet.#initialised(id, k);
  }

  /**
   * Opens the set for `key`, creating and initialising it if there is none.
   * Exactly one process initialises (and its handle alone has
   * {@linkcode SemaphoreSet.created} true); the others wait for `sem_otime`
   * and get the values it set, not their own `value`.
   *
   * @example Only the creator's values count
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assert, assertEquals, assertFalse } from "@std/assert";
   * const key = sysv.ftok("/tmp", 203);
   * try {
   *   sysv.SemaphoreSet.open(key).remove(); // left over from an earlier run
   * } catch {
   *   // none yet
   * }
   * using a = sysv.SemaphoreSet.openOrCreate(key, { count: 2, value: 1 });
   * using b = sysv.SemaphoreSet.openOrCreate(key, { count: 2, value: 5 });
   * assert(a.created);
   * assertFalse(b.created);
   * assertEquals(b.getAll(), [1, 1]);
   * a.remove();
   * ```
   */
  static openOrCreate(key: number, options: CreateSemaphoreSetOptions): SemaphoreSet {
    const k = checkKey(key);
    if (k === IPC.PRIVATE) {
      throw new TypeError("openOrCreate() needs a key; use SemaphoreSet.private() for IPC_PRIVATE");
    }
    checkOptions(options, "SemaphoreSet.openOrCreate()", ["count", "value", "mode"]);
    return createOrOpen(
      () => SemaphoreSet.#create(k, options, IPC.CREAT | IPC.EXCL),
      () => SemaphoreSet.open(k),
    );
  }

  /**
   * The set with id `id`.
   *
   * @throws {Deno.errors.NotFound} when no set has that id (removed?)
   *
   * @example Reach a set by its id
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals, assertFalse, assertThrows } from "@std/assert";
   * using set = sysv.SemaphoreSet.private(2);
   * using same = sysv.SemaphoreSet.fromId(set.id);
   * assertEquals(same.count, 2);
   * assertFalse(same.created);
   * set.remove();
   * assertThrows(() => sysv.SemaphoreSet.fromId(set.id), Deno.errors.NotFound, "no longer exists");
   * ```
   */
  static fromId(id: number): SemaphoreSet {
    checkId(id);
    const dv = statInto(id);
    if (dv === undefined) {
      throw setError(errno(), id, "Cannot open semaphore set", "semctl(IPC_STAT)");
    }
    return SemaphoreSet.#initialised(id, decodeIpcPerm(dv).key);
  }

  static #initialised(id: number, key: number): SemaphoreSet {
    const deadline = performance.now() + INIT_WAIT_MS;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (;;) {
      const st = statSet(id, "Cannot open semaphore set");
      // nsems sizes getAll()'s buffer: a kernel answer outside semget's range is not trusted.
      if (!Number.isSafeInteger(st.count) || st.count < 1 || st.count > 65535) {
        throw new Deno.errors.InvalidData(
          `Cannot open semaphore set ${id}: IPC_STAT reports ${st.count} semaphores (expected 1–65535)`,
        );
      }
      if (st.otime !== null) return new SemaphoreSet(id, key, st.count, false);
      if (performance.now() > deadline) {
        throw new Deno.errors.TimedOut(
          `Semaphore set ${id} (key ${
            hexKey(key)
          }) was never initialised by its creator (sem_otime is 0)`,
        );
      }
      Atomics.wait(nap, 0, 0, 1);
    }
  }

  /** The set id (`ipcs -s` semid). */
  get id(): number {
    return this.#id;
  }

  /** The key (0 for `IPC_PRIVATE`). */
  get key(): number {
    return this.#key;
  }

  /** Semaphores in the set. */
  get count(): number {
    return this.#count;
  }

  /**
   * True only on the handle whose call created the set (`create()`,
   * `private()`, or the one `openOrCreate()` that made it, whose `value` it
   * then holds); false for `open()` and `fromId()`, whose values may be
   * whatever an earlier run left.
   */
  get created(): boolean {
    return this.#created;
  }

  /** True after {@linkcode SemaphoreSet.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Ends this handle; idempotent. The set itself stays for other processes
   * (see {@linkcode SemaphoreSet.remove}). A pending {@linkcode SemaphoreSet.op}
   * rejects with `Deno.errors.BadResource` at once, having applied nothing,
   * and every later call throws `BadResource`.
   *
   * @example Closing ends a pending wait
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertRejects } from "@std/assert";
   * const set = sysv.SemaphoreSet.private(1);
   * const waiting = set.op([{ index: 0, delta: -1 }]); // nobody will post
   * set.close();
   * await assertRejects(() => waiting, Deno.errors.BadResource);
   * sysv.SemaphoreSet.fromId(set.id).remove();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of this.#wakers) wake();
    this.#wakers.clear();
  }

  /** Same as {@linkcode SemaphoreSet.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Applies `ops` atomically (all or none), blocking this thread while any
   * of them would have to wait (`semtimedop`). EINTR is retried.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws {RangeError} for an index outside the set or a delta outside ±32767
   */
  opSync(ops: readonly SemOp[], options: Omit<SemOpOptions, "signal"> = {}): void {
    this.#ensureOpen("operate on");
    const sops = this.#encode(ops, "SemaphoreSet.opSync()");
    checkOptions(options, "SemaphoreSet.opSync()", ["timeout"]);
    const { timeout } = options;
    checkTimeout(timeout);
    if (timeout === 0) {
      if (!this.#tryOp(ops)) throw this.#timedOut(0);
      return;
    }
    const deadline = timeout === undefined || timeout >= FOREVER_MS
      ? Infinity
      : performance.now() + timeout;
    const ts = new BigInt64Array(2);
    for (;;) {
      let r: number;
      if (deadline === Infinity) {
        r = libc().semop(this.#id, sops, BigInt(ops.length));
      } else {
        const left = Math.max(0, deadline - performance.now());
        ts[0] = BigInt(Math.floor(left / 1000));
        ts[1] = BigInt(Math.min(999_999_999, Math.floor((left % 1000) * 1e6)));
        r = libc().semtimedop(this.#id, sops, BigInt(ops.length), new Uint8Array(ts.buffer));
      }
      if (r === 0) return;
      const e = errno();
      if (e === Errno.EINTR) continue;
      if (e === Errno.EAGAIN && ops.some((o) => o.noWait)) throw errnoError(e, this.#site("semop"));
      if (e === Errno.EAGAIN) throw this.#timedOut(timeout);
      throw this.#error(e, deadline === Infinity ? "semop" : "semtimedop");
    }
  }

  /**
   * Applies `ops` atomically without blocking the event loop (see the class
   * notes). An aborted or timed-out call has applied nothing.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted
   */
  async op(ops: readonly SemOp[], options: SemOpOptions = {}): Promise<void> {
    this.#ensureOpen("operate on");
    this.#encode(ops, "SemaphoreSet.op()");
    checkOptions(options, "SemaphoreSet.op()", ["timeout", "signal"]);
    const { timeout, signal } = options;
    checkTimeout(timeout);
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError("signal must be an AbortSignal");
    }
    signal?.throwIfAborted();
    const deadline = timeout === undefined || timeout >= FOREVER_MS
      ? Infinity
      : performance.now() + timeout;
    if (this.#tryOp(ops)) return;
    const t0 = performance.now();
    const plan = this.#spinner.plan(timeout, undefined, true);
    if (spin(() => this.#tryOp(ops), plan.spinUs, deadline, undefined, t0)) {
      if (plan.learn) this.#spinner.done(t0, false);
      return;
    }
    const learn = plan.learn;
    let nap = 1;
    for (;;) {
      if (this.#tryOp(ops)) {
        if (learn) this.#spinner.done(t0, true);
        return;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw this.#timedOut(timeout);
      await this.#nap(Math.min(nap, left), signal);
      this.#ensureOpen("operate on");
      nap = Math.min(20, nap * 1.5);
    }
  }

  /** Sleeps `ms`, or less when aborted (rejecting) or when the handle is closed. */
  #nap(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const end = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#wakers.delete(done);
      };
      const done = () => {
        end();
        resolve();
      };
      const onAbort = () => {
        end();
        reject(signal!.reason);
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** `GETVAL`: the value of semaphore `index`. */
  getValue(index: number): number {
    return this.#ctl(SEM.GETVAL, this.#index(index), 0n, "GETVAL");
  }

  /** `SETVAL`: sets semaphore `index` (waking waiters as needed). */
  setValue(index: number, value: number): void {
    checkValue(value);
    this.#ctl(SEM.SETVAL, this.#index(index), BigInt(value), "SETVAL");
  }

  /** `GETALL`: every value. */
  getAll(): number[] {
    const values = new Uint16Array(this.#count);
    this.#ctl(SEM.GETALL, 0, pointerArg(new Uint8Array(values.buffer)), "GETALL");
    return [...values];
  }

  /**
   * `SETALL`: sets every value at once.
   *
   * @param values exactly {@linkcode SemaphoreSet.count} integers, 0–32767
   * @throws {TypeError} for a hole or a value that is not a number (never stored as 0)
   * @throws {RangeError} for the wrong count or a value out of range
   */
  setAll(values: readonly number[]): void {
    if (!Array.isArray(values)) {
      throw new TypeError(`setAll() takes an array of ${this.#count} values`);
    }
    if (values.length !== this.#count) {
      throw new RangeError(`setAll() takes exactly ${this.#count} values, got ${values.length}`);
    }
    // An index loop, not forEach: forEach skips holes, which would store 0.
    for (let i = 0; i < values.length; i++) checkValue(values[i], `setAll() value ${i}`);
    const buf = Uint16Array.from(values);
    this.#ctl(SEM.SETALL, 0, pointerArg(new Uint8Array(buf.buffer)), "SETALL");
  }

  /** `GETNCNT`: processes waiting for semaphore `index` to increase. */
  waitingForIncrease(index: number): number {
    return this.#ctl(SEM.GETNCNT, this.#index(index), 0n, "GETNCNT");
  }

  /** `GETZCNT`: processes waiting for semaphore `index` to become zero. */
  waitingForZero(index: number): number {
    return this.#ctl(SEM.GETZCNT, this.#index(index), 0n, "GETZCNT");
  }

  /** `GETPID`: pid of the last process to operate on semaphore `index`. */
  lastPid(index: number): number {
    return this.#ctl(SEM.GETPID, this.#index(index), 0n, "GETPID");
  }

  /** The decoded `semid_ds` (`IPC_STAT`). */
  stat(): SemaphoreSetStat {
    this.#ensureOpen("stat");
    return statSet(this.#id, `Cannot stat ${this.#describe()}`);
  }

  /** Changes owner and permissions (`IPC_SET`). */
  setPermissions(change: { mode?: number; uid?: number; gid?: number }): void {
    checkChange(change, "SemaphoreSet.setPermissions()");
    const l = sysvLayout().semid_ds;
    const buf = new Uint8Array(l.size);
    this.#ctl(IPC.STAT, 0, pointerArg(buf), "IPC_STAT");
    const dv = new DataView(buf.buffer);
    const now = decodeIpcPerm(dv);
    const { mode = now.mode & 0o777 } = change;
    checkMode(mode);
    encodeIpcPermSet(dv, {
      uid: change.uid === undefined ? now.uid : checkOwner(change.uid, "uid"),
      gid: change.gid === undefined ? now.gid : checkOwner(change.gid, "gid"),
      mode: (now.mode & ~0o777) | mode,
    });
    this.#ctl(IPC.SET, 0, pointerArg(buf), "IPC_SET");
  }

  /** Removes the set at once (`IPC_RMID`); waiters in other processes get `EIDRM`. */
  remove(): void {
    this.#ensureOpen("remove");
    this.#ctl(IPC.RMID, 0, 0n, "IPC_RMID");
  }

  #tryOp(ops: readonly SemOp[]): boolean {
    const nowait = ops.map((o) => ({ ...o, noWait: true }));
    const sops = encodeSembufs(nowait, SEM.UNDO, IPC.NOWAIT);
    const lib = libc();
    const err = errnoView();
    for (;;) {
      if (lib.semop(this.#id, sops, BigInt(ops.length)) === 0) return true;
      const e = err[0]!; // inline, before any call can disturb errno
      if (e === Errno.EAGAIN) {
        // An op the caller marked noWait fails for real instead of waiting.
        if (ops.some((o) => o.noWait)) {
          throw errnoError(e, this.#site("semop"));
        }
        return false;
      }
      if (e !== Errno.EINTR) throw this.#error(e, "semop");
    }
  }

  #encode(ops: readonly SemOp[], what: string): Uint8Array<ArrayBuffer> {
    if (!Array.isArray(ops) || ops.length === 0) {
      throw new TypeError(`${what} takes a non-empty array of operations`);
    }
    for (const o of ops) {
      if (o === null || typeof o !== "object") {
        throw new TypeError("each operation is { index, delta, undo?, noWait? }");
      }
      checkOptions(o, `an operation of ${what}`, OP_KEYS);
      this.#index(o.index);
      // Truthiness would read undo: "no" as SEM_UNDO: flags take booleans only.
      for (const flag of ["undo", "noWait"] as const) {
        if (o[flag] !== undefined && typeof o[flag] !== "boolean") {
          throw new TypeError(`${flag} must be a boolean, got ${typeof o[flag]}`);
        }
      }
      if (typeof o.delta !== "number") {
        throw new TypeError(`delta must be a number, got ${typeof o.delta}`);
      }
      if (!Number.isInteger(o.delta) || o.delta < -SEMVMX || o.delta > SEMVMX) {
        throw new RangeError(
          `delta must be an integer from -${SEMVMX} to ${SEMVMX}, got ${o.delta}`,
        );
      }
    }
    return encodeSembufs(ops, SEM.UNDO, IPC.NOWAIT);
  }

  #index(index: number): number {
    if (typeof index !== "number") {
      throw new TypeError(`index must be a number, got ${typeof index}`);
    }
    if (!Number.isInteger(index) || index < 0 || index >= this.#count) {
      throw new RangeError(`index must be from 0 to ${this.#count - 1}, got ${index}`);
    }
    return index;
  }

  #ctl(cmd: number, index: number, arg: bigint, name: string): number {
    this.#ensureOpen("use");
    const r = libc().semctl(this.#id, index, cmd, arg);
    if (r === -1) throw this.#error(errno(), `semctl(${name})`);
    return r;
  }

  #site(syscall: string) {
    return { action: `Cannot operate on ${this.#describe()}`, syscall };
  }

  #error(e: number, syscall: string) {
    return setError(e, this.#id, `Cannot operate on ${this.#describe()}`, syscall);
  }

  #describe(): string {
    return `System V semaphore set ${this.#id}${
      this.#key === 0 ? "" : ` (key ${hexKey(this.#key)})`
    }`;
  }

  #ensureOpen(what: string): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(
        `Cannot ${what} ${this.#describe()}: this handle is closed`,
      );
    }
  }

  #timedOut(timeout: number | undefined): Deno.errors.TimedOut {
    return new Deno.errors.TimedOut(
      `Timed out after ${timeout} ms waiting on semaphore set ${this.#id}`,
    );
  }
}

const OP_KEYS = ["index", "delta", "undo", "noWait"] as const;

function checkCount(count: unknown): asserts count is number {
  if (typeof count !== "number") throw new TypeError(`count must be a number, got ${typeof count}`);
  if (!Number.isInteger(count) || count < 1 || count > 65535) {
    throw new RangeError(`count must be an integer from 1 to 65535, got ${count}`);
  }
}

function checkValue(value: unknown, what = "value"): void {
  if (typeof value !== "number") {
    throw new TypeError(`${what} must be a number, got ${typeof value}`);
  }
  refuseNegativeZero(value, what);
  if (!Number.isInteger(value) || value < 0 || value > SEMVMX) {
    throw new RangeError(`${what} must be an integer from 0 to ${SEMVMX}, got ${value}`);
  }
}
