/**
 * A reader-writer lock over shared memory: many readers or one writer, across
 * processes, robust to holders that die.
 *
 * @module
 */

import type { MappedRegion } from "../memory/region.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { checkMode } from "../memory/_validate.ts";
import { isAlive } from "../memory/_liveness.ts";
import type { PlaceHow } from "../memory/_placement.ts";
import { type CreateLockOptions, openNamed } from "./_named.ts";
import { ReleaseOnce } from "./_release_once.ts";
import { checkFactoryOptions, type SyncWaitOptions, type WaitOptions } from "./_options.ts";
import {
  checkSlots,
  StateLock,
  stateLockSize,
  type Taker,
  WORD_A,
  WORD_B,
  WORD_C,
  WORD_D,
} from "./_state_lock.ts";

const MAGIC = 0x52774c6b; // "RwLk"
const WRITER = WORD_A; // pid of the writer, or 0
const WAITING_WRITER = WORD_B; // token of the handle whose writer waits (readers queue behind it)
const DIRTY = WORD_C; // 1 when a writer died holding the lock, until someone is told
const WAITING_PID = WORD_D; // pid of that waiting writer, to clear the mark if it dies

const pid = Deno.pid;

/** Options for creating a reader-writer lock. */
export interface CreateRwLockOptions extends CreateLockOptions {
  /** How many processes may hold read locks at once (table size). Default 64. */
  maxHolders?: number;
}

/**
 * Bytes an `RwLock` with `maxHolders` table entries needs in a mapping.
 *
 * @example
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assert, assertThrows } from "@std/assert";
 * assert(sync.rwLockSize(8) < sync.rwLockSize(64));
 * assertThrows(() => sync.rwLockSize(0), RangeError);
 * ```
 */
export function rwLockSize(maxHolders = 64): number {
  checkSlots(maxHolders);
  return stateLockSize(maxHolders);
}

/**
 * A held read or write lock; `release()` or `using` gives it back.
 *
 * @example
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const name = `/doc-rwguard-${Deno.pid}`;
 * using lock = sync.RwLock.create(name);
 * {
 *   using guard = lock.writeSync();
 *   assertEquals(guard.mode, "write");
 * }
 * sync.RwLock.unlink(name);
 * ```
 */
export class RwLockGuard extends ReleaseOnce {
  /** `"read"` or `"write"`. */
  readonly mode: "read" | "write";
  /**
   * True when a writer died holding the lock before this guard was handed
   * out: the guarded data may be half-written.
   */
  readonly recovered: boolean;

  /** @internal */
  constructor(mode: "read" | "write", recovered: boolean, give: () => void) {
    super(give);
    this.mode = mode;
    this.recovered = recovered;
  }
}

/**
 * Many readers or one writer, shared by processes, Workers and handles (each
 * handle counts like another process; neither mode is re-entrant). A waiting
 * writer stops new readers from entering, so writers are not starved.
 *
 * Robust like `Mutex`: a waiter whose 50 ms sleep slice ends checks the
 * holders; a dead writer's lock is taken back and the next guard reports
 * `recovered: true`; dead readers' holds are dropped.
 *
 * @example Readers share, a writer excludes
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const name = `/doc-rw-${Deno.pid}`;
 * using a = sync.RwLock.create(name);
 * using b = sync.RwLock.open(name);
 * const r1 = await a.read();
 * const r2 = b.tryRead();
 * assert(r2);
 * assertEquals(b.tryWrite(), undefined);
 * r1.release();
 * r2.release();
 * using _w = await b.write({ timeout: 100 });
 * assertEquals(a.tryRead(), undefined);
 * sync.RwLock.unlink(name);
 * ```
 */
