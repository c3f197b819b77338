/**
 * A cross-process mutex: one 32-bit lock word in shared memory, taken and
 * released with atomics, and a process-shared semaphore beside it used only
 * to sleep and wake waiters.
 *
 * @module
 */

import { Errno, errnoError } from "../ffi/errno.ts";
import { checkPlacement, type MappedRegion } from "../memory/region.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { checkMode } from "../memory/_validate.ts";
import { isAlive } from "../memory/_liveness.ts";
import { place, type PlaceHow, placeWhere } from "../memory/_placement.ts";
import { type CreateLockOptions, openNamed } from "./_named.ts";
import {
  checkFactoryOptions,
  checkWaitOptions,
  deadlineOf,
  type SyncWaitOptions,
  timedOut,
  type WaitOptions,
} from "./_options.ts";
import { type Parker, parkerAt } from "./_parker.ts";

/** Bytes a mutex occupies inside a mapping (lock word, header and semaphore). */
export const MUTEX_SIZE = 64;
/** Required alignment of a mutex's byte offset. */
export const MUTEX_ALIGN = 8;

// Int32 indices into the mutex's memory.
const LOCK = 0; // 0 = free, else owner pid | WAITERS
const MAGIC = 1; // the placement word (memory/_placement.ts): MUTEX_MAGIC once ready
const RECOVERIES = 2; // how many times a dead owner's lock was taken over
// Layout version, written before the magic: a reader (this library, the CLI) refuses a layout it
// does not know instead of misreading it.
const VERSION = 3;
const LAYOUT_VERSION = 1;
const PARKER_OFFSET = 16;
const WAITERS = 1 << 30;
const PID_MASK = WAITERS - 1;
/** Linux's PID_MAX_LIMIT: an owner above it, or any other bit set, is a corrupt word. */
const PID_MAX_LIMIT = 2 ** 22;
/** Compare-exchange retries on the contended path before it sleeps instead. */
const CAS_TRIES = 1000;
const MUTEX_MAGIC = 0x4d757478; // "Mutx"

/** How long one sleep lasts before a waiter checks whether the owner died. */
const SLICE_MS = 50;

// Deno.pid is the process id in Workers too: Workers of one process share it.
const pid = Deno.pid;
const NO_OPTIONS: WaitOptions = Object.freeze({});

let unlockFor: (mutex: Mutex, guard: MutexGuard) => void;
let rawInit: (region: MappedRegion, byteOffset: number) => Mutex;

/**
 * Initialises a mutex at `byteOffset` without the placement protocol, for a
 * lock embedded in a bigger layout whose own placement word already decided
 * that this process initialises it (RwLock, sync.Semaphore).
 */
export function initEmbeddedMutex(region: MappedRegion, byteOffset: number): Mutex {
  return rawInit(region, byteOffset);
}

/**
 * Proof that the lock is held. Release it with `release()` or, better, let
 * `using` do it: `using _guard = await mutex.lock()`.
 *
 * @example Release by scope
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const name = `/doc-guard-${Deno.pid}`;
 * using mutex = sync.Mutex.create(name);
 * {
 *   using guard = mutex.lockSync();
 *   assertEquals(guard.recovered, false);
 *   assertEquals(mutex.tryLock(), undefined);
 * }
 * assert(mutex.tryLock()?.release() === undefined);
 * sync.Mutex.unlink(name);
 * ```
 */
export class MutexGuard implements Disposable {
  #mutex: Mutex | undefined;
  /**
   * True when the previous owner died holding the lock (the `EOWNERDEAD`
   * convention): the data it guards may be half-updated; repair it before
   * relying on it.
   */
  readonly recovered: boolean;

  /** @internal */
  constructor(mutex: Mutex, recovered: boolean) {
    this.#mutex = mutex;
    this.recovered = recovered;
  }

  /** True once released. */
  get released(): boolean {
    return this.#mutex === undefined;
  }

  /**
   * Releases the lock; idempotent.
   *
   * @throws {Deno.errors.PermissionDenied} (`EPERM`) when the lock word no
   *   longer names this process — someone else's memory write took it away
   */
  release(): void {
    const mutex = this.#mutex;
    if (mutex === undefined) return;
    this.#mutex = undefined;
    unlockFor(mutex, this);
  }

