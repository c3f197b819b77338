/**
 * A counting semaphore over shared memory that hands out permits, and takes
 * back the permits of processes that die holding them.
 *
 * @module
 */

import type { MappedRegion } from "../memory/region.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { checkMode } from "../memory/_validate.ts";
import type { PlaceHow } from "../memory/_placement.ts";
import { type CreateLockOptions, openNamed } from "./_named.ts";
import { ReleaseOnce } from "./_release_once.ts";
import { checkFactoryOptions, type SyncWaitOptions, type WaitOptions } from "./_options.ts";
import { checkSlots, StateLock, stateLockSize, type Taker, WORD_A, WORD_B } from "./_state_lock.ts";

const MAGIC = 0x53656d61; // "Sema"
const AVAILABLE = WORD_A;
const CAPACITY = WORD_B;
const SEM_MAX = 0x7fffffff;

/** Options for creating a permit semaphore. */
export interface CreateSemaphoreOptions extends CreateLockOptions {
  /** How many permits exist (1 or more). */
  permits: number;
  /** How many processes may hold permits at once (table size). Default 64. */
  maxHolders?: number;
}

/**
 * Bytes a permit semaphore with `maxHolders` table entries needs in a mapping.
 *
 * @example
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assertEquals, assertThrows } from "@std/assert";
 * assertEquals(sync.semaphoreSize(), sync.semaphoreSize(64));
 * assertThrows(() => sync.semaphoreSize(5000), RangeError);
 * ```
 */
export function semaphoreSize(maxHolders = 64): number {
  checkSlots(maxHolders);
  return stateLockSize(maxHolders);
}

/**
 * One permit; give it back with `release()` or by leaving a `using` scope.
 *
 * @example Dispose returns the permit
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const name = `/doc-permit-${Deno.pid}`;
 * using sem = sync.Semaphore.create(name, { permits: 1 });
 * {
 *   using _permit = await sem.acquire();
 *   assertEquals(sem.available, 0);
 * }
 * assertEquals(sem.available, 1);
 * sync.Semaphore.unlink(name);
 * ```
 */
export class Permit extends ReleaseOnce {}

/**
 * A pool of `permits` shared by processes: `acquire()` takes one (waiting
 * while none is free), and the returned {@linkcode Permit} gives it back.
 *
 * Robust like `Mutex`: a table records which processes hold how many permits;
 * a waiter whose 50 ms sleep slice ends without a permit removes dead
 * processes from the table, and their permits become available again. It is a
 * permit pool, not a signalling semaphore: only permits can be released (for
 * post/wait signalling between processes use `posix.Semaphore`).
 *
 * @example Limit concurrent work across processes
 * ```ts
 * import { sync } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const name = `/doc-sem-${Deno.pid}`;
 * using pool = sync.Semaphore.create(name, { permits: 2 });
 * const a = pool.tryAcquire();
 * const b = await pool.acquire({ timeout: 100 });
 * assertEquals(pool.tryAcquire(), undefined);
 * a?.release();
 * b.release();
 * assertEquals(pool.available, 2);
 * sync.Semaphore.unlink(name);
 * ```
 */