export class RwLock implements Disposable {
  #state: StateLock;
  #owned: SharedMemory | undefined;
  #closed = false;
  #held = new Set<RwLockGuard>();
  // Handles contend like processes, so a waiting writer is named per handle.
  #token = crypto.getRandomValues(new Int32Array(1))[0]! | 1;
  /** Whether the take that just succeeded found a dead writer's mark (read under the mutex). */
  #recovered = false;
  #reader: Taker = {
    take: (s) => {
      if (writerOf(s) !== 0 || s.cells[WAITING_WRITER] !== 0) return false;
      s.addMine(1);
      this.#recovered = consumeDirty(s);
      return true;
    },
  };
  #writer: Taker = {
    take: (s) => {
      if (writerOf(s) === 0 && s.total() === 0) {
        s.cells[WRITER] = pid;
        if (s.cells[WAITING_WRITER] === this.#token) s.cells[WAITING_WRITER] = 0;
        this.#recovered = consumeDirty(s);
        return true;
      }
      if (s.cells[WAITING_WRITER] === 0) {
        s.cells[WAITING_WRITER] = this.#token;
        s.cells[WAITING_PID] = pid;
      }
      return false;
    },
    gaveUp: (s) => {
      if (s.cells[WAITING_WRITER] === this.#token) {
        s.cells[WAITING_WRITER] = 0;
        s.wake(true);
      }
    },
  };

  private constructor(
    region: MappedRegion,
    byteOffset: number,
    how: PlaceHow,
    maxHolders: number,
    owned?: SharedMemory,
  ) {
    this.#state = new StateLock(
      region,
      byteOffset,
      how,
      maxHolders,
      { kind: "RwLock", what: "reader-writer lock", magic: MAGIC, name: owned?.name },
      () => {},
      {
        scrubbed: (s, deadReads) => {
          const writer = writerOf(s);
          if (writer !== 0 && writer !== pid && !isAlive(writer)) {
            s.cells[WRITER] = 0;
            s.cells[DIRTY] = 1;
          }
          const waiter = s.pidAt(WAITING_PID, "waiting writer's pid");
          if (s.cells[WAITING_WRITER] !== 0 && waiter !== pid && !isAlive(waiter)) {
            s.cells[WAITING_WRITER] = 0;
          }
          if (deadReads > 0 || dirtyOf(s) === 1) s.wake(true);
        },
      },
    );
    this.#owned = owned;
  }

  /**
   * Creates a named reader-writer lock (a small shared memory object).
   *
   * @throws {Deno.errors.AlreadyExists} when `name` exists
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * const name = `/doc-rw-create-${Deno.pid}`;
   * sync.RwLock.create(name).close();
   * sync.RwLock.unlink(name);
   * ```
   */
  static create(name: string, options: CreateRwLockOptions = {}): RwLock {
    return RwLock.#named("create", name, options, "RwLock.create()");
  }

  /**
   * Opens a named reader-writer lock.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * const name = `/doc-rw-open-${Deno.pid}`;
   * using a = sync.RwLock.create(name);
   * using b = sync.RwLock.open(name);
   * sync.RwLock.unlink(name);
   * ```
   */
  static open(name: string): RwLock {
    return RwLock.#named("open", name, {}, "RwLock.open()");
  }

  /**
   * Opens `name`, creating it if it does not exist.
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-rw-ooc-${Deno.pid}`;
   * using a = sync.RwLock.openOrCreate(name);
   * using b = sync.RwLock.openOrCreate(name);
   * assertEquals([a.created, b.created], [true, false]); // exactly one creates
   * sync.RwLock.unlink(name);
   * ```
   */
  static openOrCreate(name: string, options: CreateRwLockOptions = {}): RwLock {
    return RwLock.#named("openOrCreate", name, options, "RwLock.openOrCreate()");
  }

  static #named(
    how: "create" | "open" | "openOrCreate",
    name: string,
    options: CreateRwLockOptions,
    what: string,
  ): RwLock {
    const { mode, maxHolders } = args(options, what, ["mode", "maxHolders"]);
    return openNamed(
      how,
      "RwLock",
      name,
      stateLockSize(maxHolders),
      mode,
      (s) => new RwLock(s, 0, "init", maxHolders, s),
      (s) => new RwLock(s, 0, "attach", maxHolders, s),
    );
  }

  /**
   * Removes a named reader-writer lock.
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * const name = `/doc-rw-rm-${Deno.pid}`;
   * sync.RwLock.create(name).close();
   * sync.RwLock.unlink(name);
   * ```
   */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /**
   * Initialises a lock at `byteOffset` of `region` ({@linkcode rwLockSize}
   * bytes, 8-byte aligned). It never resets a lock that is there: where
   * processes may start in any order, use {@linkcode RwLock.initOrAttach}.
   *
   * @throws {Deno.errors.AlreadyExists} when a lock is already placed there
   * @throws {Deno.errors.InvalidData} when the memory there holds something else
   *
   * @example
   * ```ts
   * import { SharedMemory, sync } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * const name = `/doc-rw-init-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: sync.rwLockSize() + 8 });
   * using lock = sync.RwLock.init(shm, 0);
   * assertThrows(() => sync.RwLock.init(shm, 0), Deno.errors.AlreadyExists);
   * lock.readSync().release();
   * shm.unlink();
   * ```
   */
  static init(
    region: MappedRegion,
    byteOffset: number,
    options: { maxHolders?: number } = {},
  ): RwLock {
    const { maxHolders } = args(options, "RwLock.init()", ["maxHolders"]);
    return new RwLock(region, byteOffset, "init", maxHolders);
  }

  /**
   * Attaches to a lock initialised at `byteOffset` of `region`.
   *
   * @throws {Deno.errors.InvalidData} when none was initialised there
   *
   * @example
   * ```ts
   * import { SharedMemory, sync } from "@ipc/shm";
   * const name = `/doc-rw-attach-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: sync.rwLockSize() });
   * using a = sync.RwLock.init(shm, 0);
   * using b = sync.RwLock.attach(shm, 0);
   * shm.unlink();
   * ```
   */
  static attach(region: MappedRegion, byteOffset: number): RwLock {
    return new RwLock(region, byteOffset, "attach", 1);
  }

  /**
   * Initialises a lock at `byteOffset` of `region` if nobody has, or attaches
   * to the one there; safe when many processes race to it.
   * {@linkcode RwLock.created} says which happened.
   *
   * @param options `maxHolders`: table size if this call initialises (default 64)
   * @throws {Deno.errors.InvalidData} when the memory there holds something else
   *
   * @example Every process runs the same code
   * ```ts
   * import { SharedMemory, sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-rw-ioa-${Deno.pid}`;
   * using shm = SharedMemory.openOrCreate(name, { size: sync.rwLockSize() });
   * using a = sync.RwLock.initOrAttach(shm, 0);
   * using b = sync.RwLock.initOrAttach(shm, 0);
   * assertEquals([a.created, b.created], [true, false]);
   * shm.unlink();
   * ```
   */
  static initOrAttach(
    region: MappedRegion,
    byteOffset: number,
    options: { maxHolders?: number } = {},
  ): RwLock {
    const { maxHolders } = args(options, "RwLock.initOrAttach()", ["maxHolders"]);
    return new RwLock(region, byteOffset, "initOrAttach", maxHolders);
  }

  /**
   * True when this handle's call created (named) or initialised (in a
   * mapping) the lock; false when it opened or attached to an existing one.
   */
  get created(): boolean {
    return this.#state.created;
  }

  /** True after {@linkcode RwLock.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Takes a read lock if no writer holds or waits for the lock. */
  tryRead(): RwLockGuard | undefined {
    this.#check();
    return this.#state.tryAcquire(this.#reader) ? this.#guard("read") : undefined;
  }

  /** Takes the write lock if nobody holds the lock. */
  tryWrite(): RwLockGuard | undefined {
    this.#check();
    const s = this.#state;
    const got = s.tryCritical(() => {
      if (this.#writer.take(s)) return true;
      s.scrub();
      if (this.#writer.take(s)) return true;
      // A try must not leave a waiting-writer mark that would block readers.
      this.#writer.gaveUp!(s);
      return false;
    });
    return got ? this.#guard("write") : undefined;
  }

  /**
   * Takes a read lock, blocking this thread while a writer holds or waits.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  readSync(options: SyncWaitOptions = {}): RwLockGuard {
    this.#check();
    return this.#state.acquireSync(
      this.#reader,
      options,
      "take a read lock",
      "RwLock.readSync()",
      () => this.#guard("read"),
    );
  }

  /**
   * Takes the write lock, blocking this thread while anyone holds the lock.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  writeSync(options: SyncWaitOptions = {}): RwLockGuard {
    this.#check();
    return this.#state.acquireSync(
      this.#writer,
      options,
      "take the write lock",
      "RwLock.writeSync()",
      () => this.#guard("write"),
    );
  }

  /**
   * Takes a read lock without blocking the event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted
   */
  async read(options: WaitOptions = {}): Promise<RwLockGuard> {
    this.#check();
    return await this.#state.acquire(
      this.#reader,
      options,
      "take a read lock",
      "RwLock.read()",
      () => this.#guard("read"),
    );
  }

  /**
   * Takes the write lock without blocking the event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted
   */
  async write(options: WaitOptions = {}): Promise<RwLockGuard> {
    this.#check();
    return await this.#state.acquire(
      this.#writer,
      options,
      "take the write lock",
      "RwLock.write()",
      () => this.#guard("write"),
    );
  }

  /**
   * Releases this handle's locks and the handle; idempotent. Its pending
   * `read()`s and `write()`s reject with `BadResource`.
   */
  close(): void {
    if (this.#closed) return;
    for (const g of [...this.#held]) {
      try {
        g.release();
      } catch { /* mapping already gone */ }
    }
    this.#closed = true;
    this.#state.close();
    this.#owned?.close();
  }

  /** Same as {@linkcode RwLock.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #guard(mode: "read" | "write"): RwLockGuard {
    const s = this.#state;
    const recovered = this.#recovered;
    this.#recovered = false;
    const guard: RwLockGuard = new RwLockGuard(mode, recovered, () => {
      this.#held.delete(guard);
      if (this.#closed) return;
      s.critical(() => {
        if (mode === "read") s.addMine(-1);
        else if (writerOf(s) === pid) s.cells[WRITER] = 0;
        s.wake(true);
      });
    });
    this.#held.add(guard);
    return guard;
  }

  #check(): void {
    if (this.#closed || this.#state.cells.length === 0) {
      throw new Deno.errors.BadResource("Cannot use reader-writer lock: it is closed");
    }
  }
}

function writerOf(s: StateLock): number {
  return s.pidAt(WRITER, "writer's pid");
}

function dirtyOf(s: StateLock): number {
  const v = s.cells[DIRTY]!;
  if (v !== 0 && v !== 1) throw s.corrupt("recovered mark", v);
  return v;
}

/** Reads and clears the mark a dead writer left: the first guard after it says `recovered`. */
function consumeDirty(s: StateLock): boolean {
  if (dirtyOf(s) === 0) return false;
  s.cells[DIRTY] = 0;
  return true;
}

function args(options: CreateRwLockOptions, what: string, known: readonly string[]) {
  checkFactoryOptions(options, what, known);
  const mode = options.mode ?? 0o600;
  checkMode(mode);
  const maxHolders = options.maxHolders ?? 64;
  checkSlots(maxHolders);
  return { mode, maxHolders };
}