  /** Same as {@linkcode MutexGuard.release}. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * A mutex shared between processes, Workers, and handles: each handle contends
 * like another process would (it is not re-entrant).
 *
 * - **Fast when free**: lock and unlock are one compare-exchange each; no
 *   system call, no FFI call.
 * - **Sleeps when contended**: a waiter sleeps on a process-shared semaphore
 *   and the unlocker wakes it, after an adaptive spin (none on an
 *   oversubscribed machine: the library's one waiting strategy, `memory/_wait.ts`).
 * - **Robust**: the lock word holds the owner's pid. A waiter that has slept
 *   for a 50 ms slice checks whether that pid is still a live process (a
 *   zombie counts as dead); if not, it takes the lock over and its guard says
 *   `recovered: true`. Limits: Workers of one process share a pid, so a Worker
 *   terminated while holding the lock is not detected; and if the owner dies
 *   and its pid is reused by a new process before anyone checks, the lock is
 *   held until that process exits.
 *
 * Named mutexes live in a 64-byte POSIX shared memory object of that name;
 * {@linkcode Mutex.init} and {@linkcode Mutex.attach} put one inside any
 * mapping, next to the data it guards. Needs `--allow-ffi`.
 *
 * @example Guard a counter that two handles share
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const name = `/doc-mutex-${Deno.pid}`;
 * using a = sync.Mutex.create(name);
 * using b = sync.Mutex.open(name);
 * {
 *   using _held = await a.lock();
 *   assertEquals(b.tryLock(), undefined);
 * }
 * const result = await b.withLock(() => 42);
 * assertEquals(result, 42);
 * sync.Mutex.unlink(name);
 * ```
 */
export class Mutex implements Disposable {
  #word: Int32Array;
  #parker: Parker;
  #owned: SharedMemory | undefined;
  #name: string | undefined;
  #closed = false;
  /** The guard this handle holds, if any (a handle is not re-entrant). */
  #holder: MutexGuard | undefined;
  #lastLivenessCheck = -Infinity;
  #created: boolean;

  static {
    unlockFor = (mutex, guard) => mutex.#unlock(guard);
    rawInit = (region, byteOffset) => new Mutex(region, byteOffset, "embedded");
  }

  private constructor(
    region: MappedRegion,
    byteOffset: number,
    how: PlaceHow | "embedded",
    owned?: SharedMemory,
  ) {
    checkPlacement(region, byteOffset, MUTEX_SIZE, MUTEX_ALIGN, "mutex");
    const word = region.view(Int32Array, byteOffset, 4);
    let parker: Parker | undefined;
    const initialise = () => {
      Atomics.store(word, LOCK, 0);
      Atomics.store(word, RECOVERIES, 0);
      Atomics.store(word, VERSION, LAYOUT_VERSION);
      parker = parkerAt(region, byteOffset + PARKER_OFFSET, true);
    };
    if (how === "embedded") {
      initialise();
      Atomics.store(word, MAGIC, MUTEX_MAGIC);
      this.#created = true;
    } else {
      const kind = { kind: "Mutex", magic: MUTEX_MAGIC, where: placeWhere(region, byteOffset) };
      this.#created = place(word, MAGIC, how, kind, initialise);
      const version = Atomics.load(word, VERSION);
      if (version !== LAYOUT_VERSION) {
        throw new Deno.errors.InvalidData(
          `The Mutex at ${kind.where} has layout version ${version}; this library reads version ${LAYOUT_VERSION}`,
        );
      }
    }
    this.#word = word;
    this.#parker = parker ?? parkerAt(region, byteOffset + PARKER_OFFSET, false);
    this.#owned = owned;
    this.#name = owned?.name;
  }

  /**
   * Creates a named mutex (a 64-byte shared memory object called `name`).
   *
   * @param name `/` then 1–255 bytes, no other `/`
   * @throws {Deno.errors.AlreadyExists} when `name` exists
   *
   * @example Create and unlink
   * ```ts
   * import { sync } from "@ipc/shm";
   * const name = `/doc-mutex-create-${Deno.pid}`;
   * const m = sync.Mutex.create(name, { mode: 0o600 });
   * m.close();
   * sync.Mutex.unlink(name);
   * ```
   */
  static create(name: string, options: CreateLockOptions = {}): Mutex {
    return Mutex.#named("create", name, options, "Mutex.create()");
  }