export class Semaphore implements Disposable {
  #state: StateLock;
  #owned: SharedMemory | undefined;
  #closed = false;
  #held = 0;
  #taker: Taker = {
    take: (s) => {
      const available = availableOf(s);
      if (available === 0) return false;
      s.addMine(1);
      s.cells[AVAILABLE] = available - 1;
      return true;
    },
  };

  private constructor(
    region: MappedRegion,
    byteOffset: number,
    how: PlaceHow,
    init: { permits: number; maxHolders: number },
    owned?: SharedMemory,
  ) {
    this.#state = new StateLock(
      region,
      byteOffset,
      how,
      init.maxHolders,
      { kind: "Semaphore", what: "semaphore", magic: MAGIC, name: owned?.name },
      (cells) => {
        cells[AVAILABLE] = init.permits;
        cells[CAPACITY] = init.permits;
      },
      {
        scrubbed: (s) => {
          // The table is the truth: what nobody alive holds is available.
          const free = capacityOf(s) - s.total();
          if (free < 0) throw s.corrupt("holder table total", s.total());
          s.cells[AVAILABLE] = free;
        },
      },
    );
    this.#owned = owned;
  }

  static #named(
    how: "create" | "open" | "openOrCreate",
    name: string,
    options: CreateSemaphoreOptions | undefined,
    what: string,
  ): Semaphore {
    const { mode, init } = how === "open"
      ? { mode: 0o600, init: ATTACH_ONLY }
      : createArgs(options, what, ["permits", "maxHolders", "mode"]);
    return openNamed(
      how,
      "Semaphore",
      name,
      stateLockSize(init.maxHolders),
      mode,
      (s) => new Semaphore(s, 0, "init", init, s),
      (s) => new Semaphore(s, 0, "attach", init, s),
    );
  }

  /**
   * Creates a named permit semaphore (a small shared memory object).
   *
   * @throws {Deno.errors.AlreadyExists} when `name` exists
   * @throws {RangeError} for a bad permit count or table size
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * const name = `/doc-sem-create-${Deno.pid}`;
   * sync.Semaphore.create(name, { permits: 3 }).close();
   * sync.Semaphore.unlink(name);
   * ```
   */
  static create(name: string, options: CreateSemaphoreOptions): Semaphore {
    return Semaphore.#named("create", name, options, "Semaphore.create()");
  }

  /**
   * Opens a named permit semaphore.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-open-${Deno.pid}`;
   * using a = sync.Semaphore.create(name, { permits: 3 });
   * using b = sync.Semaphore.open(name);
   * assertEquals(b.capacity, 3);
   * sync.Semaphore.unlink(name);
   * ```
   */
  static open(name: string): Semaphore {
    return Semaphore.#named("open", name, undefined, "Semaphore.open()");
  }

  /**
   * Opens `name`, creating it with `options` if it does not exist.
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-ooc-${Deno.pid}`;
   * using a = sync.Semaphore.openOrCreate(name, { permits: 1 });
   * using b = sync.Semaphore.openOrCreate(name, { permits: 1 });
   * assertEquals([a.created, b.created], [true, false]); // exactly one creates
   * sync.Semaphore.unlink(name);
   * ```
   */
  static openOrCreate(name: string, options: CreateSemaphoreOptions): Semaphore {
    return Semaphore.#named("openOrCreate", name, options, "Semaphore.openOrCreate()");
  }

  /**
   * Removes a named permit semaphore.
   *
   * @example
   * ```ts
   * import { sync } from "@ipc/shm";
   * const name = `/doc-sem-rm-${Deno.pid}`;
   * sync.Semaphore.create(name, { permits: 1 }).close();
   * sync.Semaphore.unlink(name);
   * ```
   */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /**
   * Initialises a permit semaphore at `byteOffset` of `region`
   * ({@linkcode semaphoreSize} bytes, 8-byte aligned). It never resets one
   * that is there: where processes may start in any order, use
   * {@linkcode Semaphore.initOrAttach}.
   *
   * @throws {Deno.errors.AlreadyExists} when a semaphore is already placed there
   * @throws {Deno.errors.InvalidData} when the memory there holds something else
   *
   * @example
   * ```ts
   * import { SharedMemory, sync } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * const name = `/doc-sem-init-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: sync.semaphoreSize(8) });
   * using pool = sync.Semaphore.init(shm, 0, { permits: 4, maxHolders: 8 });
   * assertThrows(
   *   () => sync.Semaphore.init(shm, 0, { permits: 1, maxHolders: 8 }),
   *   Deno.errors.AlreadyExists,
   * );
   * pool.acquireSync().release();
   * shm.unlink();
   * ```
   */
  static init(
    region: MappedRegion,
    byteOffset: number,
    options: Omit<CreateSemaphoreOptions, "mode">,
  ): Semaphore {
    const { init } = createArgs(options, "Semaphore.init()", ["permits", "maxHolders"]);
    return new Semaphore(region, byteOffset, "init", init);
  }

  /**
   * Attaches to a permit semaphore initialised at `byteOffset` of `region`.
   *
   * @throws {Deno.errors.InvalidData} when none was initialised there
   *
   * @example
   * ```ts
   * import { SharedMemory, sync } from "@ipc/shm";
   * const name = `/doc-sem-attach-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: sync.semaphoreSize() });
   * using a = sync.Semaphore.init(shm, 0, { permits: 1 });
   * using b = sync.Semaphore.attach(shm, 0);
   * shm.unlink();
   * ```
   */
  static attach(region: MappedRegion, byteOffset: number): Semaphore {
    return new Semaphore(region, byteOffset, "attach", ATTACH_ONLY);
  }

  /**
   * Initialises a permit semaphore at `byteOffset` of `region` if nobody has,
   * or attaches to the one there; safe when many processes race to it.
   * {@linkcode Semaphore.created} says which happened; `options` apply only
   * to the call that initialises.
   *
   * @throws {Deno.errors.InvalidData} when the memory there holds something else
   *
   * @example Every process runs the same code
   * ```ts
   * import { SharedMemory, sync } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-ioa-${Deno.pid}`;
   * using shm = SharedMemory.openOrCreate(name, { size: sync.semaphoreSize() });
   * using a = sync.Semaphore.initOrAttach(shm, 0, { permits: 2 });
   * using b = sync.Semaphore.initOrAttach(shm, 0, { permits: 2 });
   * assertEquals([a.created, b.created, b.capacity], [true, false, 2]);
   * shm.unlink();
   * ```
   */
  static initOrAttach(
    region: MappedRegion,
    byteOffset: number,
    options: Omit<CreateSemaphoreOptions, "mode">,
  ): Semaphore {
    const { init } = createArgs(options, "Semaphore.initOrAttach()", ["permits", "maxHolders"]);
    return new Semaphore(region, byteOffset, "initOrAttach", init);
  }

  /**
   * True when this handle's call created (named) or initialised (in a
   * mapping) the semaphore; false when it opened or attached to one.
   */
  get created(): boolean {
    return this.#state.created;
  }

  /** Total permits. */
  get capacity(): number {
    this.#check();
    return capacityOf(this.#state);
  }

  /** Permits free right now (a snapshot). */
  get available(): number {
    this.#check();
    return availableOf(this.#state);
  }

  /** True after {@linkcode Semaphore.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Takes a permit if one is free, without waiting.
   *
   * @returns the permit, or `undefined` when none is free
   */
  tryAcquire(): Permit | undefined {
    this.#check();
    return this.#state.tryAcquire(this.#taker) ? this.#permit() : undefined;
  }

  /**
   * Takes a permit, blocking this thread while none is free.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  acquireSync(options: SyncWaitOptions = {}): Permit {
    this.#check();
    return this.#state.acquireSync(
      this.#taker,
      options,
      "acquire a permit",
      "Semaphore.acquireSync()",
      () => this.#permit(),
    );
  }

  /**
   * Takes a permit without blocking the event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when aborted
   */
  async acquire(options: WaitOptions = {}): Promise<Permit> {
    this.#check();
    return await this.#state.acquire(
      this.#taker,
      options,
      "acquire a permit",
      "Semaphore.acquire()",
      () => this.#permit(),
    );
  }

  /**
   * Releases this handle's permits and the handle; idempotent. Its pending
   * `acquire()`s reject with `BadResource`.
   */
  close(): void {
    if (this.#closed) return;
    try {
      while (this.#held > 0) this.#give();
    } catch { /* mapping already gone */ }
    this.#closed = true;
    this.#state.close();
    this.#owned?.close();
  }

  /** Same as {@linkcode Semaphore.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #permit(): Permit {
    this.#held++;
    return new Permit(() => {
      if (this.#closed || this.#held === 0) return;
      this.#give();
    });
  }

  #give(): void {
    this.#held--;
    const s = this.#state;
    s.critical(() => {
      const available = availableOf(s);
      s.addMine(-1);
      // Never above capacity: a peer that rewrote the count must not mint permits.
      s.cells[AVAILABLE] = Math.min(available + 1, capacityOf(s));
      s.wake(false);
    });
  }

  #check(): void {
    if (this.#closed || this.#state.cells.length === 0) {
      throw new Deno.errors.BadResource("Cannot use semaphore: it is closed");
    }
  }
}

function capacityOf(s: StateLock): number {
  const v = Atomics.load(s.cells, CAPACITY);
  if (v < 1) throw s.corrupt("capacity", v);
  return v;
}

function availableOf(s: StateLock): number {
  const v = Atomics.load(s.cells, AVAILABLE);
  if (v < 0 || v > capacityOf(s)) throw s.corrupt("available count", v);
  return v;
}

/** What attach passes: the table size is read from memory, nothing is initialised. */
const ATTACH_ONLY = Object.freeze({ permits: 1, maxHolders: 1 });

function createArgs(
  options: CreateSemaphoreOptions | Omit<CreateSemaphoreOptions, "mode"> | undefined,
  what: string,
  known: readonly string[],
) {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${what} options must be an object with permits`);
  }
  checkFactoryOptions(options, what, known);
  const { permits, maxHolders = 64 } = options;
  const mode = ("mode" in options ? options.mode : undefined) ?? 0o600;
  checkMode(mode);
  if (typeof permits !== "number") {
    throw new TypeError(`permits must be a number, got ${typeof permits}`);
  }
  if (!Number.isSafeInteger(permits) || permits < 1 || permits > SEM_MAX) {
    throw new RangeError(`permits must be an integer from 1 to ${SEM_MAX}, got ${permits}`);
  }
  checkSlots(maxHolders);
  return { mode, init: { permits, maxHolders } };
}