  /**
   * Opens a named mutex another process created.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   * @throws {Deno.errors.InvalidData} when `name` is not a mutex
   *
   * @example Open by name
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mutex-open-${Deno.pid}`;
   * using created = sync.Mutex.create(name);
   * using opened = sync.Mutex.open(name);
   * assertEquals(opened.name, name);
   * sync.Mutex.unlink(name);
   * ```
   */
  static open(name: string): Mutex {
    return Mutex.#named("open", name, {}, "Mutex.open()");
  }

  /**
   * Opens `name`, creating it if it does not exist.
   *
   * @example Either side may start first
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mutex-ooc-${Deno.pid}`;
   * using a = sync.Mutex.openOrCreate(name);
   * using b = sync.Mutex.openOrCreate(name);
   * assertEquals([a.created, b.created], [true, false]); // exactly one creates
   * sync.Mutex.unlink(name);
   * ```
   */
  static openOrCreate(name: string, options: CreateLockOptions = {}): Mutex {
    return Mutex.#named("openOrCreate", name, options, "Mutex.openOrCreate()");
  }

  static #named(
    how: "create" | "open" | "openOrCreate",
    name: string,
    options: CreateLockOptions,
    what: string,
  ): Mutex {
    checkFactoryOptions(options, what, ["mode"]);
    const mode = options.mode ?? 0o600;
    checkMode(mode);
    return openNamed(
      how,
      "Mutex",
      name,
      MUTEX_SIZE,
      mode,
      (s) => new Mutex(s, 0, "init", s),
      (s) => {
        // RwLock and sync.Semaphore objects start with a mutex of their own:
        // only an object of exactly a mutex's size is a named Mutex.
        if (s.size !== MUTEX_SIZE) {
          throw new Deno.errors.InvalidData(`a named Mutex is ${MUTEX_SIZE} bytes`);
        }
        return new Mutex(s, 0, "attach", s);
      },
    );
  }

  /**
   * Removes a named mutex. Handles already open keep working.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   *
   * @example Remove by name
   * ```ts
   * import { sync } from "@ipc/shm";
   * const name = `/doc-mutex-rm-${Deno.pid}`;
   * sync.Mutex.create(name).close();
   * sync.Mutex.unlink(name);
   * ```
   */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /**
   * Initialises a new, unlocked mutex at `byteOffset` of `region` (for
   * example a `SharedMemory` that also holds the data it guards); other
   * processes call {@linkcode Mutex.attach}. It never resets a mutex that is
   * there (held or not): where processes may start in any order, use
   * {@linkcode Mutex.initOrAttach}.
   *
   * @param region a mapping: `SharedMemory` or a System V attachment
   * @param byteOffset a multiple of `MUTEX_ALIGN` with `MUTEX_SIZE` bytes after it
   * @throws {RangeError} when misaligned or out of bounds
   * @throws {Deno.errors.AlreadyExists} when a mutex is already placed there
   * @throws {Deno.errors.InvalidData} when the memory there holds something else
   *
   * @example A lock next to its data
   * ```ts
   * import { MUTEX_SIZE, SharedMemory, sync } from "@ipc/shm";
   * import { assertEquals, assertThrows } from "@std/assert";
   *
   * const name = `/doc-mutex-init-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: MUTEX_SIZE + 8 });
   * using mutex = sync.Mutex.init(shm, 0);
   * assertThrows(() => sync.Mutex.init(shm, 0), Deno.errors.AlreadyExists);
   * const counter = shm.view(Float64Array, MUTEX_SIZE, 1);
   * mutex.withLockSync(() => counter[0]! += 1);
   * assertEquals(counter[0], 1);
   * shm.unlink();
   * ```
   */
  static init(region: MappedRegion, byteOffset: number): Mutex {
    return new Mutex(region, byteOffset, "init");
  }

  /**
   * Attaches to a mutex another handle initialised at `byteOffset` of `region`.
   *
   * @throws {Deno.errors.InvalidData} when no mutex was initialised there
   *
   * @example Attach in a second handle
   * ```ts
   * import { MUTEX_SIZE, SharedMemory, sync } from "@ipc/shm";
   * const name = `/doc-mutex-attach-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: MUTEX_SIZE });
   * using a = sync.Mutex.init(shm, 0);
   * using other = SharedMemory.open(name);
   * using b = sync.Mutex.attach(other, 0);
   * b.lockSync().release();
   * shm.unlink();
   * ```
   */
  static attach(region: MappedRegion, byteOffset: number): Mutex {
    return new Mutex(region, byteOffset, "attach");
  }

  /**
   * Initialises a mutex at `byteOffset` of `region` if nobody has, or attaches
   * to the one there: the call for processes that share a mapping and may
   * start in any order, or all at once. {@linkcode Mutex.created} says which
   * happened.
   *
   * @param region a mapping: `SharedMemory` or a System V attachment
   * @param byteOffset a multiple of `MUTEX_ALIGN` with `MUTEX_SIZE` bytes after it
   * @throws {RangeError} when misaligned or out of bounds
   * @throws {Deno.errors.InvalidData} when the memory there holds something else
   *
   * @example Every process runs the same code
   * ```ts
   * import { MUTEX_SIZE, SharedMemory, sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   *
   * const name = `/doc-mutex-ioa-${Deno.pid}`;
   * using shm = SharedMemory.openOrCreate(name, { size: MUTEX_SIZE + 8 });
   * using mutex = sync.Mutex.initOrAttach(shm, 0);
   * using again = sync.Mutex.initOrAttach(shm, 0); // a second process, say
   * assertEquals([mutex.created, again.created], [true, false]);
   * again.withLockSync(() => shm.view(Float64Array, MUTEX_SIZE, 1)[0]! += 1);
   * shm.unlink();
   * ```
   */
  static initOrAttach(region: MappedRegion, byteOffset: number): Mutex {
    return new Mutex(region, byteOffset, "initOrAttach");
  }

  /**
   * True when this handle's call created (named) or initialised (in a
   * mapping) the mutex; false when it opened or attached to an existing one.
   */
  get created(): boolean {
    return this.#created;
  }

  /** The name of a named mutex; `undefined` for one inside a mapping. */
  get name(): string | undefined {
    return this.#name;
  }

  /** True after {@linkcode Mutex.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * How many times a lock left by a dead owner was taken over (across all
   * processes, since init).
   */
  get recoveries(): number {
    this.#check();
    const n = Atomics.load(this.#word, RECOVERIES);
    if (n < 0) throw this.#corrupt("recovery count", n);
    return n;
  }

  /**
   * Takes the lock if it is free (or its owner is dead), without waiting.
   *
   * @returns a guard, or `undefined` when another holder has it
   */
  tryLock(): MutexGuard | undefined {
    if (this.#cas()) return this.#guard(false);
    // A failed tryLock may be retried in a tight loop: look for a dead owner at
    // most every few milliseconds, since that costs two system calls.
    const now = performance.now();
    if (now - this.#lastLivenessCheck < 5) return undefined;
    this.#lastLivenessCheck = now;
    return this.#takeOverIfDead();
  }

  /**
   * Takes the lock, blocking this thread while it waits. Nothing else on this
   * thread runs meanwhile, so prefer {@linkcode Mutex.lock} on a busy event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   *
   * @example With a timeout
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * const name = `/doc-mutex-locksync-${Deno.pid}`;
   * using a = sync.Mutex.create(name);
   * using b = sync.Mutex.open(name);
   * using _held = a.lockSync();
   * assertThrows(() => b.lockSync({ timeout: 10 }), Deno.errors.TimedOut);
   * sync.Mutex.unlink(name);
   * ```
   */
  lockSync(options: SyncWaitOptions = NO_OPTIONS): MutexGuard {
    if (options !== NO_OPTIONS) checkWaitOptions(options, "Mutex.lockSync()", true);
    if (this.#cas()) return this.#guard(false);
    const deadline = deadlineOf(options.timeout);
    for (;;) {
      const got = this.#acquireContended();
      if (got !== undefined) return got;
      // No clock read without a deadline (they cost 0.3–0.9 µs here).
      const remaining = deadline === Infinity ? Infinity : deadline - performance.now();
      if (remaining <= 0) throw timedOut("lock the mutex", options.timeout);
      try {
        // The parker spins, naps or sleeps as memory/_wait.ts plans: the
        // WAITERS flag now set makes the unlock post it.
        this.#parker.waitSync({ timeout: Math.min(SLICE_MS, remaining) });
      } catch (e) {
        if (!(e instanceof Deno.errors.TimedOut)) throw e;
        const taken = this.#takeOverIfDead();
        if (taken !== undefined) return taken;
      }
      this.#check();
    }
  }

  /**
   * Takes the lock, waiting without blocking the event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when `signal` aborts first
   *
   * @example Abort a wait
   * ```ts
   * import { settled, sync } from "@ipc/shm";
   * import { assertRejects } from "@std/assert";
   * const name = `/doc-mutex-lock-${Deno.pid}`;
   * using a = sync.Mutex.create(name);
   * using b = sync.Mutex.open(name);
   * const held = await a.lock();
   * await assertRejects(() => b.lock({ signal: AbortSignal.timeout(10) }));
   * held.release();
   * using _mine = await b.lock({ timeout: 1000 });
   * sync.Mutex.unlink(name);
   * await settled(); // the abandoned wait's park ends within 50 ms
   * ```
   */
  lock(options: WaitOptions = NO_OPTIONS): Promise<MutexGuard> {
    try {
      if (options !== NO_OPTIONS) {
        checkWaitOptions(options, "Mutex.lock()");
        options.signal?.throwIfAborted();
      }
      if (this.#cas()) return Promise.resolve(this.#guard(false));
    } catch (e) {
      // An async API reports every failure through its promise.
      return Promise.reject(e);
    }
    return this.#lockSlow(options);
  }

  async #lockSlow(options: WaitOptions): Promise<MutexGuard> {
    const { signal } = options;
    const deadline = deadlineOf(options.timeout);
    signal?.throwIfAborted();
    for (;;) {
      const got = this.#acquireContended();
      if (got !== undefined) return got;
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw timedOut("lock the mutex", options.timeout);
      try {
        await this.#parker.wait({
          timeout: Math.min(SLICE_MS, remaining),
          ...(signal ? { signal } : {}),
        });
      } catch (e) {
        // close() rejected the park, or closed the mapping under it: say so, in our words.
        if (this.#closed || this.#word.length === 0) throw this.#closedWhileWaiting();
        // An abort whose reason is a TimedOut must not pass for a slice that ended.
        if (signal?.aborted) throw signal.reason;
        if (!(e instanceof Deno.errors.TimedOut)) throw e;
        const taken = this.#takeOverIfDead();
        if (taken !== undefined) return taken;
      }
      if (this.#closed || this.#word.length === 0) throw this.#closedWhileWaiting();
    }
  }

  #closedWhileWaiting(): Deno.errors.BadResource {
    return new Deno.errors.BadResource(
      `Mutex ${this.#name ?? "in shared memory"} was closed while waiting to lock`,
    );
  }

  /**
   * Runs `fn` while holding the lock and releases it afterwards, even if `fn`
   * throws.
   *
   * @returns what `fn` returns
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mutex-with-${Deno.pid}`;
   * using m = sync.Mutex.create(name);
   * assertEquals(await m.withLock(async () => "done"), "done");
   * sync.Mutex.unlink(name);
   * ```
   */
  async withLock<T>(
    fn: (guard: MutexGuard) => T | Promise<T>,
    options: WaitOptions = {},
  ): Promise<T> {
    checkWaitOptions(options, "Mutex.withLock()");
    using guard = await this.lock(options);
    return await fn(guard);
  }

  /**
   * Synchronous {@linkcode Mutex.withLock}.
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-mutex-withsync-${Deno.pid}`;
   * using m = sync.Mutex.create(name);
   * assertEquals(m.withLockSync(() => 7), 7);
   * sync.Mutex.unlink(name);
   * ```
   */
  withLockSync<T>(fn: (guard: MutexGuard) => T, options: SyncWaitOptions = {}): T {
    checkWaitOptions(options, "Mutex.withLockSync()", true);
    using guard = this.lockSync(options);
    return fn(guard);
  }

  /**
   * Releases this handle (and any lock it still holds); idempotent. Its
   * pending `lock()`s reject with `BadResource`. A named mutex stays until
   * {@linkcode Mutex.unlink}.
   */
  close(): void {
    if (this.#closed) return;
    try {
      this.#holder?.release();
    } catch { /* the lock word was not ours any more; nothing to give back */ }
    this.#closed = true;
    this.#word = new Int32Array(0);
    this.#parker.close();
    this.#owned?.close();
  }

  /** Same as {@linkcode Mutex.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #guard(recovered: boolean): MutexGuard {
    return (this.#holder = new MutexGuard(this, recovered));
  }

  #unlock(guard: MutexGuard): void {
    // A guard outlived its handle (closed, and released then): nothing to do.
    if (this.#holder !== guard) return;
    this.#holder = undefined;
    const w = this.#word;
    if (w.length === 0) return; // the mapping is gone, and the lock with it
    const prev = Atomics.compareExchange(w, LOCK, pid, 0);
    if (prev === pid) return;
    if (prev < 0 || (prev & ~(PID_MASK | WAITERS)) !== 0 || (prev & PID_MASK) !== pid) {
      throw errnoError(Errno.EPERM, {
        syscall: "Mutex.unlock",
        action: "Cannot release mutex",
        object: this.#name ?? "in shared memory",
      });
    }
    // Someone is (or was) asleep: free the word, then wake one sleeper.
    Atomics.store(w, LOCK, 0);
    this.#parker.post();
  }

  /** One attempt on the contended path: take a free word, or flag that we sleep. */
  #acquireContended(): MutexGuard | undefined {
    const w = this.#word;
    this.#checkMagic();
    for (let i = 0; i < CAS_TRIES; i++) {
      const v = this.#lockWord();
      if (v === 0) {
        // Others may still sleep: keep the WAITERS flag so our unlock wakes one.
        if (Atomics.compareExchange(w, LOCK, 0, pid | WAITERS) === 0) return this.#guard(false);
        continue;
      }
      if ((v & WAITERS) !== 0 || Atomics.compareExchange(w, LOCK, v, v | WAITERS) === v) {
        return undefined;
      }
    }
    return undefined; // the word kept changing under us: sleep a slice, then look again
  }

  /** The lock word, checked: 0, or an owner pid with perhaps the WAITERS flag. */
  #lockWord(): number {
    const v = Atomics.load(this.#word, LOCK);
    if (v < 0 || (v & PID_MASK) > PID_MAX_LIMIT) throw this.#corrupt("lock word", v);
    return v;
  }

  #checkMagic(): void {
    const m = Atomics.load(this.#word, MAGIC);
    if (m !== MUTEX_MAGIC) throw this.#corrupt("placement word", m);
  }

  #corrupt(field: string, v: number): Deno.errors.InvalidData {
    return new Deno.errors.InvalidData(
      `Cannot use mutex ${this.#name ?? "in shared memory"}: its ${field} is 0x${
        (v >>> 0).toString(16)
      }, which it never holds; another process overwrote it`,
    );
  }

  #takeOverIfDead(): MutexGuard | undefined {
    this.#checkMagic();
    const v = this.#lockWord();
    const owner = v & PID_MASK;
    if (owner === 0 || owner === pid || isAlive(owner)) return undefined;
    if (Atomics.compareExchange(this.#word, LOCK, v, pid | (v & WAITERS)) !== v) return undefined;
    Atomics.add(this.#word, RECOVERIES, 1);
    return this.#guard(true);
  }

  /** The fast path: one compare-exchange. A closed handle or mapping has an empty word, so it throws. */
  #cas(): boolean {
    try {
      return Atomics.compareExchange(this.#word, LOCK, 0, pid) === 0;
    } catch {
      this.#check();
      throw new Deno.errors.BadResource("Cannot use mutex: its memory is gone");
    }
  }

  #check(): void {
    if (this.#closed || this.#word.length === 0) {
      throw new Deno.errors.BadResource(
        `Cannot use mutex${this.#name ? ` "${this.#name}"` : ""}: it is closed`,
      );
    }
  }
}
