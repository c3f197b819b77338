/**
 * POSIX semaphores: named (`sem_open`) and in-memory (`sem_init` inside a
 * mapping), with waits that never block the event loop.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { check, createOrOpen, Errno, errno, errnoError, errnoView } from "../ffi/errno.ts";
import { cString } from "../ffi/cstring.ts";
import { MAP, O, PROT, S } from "../ffi/constants.ts";
import { deadlineIn } from "../ffi/timespec.ts";
import { FUTEX, SYS_FUTEX } from "../ffi/futex.ts";
import { fstat } from "../ffi/stat.ts";
import { checkPlacement, type MappedRegion, pinRegion } from "../memory/region.ts";
import { place, type PlaceHow, placeWhere, unplace } from "../memory/_placement.ts";
import {
  checkMode,
  checkName,
  checkOptions,
  checkSpin,
  checkTimeout,
  refuseNegativeZero,
} from "../memory/_validate.ts";
import { type ParkTarget, WaitQueue } from "../memory/_park.ts";
import { spin, Spinner } from "../memory/_wait.ts";

/**
 * Bytes an in-memory semaphore occupies: the `sem_t` itself at its byte offset
 * (`sizeof(sem_t)` is 32 on glibc x86_64 and aarch64, so a C peer sees a plain
 * `sem_t` there), then a placement word that says whether it was initialised,
 * which lets {@linkcode Semaphore.init} refuse to reset a live one. Rounded up
 * to a cache line so that neighbouring semaphores do not share one.
 */
export const SEM_SIZE = 64;
/** `_Alignof(sem_t)`: an in-memory semaphore's byte offset must be a multiple of this. */
export const SEM_ALIGN = 8;
/**
 * `sizeof(sem_t)`: the bytes of a bare `sem_t` without a placement word, for
 * layouts whose own magic already says whether they were initialised (see
 * {@linkcode semaphoreAtRaw}). Internal: not exported from `mod.ts`.
 */
export const SEM_T_SIZE = 32;
/** Int32 index of the placement word after the sem_t. */
const MARKER = SEM_T_SIZE / 4;
const PSEM_MAGIC = 0x5053656d; // "PSem"

// glibc's sem_t on LP64 (nptl/semaphoreP.h, `struct new_sem` with 64-bit
// atomics): `uint64_t data` (the value in its low 32 bits, the number of
// sleeping waiters in its high 32), then `int private`. Int32 indices, little-endian:
const VALUE = 0;
const NWAITERS = 1;
const PRIVATE = 2;
/**
 * `private` of a process-shared sem_t (glibc's FUTEX_SHARED, the flag its futex
 * calls XOR into `FUTEX_PRIVATE_FLAG`); 0 marks a process-private one. Any
 * other value makes glibc issue an invalid futex op and abort().
 */
const SHARED = FUTEX.PRIVATE_FLAG;
/** Longest one futex sleep of a sync wait; longer waits re-arm (Infinity, 1e22 ms). */
const MAX_SLEEP_MS = 86_400_000;
/** CAS retries before a try reports "not now": contention, never a shared counter, bounds them. */
const CAS_TRIES = 64;
/** The largest value a POSIX semaphore can hold (`SEM_VALUE_MAX`). */
export const SEM_VALUE_MAX = 2147483647;

/** Options for creating a semaphore. */
export interface CreateSemaphoreOptions {
  /** Initial value, 0 to `SEM_VALUE_MAX`. Default 0. */
  value?: number;
  /** Permission bits of a named semaphore, applied exactly. Default `0o600`. */
  mode?: number;
}

/** Options for an async wait. */
export interface SemaphoreWaitOptions {
  /** Milliseconds. Absent: forever. `0`: try once. Positive: bounded, then `TimedOut`. */
  timeout?: number;
  /** Aborting rejects the wait with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Microseconds to spin on a non-blocking take before parking: never longer
   * than `timeout`, and at most 50 µs whatever is asked (the event loop is
   * held while it spins). Default: adaptive, 0–50 µs while recent waits were
   * answered that fast, and none on an oversubscribed machine, where `wait()`
   * naps on its thread instead (README "How waits work"). Spinning catches a
   * peer that answers quickly without a thread hand-off.
   */
  spinMicros?: number;
}

/** Options for a blocking wait. */
export interface SemaphoreWaitSyncOptions {
  /** Milliseconds. Absent: forever. `0`: try once. Positive: bounded, then `TimedOut`. */
  timeout?: number;
  /**
   * Microseconds to spin before blocking, at most 10 000 and never longer than
   * `timeout`. Default: adaptive, 0–100 µs while recent waits were answered
   * that fast, and none on an oversubscribed machine (README "How waits work").
   */
  spinMicros?: number;
}

const MAX_NAME_BYTES = 251; // NAME_MAX minus glibc's "sem." prefix in /dev/shm

let rawAt: (region: MappedRegion, byteOffset: number, value: number | undefined) => Semaphore;
let napOn: (sem: Semaphore, ms: number) => boolean;

/**
 * One nap of an async wait on `sem` (see memory/_wait.ts): a futex sleep of
 * at most `ms` on this thread, counted as a sleeper so that posts wake it;
 * true when it took a unit. For waits built on a semaphore (the Channel's),
 * which decide their own spin. Internal: not exported from `mod.ts`.
 */
export function semaphoreNap(sem: Semaphore, ms: number): boolean {
  return napOn(sem, ms);
}

/**
 * A bare in-memory `sem_t` at `byteOffset` (`SEM_T_SIZE` bytes, no placement
 * word): `sem_init` when `value` is given, else attach. For the parkers inside
 * other layouts (Mutex, RwLock, Channel), whose own magic word already guards
 * initialisation and whose offsets must not move. Internal: not exported from `mod.ts`.
 */
export function semaphoreAtRaw(
  region: MappedRegion,
  byteOffset: number,
  value?: number,
): Semaphore {
  return rawAt(region, byteOffset, value);
}

interface NamedMapping {
  pointer: Deno.PointerObject;
  /** True when sem_open mapped it (create); false for open()'s own mapping. */
  bySemOpen: boolean;
}

function unmapNamed(m: NamedMapping): void {
  if (m.bySemOpen) libc().sem_close(m.pointer);
  else libc().munmap(m.pointer, BigInt(SEM_T_SIZE));
}

const handles = new FinalizationRegistry<NamedMapping>((m) => {
  // Safety net for a forgotten close() of a named semaphore: it only unmaps
  // the sem_t of a handle nobody can reach any more.
  unmapNamed(m);
});

/**
 * A POSIX semaphore: a counter that `post()` raises and `wait()` lowers,
 * blocking (or, for `wait()`, awaiting) while it is 0. Named semaphores live
 * in `/dev/shm/sem.NAME`; in-memory ones sit inside a `SharedMemory` (or
 * System V) mapping next to the data they guard.
 *
 * `wait()` never blocks the event loop: see the design notes in
 * `posix/_park.ts` (spin, then one bounded park per handle on Deno's
 * blocking-call pool, capped so file I/O keeps its threads). Needs
 * `--allow-ffi`. See `man 7 sem_overview`.
 *
 * @example Post in one handle, wait in another
 * ```ts
 * import { posix } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const name = `/doc-sem-${Deno.pid}`;
 * using a = posix.Semaphore.create(name, { value: 0 });
 * using b = posix.Semaphore.open(name);
 * a.post();
 * await b.wait({ timeout: 1000 });
 * assertEquals(b.tryWait(), false);
 * posix.Semaphore.unlink(name);
 * ```
 */
export class Semaphore implements Disposable {
  #name: string | undefined;
  #named: NamedMapping | null = null;
  /** The sem_t's words: re-derived from the region when it was remapped. */
  #words: Int32Array = new Int32Array(0);
  #region: MappedRegion | undefined;
  #offset = 0;
  #base: Deno.PointerObject | null = null;
  #sem: Deno.PointerObject | null = null;
  #closed = false;
  #destroyOnClose = false;
  #queue: WaitQueue;
  #parkTarget: ParkTarget;
  #token = {};
  #spinner = new Spinner();
  /** A nap's relative timeout, reused. */
  #napTs = new BigInt64Array(2);
  #napBytes = new Uint8Array(this.#napTs.buffer);
  /** The absolute deadline of this handle's one park in flight. */
  #parkTs: Uint8Array<ArrayBuffer> | undefined;
  /** The length #napTs holds, in ms (NaN: none yet). */
  #napMs = NaN;
  #created: boolean;
  /** The placement word of an in-memory semaphore; undefined for named and raw ones. */
  #marker: Int32Array | undefined;

  static {
    rawAt = (region, byteOffset, value) => {
      checkRegion(region);
      checkPlacement(region, byteOffset, SEM_T_SIZE, SEM_ALIGN, "semaphore");
      const sem = new Semaphore(undefined, { region, byteOffset }, value !== undefined);
      if (value !== undefined) sem.#semInit(value);
      return sem;
    };
    napOn = (sem, ms) => sem.#tryTake() || sem.#nap(ms);
  }

  private constructor(
    named: { name: string; mapping: NamedMapping } | undefined,
    region: { region: MappedRegion; byteOffset: number } | undefined,
    created: boolean,
  ) {
    this.#created = created;
    if (named) {
      this.#name = named.name;
      this.#named = named.mapping;
      this.#sem = named.mapping.pointer;
      this.#words = new Int32Array(
        Deno.UnsafePointerView.getArrayBuffer(named.mapping.pointer, SEM_T_SIZE),
      );
      handles.register(this, named.mapping, this.#token);
    } else {
      this.#region = region!.region;
      this.#offset = region!.byteOffset;
    }
    const target: ParkTarget = {
      tryTake: () => this.#tryTake(),
      park: (sliceMs) => this.#park(sliceMs),
      giveBack: () => this.post(),
    };
    this.#parkTarget = target;
    this.#queue = new WaitQueue(target);
  }

  /**
   * Creates a named semaphore (`sem_open` with `O_CREAT | O_EXCL`).
   *
   * @param name `/` then 1–251 bytes, no other `/`, no NUL
   * @throws {Deno.errors.AlreadyExists} when `name` exists
   * @throws {TypeError | RangeError} for a bad name, value or mode
   *
   * @example
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-create-${Deno.pid}`;
   * using sem = posix.Semaphore.create(name, { value: 2 });
   * assertEquals(sem.value, 2);
   * sem.unlink();
   * ```
   */
  static create(name: string, options: CreateSemaphoreOptions = {}): Semaphore {
    const { value, mode } = createArgs(name, options);
    const err = errnoView();
    const p = libc().sem_open(cString(name), O.CREAT | O.EXCL, mode, value);
    const e = err[0]!;
    if (p === null) {
      const error = errnoError(e, {
        action: "Cannot create semaphore",
        object: name,
        syscall: "sem_open",
      });
      if (error instanceof Deno.errors.AlreadyExists) {
        error.message += `; open it with posix.Semaphore.open(), or remove it with ` +
          `posix.Semaphore.unlink(${JSON.stringify(name)}) or ` +
          `\`deno run --allow-ffi jsr:@ipc/shm/cli rm ${name} --sem\``;
      }
      throw error;
    }
    const sem = new Semaphore({ name, mapping: { pointer: p, bySemOpen: true } }, undefined, true);
    // sem_open applies the umask; the mode asked for is the mode others get.
    if (libc().chmod(cString(semPath(name)), mode) === -1) {
      const e = errnoError(errno(), {
        action: "Cannot create semaphore",
        object: name,
        syscall: "chmod",
      });
      sem.close();
      libc().sem_unlink(cString(name));
      throw e;
    }
    return sem;
  }

  /**
   * Opens an existing named semaphore.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   * @throws {Deno.errors.PermissionDenied} when its mode refuses this user
   *
   * @example
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * assertThrows(() => posix.Semaphore.open(`/doc-sem-missing-${Deno.pid}`), Deno.errors.NotFound);
   * ```
   */
  static open(name: string): Semaphore {
    checkName(name, "Semaphore", MAX_NAME_BYTES);
    const pointer = mapExisting(name);
    return new Semaphore({ name, mapping: { pointer, bySemOpen: false } }, undefined, false);
  }

  /**
   * Opens `name`, creating it with `options` if it does not exist.
   * {@linkcode Semaphore.created} says which happened: when it is false the
   * semaphore may be a leftover of an earlier run with a stale value, so a
   * consumer that must not start early should unlink and re-create it (or
   * check its value) rather than trust it.
   *
   * @example
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-ooc-${Deno.pid}`;
   * using a = posix.Semaphore.openOrCreate(name, { value: 1 });
   * using b = posix.Semaphore.openOrCreate(name, { value: 1 });
   * assertEquals([a.created, b.created], [true, false]); // exactly one creates
   * posix.Semaphore.unlink(name);
   * ```
   */
  static openOrCreate(name: string, options: CreateSemaphoreOptions = {}): Semaphore {
    createArgs(name, options, "Semaphore.openOrCreate()");
    return createOrOpen(
      () => Semaphore.create(name, options),
      () => Semaphore.open(name),
    );
  }

  /**
   * Removes a named semaphore (`sem_unlink`); open handles keep working.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   *
   * @example
   * ```ts
   * import { posix } from "@ipc/shm";
   * const name = `/doc-sem-unlink-${Deno.pid}`;
   * posix.Semaphore.create(name).close();
   * posix.Semaphore.unlink(name);
   * ```
   */
  static unlink(name: string): void {
    checkName(name, "Semaphore", MAX_NAME_BYTES);
    check(libc().sem_unlink(cString(name)), {
      action: "Cannot unlink semaphore",
      object: name,
      syscall: "sem_unlink",
    });
  }

  /**
   * Initialises an in-memory, process-shared semaphore (`sem_init` with
   * `pshared = 1`) at `byteOffset` of a mapping, and marks it placed. It never
   * resets a live semaphore: over one it throws `AlreadyExists`. Where several
   * processes may get there first, use {@linkcode Semaphore.initOrAttach}.
   *
   * @param region a `SharedMemory` or System V attachment
   * @param byteOffset a multiple of `SEM_ALIGN` with `SEM_SIZE` bytes after it
   * @param options `value`: the initial value (default 0)
   * @throws {RangeError} when misaligned or out of bounds
   * @throws {Deno.errors.AlreadyExists} when a semaphore is already placed there
   * @throws {Deno.errors.InvalidData} when the memory holds something else
   *
   * @example A semaphore inside shared memory
   * ```ts
   * import { posix, SharedMemory } from "@ipc/shm";
   * import { assertEquals, assertThrows } from "@std/assert";
   * const name = `/doc-sem-init-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: 4096 });
   * using sem = posix.Semaphore.init(shm, 0, { value: 1 });
   * assertEquals(sem.created, true);
   * assertThrows(() => posix.Semaphore.init(shm, 0), Deno.errors.AlreadyExists);
   * using peer = posix.Semaphore.attach(shm, 0);
   * assertEquals(peer.tryWait(), true);
   * assertEquals(sem.value, 0);
   * sem.destroy();
   * shm.unlink();
   * ```
   */
  static init(
    region: MappedRegion,
    byteOffset: number,
    options: { value?: number } = {},
  ): Semaphore {
    checkOptions(options, "Semaphore.init()", ["value"]);
    const value = options.value ?? 0;
    checkValue(value);
    return Semaphore.#placed(region, byteOffset, "init", value);
  }

  /**
   * Attaches to the in-memory semaphore another handle placed at
   * `byteOffset`, waiting up to half a second for a placement in progress.
   *
   * @throws {RangeError} when misaligned or out of bounds
   * @throws {Deno.errors.InvalidData} when no semaphore was placed there
   *
   * @example
   * ```ts
   * import { posix, SEM_SIZE, SharedMemory } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-attach-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: SEM_SIZE });
   * using a = posix.Semaphore.init(shm, 0);
   * using b = posix.Semaphore.attach(shm, 0);
   * assertEquals(b.created, false);
   * b.post();
   * a.waitSync({ timeout: 100 });
   * a.destroy();
   * shm.unlink();
   * ```
   */
  static attach(region: MappedRegion, byteOffset: number): Semaphore {
    return Semaphore.#placed(region, byteOffset, "attach", 0);
  }

  /**
   * Initialises the in-memory semaphore at `byteOffset` if nobody has, or
   * attaches to it if somebody has: safe when many processes race to it.
   * `created` says which happened, so exactly one of the racers can, say,
   * publish the initial data.
   *
   * @param options `value`: the initial value if this call initialises (default 0)
   * @throws {RangeError} when misaligned or out of bounds
   * @throws {Deno.errors.InvalidData} when the memory holds something else
   *
   * @example Whoever comes first initialises
   * ```ts
   * import { posix, SEM_SIZE, SharedMemory } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-ioa-${Deno.pid}`;
   * using shm = SharedMemory.openOrCreate(name, { size: SEM_SIZE });
   * using first = posix.Semaphore.initOrAttach(shm, 0, { value: 1 });
   * using second = posix.Semaphore.initOrAttach(shm, 0, { value: 1 });
   * assertEquals([first.created, second.created], [true, false]);
   * assertEquals(second.value, 1);
   * first.destroy();
   * shm.unlink();
   * ```
   */
  static initOrAttach(
    region: MappedRegion,
    byteOffset: number,
    options: { value?: number } = {},
  ): Semaphore {
    checkOptions(options, "Semaphore.initOrAttach()", ["value"]);
    const value = options.value ?? 0;
    checkValue(value);
    return Semaphore.#placed(region, byteOffset, "initOrAttach", value);
  }

  static #placed(region: MappedRegion, byteOffset: number, how: PlaceHow, value: number) {
    checkRegion(region);
    checkPlacement(region, byteOffset, SEM_SIZE, SEM_ALIGN, "semaphore");
    const marker = region.view(Int32Array, byteOffset, SEM_SIZE / 4);
    const kind = { kind: "Semaphore", magic: PSEM_MAGIC, where: placeWhere(region, byteOffset) };
    let sem: Semaphore | undefined;
    const created = place(marker, MARKER, how, kind, () => {
      sem = new Semaphore(undefined, { region, byteOffset }, true);
      sem.#semInit(value);
    });
    sem ??= new Semaphore(undefined, { region, byteOffset }, created);
    sem.#marker = marker;
    return sem;
  }

  /**
   * True when this handle's call created (named) or initialised (in-memory)
   * the semaphore; false when it opened or attached to one that was there.
   */
  get created(): boolean {
    return this.#created;
  }

  /** The name of a named semaphore; `undefined` for an in-memory one. */
  get name(): string | undefined {
    return this.#name;
  }

  /** True after {@linkcode Semaphore.close} or {@linkcode Semaphore.destroy}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The current value (as `sem_getvalue`): a snapshot that may change at once.
   *
   * @throws {Deno.errors.InvalidData} when another process overwrote the sem_t
   */
  get value(): number {
    const w = this.#sem_t();
    const v = Atomics.load(w, VALUE);
    if (v < 0) throw this.#corrupt("value", v);
    return v;
  }

  /**
   * Adds one (as `sem_post`, binary compatible with C peers' `sem_post` and
   * `sem_wait` on the same `sem_t`), waking a waiter if there is one.
   *
   * @throws {SystemError} `EOVERFLOW` past `SEM_VALUE_MAX`
   * @throws {Deno.errors.InvalidData} when another process overwrote the sem_t
   */
  post(): void {
    const w = this.#sem_t();
    // Checked even when no wake follows: a C peer's next sem_post would abort on it.
    this.#checkShared(w);
    for (let i = 0;; i++) {
      const v = Atomics.load(w, VALUE);
      if (v < 0) throw this.#corrupt("value", v);
      if (v === SEM_VALUE_MAX) throw errnoError(Errno.EOVERFLOW, this.#site("sem_post"));
      if (Atomics.compareExchange(w, VALUE, v, v + 1) === v) break;
      // Only other posters and takers move the word; a peer rewriting it
      // endlessly could keep this from finishing, so give up at some point.
      if (i >= CAS_TRIES * 16) {
        throw new Deno.errors.Busy(`${this.#describe()}: sem_post lost ${i} races in a row`);
      }
    }
    // As glibc's sem_post: a sleeper counted in nwaiters needs a futex wake.
    if (Atomics.load(w, NWAITERS) !== 0) this.#futexWake(w);
  }

  /** Takes one if the value is above 0 (as `sem_trywait`); never waits. */
  tryWait(): boolean {
    return this.#tryTake();
  }

  /**
   * Takes one, blocking this thread while the value is 0. Measured on the
   * monotonic clock; EINTR is retried.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   */
  waitSync(options?: SemaphoreWaitSyncOptions): void {
    // Without options nothing is checked or allocated: a waiter woken after a
    // sleep runs with cold caches, and every line it runs costs (README, "How
    // waits work").
    let timeout: number | undefined;
    let spinMicros: number | undefined;
    if (options !== undefined) {
      checkOptions(options, "Semaphore.waitSync()", ["timeout", "spinMicros"]);
      ({ timeout, spinMicros } = options);
      checkTimeout(timeout);
      if (spinMicros !== undefined) checkSpin(spinMicros);
    }
    if (this.#tryTake()) return;
    if (options === undefined && this.#spinner.quiet()) {
      // No spin and nothing to learn (Spinner.quiet): sleep at once, touching nothing else.
      this.#sleepSync(Infinity, undefined, 0);
      return;
    }
    if (timeout === 0) throw timedOut(this, 0);
    const plan = this.#spinner.plan(timeout, spinMicros, false);
    // The clock is read only when something needs it: a sleep-at-once wait
    // with no timeout (an oversubscribed machine) reads none.
    const t0 = plan.spinUs > 0 || timeout !== undefined || plan.learn ? performance.now() : 0;
    const end = timeout === undefined ? Infinity : t0 + timeout;
    if (spin(this.#takeOnce, plan.spinUs, end, undefined, t0)) {
      if (plan.learn) this.#spinner.done(t0, false);
      return;
    }
    this.#sleepSync(end, timeout, t0);
    if (plan.learn) this.#spinner.done(t0, true);
  }

  /**
   * Sleeps on the sem_t's futex until a unit is taken or `end` (a
   * performance.now() time) passes, then throws TimedOut for `timeout`. The
   * first sleep's timeout is relative to `t0` (when the wait began), so that
   * a wait woken in time reads the clock only once, at its start.
   */
  #sleepSync(end: number, timeout: number | undefined, t0: number): void {
    const w = this.#sem_t();
    const p = this.#sem!; // current: #sem_t() has just checked the words (see there)
    const lib = libc();
    const err = errnoView();
    // One absolute deadline for every sleep (no timeout: none), re-armed only
    // past MAX_SLEEP_MS, so a wake-up costs no clock read here.
    let ts: Uint8Array<ArrayBuffer> | null = null;
    let tsAbs: Uint8Array<ArrayBuffer> | undefined;
    let tsEnd = Infinity;
    // Counted as a sleeper the way glibc's sem_wait counts one, so that C
    // peers' sem_post (and ours) issue the futex wake.
    Atomics.add(w, NWAITERS, 1);
    try {
      for (let first = true;; first = false) {
        // `w` stays valid while this thread sleeps: only this thread can close
        // or remap the handle, so the take after a wake-up re-derives nothing.
        if (this.#takeFrom(w)) return;
        let op: number = end === Infinity ? FUTEX.WAIT : FUTEX.WAIT_BITSET;
        if (end !== Infinity) {
          if (first && end - t0 <= MAX_SLEEP_MS) {
            // Relative (FUTEX_WAIT): no clock read, no BigInt. It may end a
            // spin's length late, which a timeout allows; later sleeps are absolute.
            op = FUTEX.WAIT;
            ts = this.#relative(end - t0);
          } else {
            const now = performance.now();
            if (now >= end) throw timedOut(this, timeout);
            if (first || ts === this.#napBytes || now >= tsEnd) {
              const ms = Math.min(end - now, MAX_SLEEP_MS);
              ts = deadlineIn(ms, tsAbs ??= new Uint8Array(16));
              tsEnd = now + ms;
            }
          }
        }
        this.#checkShared(w);
        // Sleeps only while the value word is still 0 (else EAGAIN at once).
        const r = lib.futex(SYS_FUTEX, p, op, 0, ts, null, FUTEX.BITSET_MATCH_ANY);
        const e = r === -1 ? err[0] : 0; // inline, before any call can disturb errno
        if (r === -1 && e !== Errno.EAGAIN && e !== Errno.EINTR && e !== Errno.ETIMEDOUT) {
          throw errnoError(e!, this.#site("futex(FUTEX_WAIT_BITSET)"));
        }
      }
    } finally {
      if (w.length > 0) Atomics.sub(w, NWAITERS, 1);
    }
  }

  /**
   * An async wait's nap (see memory/_wait.ts): one futex sleep of at most
   * `ms` on this thread, with a relative timeout so that no clock is read.
   * True when it took a unit.
   */
  #nap(ms: number): boolean {
    const w = this.#sem_t();
    this.#checkShared(w);
    const ts = this.#relative(ms);
    Atomics.add(w, NWAITERS, 1);
    try {
      const err = errnoView();
      const r = libc().futex(SYS_FUTEX, this.#sem, FUTEX.WAIT, 0, ts, null, 0);
      const e = r === -1 ? err[0] : 0;
      if (r === -1 && e !== Errno.EAGAIN && e !== Errno.EINTR && e !== Errno.ETIMEDOUT) {
        throw errnoError(e!, this.#site("futex(FUTEX_WAIT)"));
      }
    } finally {
      if (w.length > 0) Atomics.sub(w, NWAITERS, 1);
    }
    // As in #sleepSync: nothing can have closed the handle while this thread slept.
    return w.length > 0 ? this.#takeFrom(w) : this.#tryTake();
  }

  /**
   * Takes one, awaiting while the value is 0 without blocking the event loop.
   *
   * @throws {Deno.errors.TimedOut} when `timeout` ms pass first
   * @throws `signal.reason` when `signal` aborts first
   *
   * @example A timeout and an abort
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertRejects, assertStrictEquals } from "@std/assert";
   * import { settled } from "@ipc/shm";
   * const name = `/doc-sem-wait-${Deno.pid}`;
   * using sem = posix.Semaphore.create(name);
   * await assertRejects(() => sem.wait({ timeout: 10 }), Deno.errors.TimedOut);
   * const reason = new Error("stop");
   * assertStrictEquals(await assertRejects(() => sem.wait({ signal: AbortSignal.abort(reason) })), reason);
   * await settled(); // the abandoned waits' parks have ended
   * sem.unlink();
   * ```
   */
  wait(options: SemaphoreWaitOptions = {}): Promise<void> {
    try {
      checkOptions(options, "Semaphore.wait()", ["timeout", "signal", "spinMicros"]);
      const { timeout, signal, spinMicros } = options;
      checkTimeout(timeout);
      if (spinMicros !== undefined) checkSpin(spinMicros);
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new TypeError("signal must be an AbortSignal");
      }
      signal?.throwIfAborted();
      if (this.#tryTake()) return Promise.resolve();
      if (timeout === 0) throw timedOut(this, 0);
      // Spin or nap only when no earlier wait of this handle is queued: FIFO.
      const plan = this.#queue.waiting ? undefined : this.#spinner.plan(timeout, spinMicros, true);
      if (plan !== undefined && plan.napMs > 0) {
        const ms = plan.napMs;
        if (this.#spinner.nap(() => this.#nap(ms))) return Promise.resolve();
      }
      const t0 = performance.now();
      const deadline = timeout === undefined ? Infinity : t0 + timeout;
      if (plan !== undefined && spin(this.#takeOnce, plan.spinUs, deadline, undefined, t0)) {
        if (plan.learn) this.#spinner.done(t0, false);
        return Promise.resolve();
      }
      const learn = plan?.learn === true;
      const parked = this.#queue.wait(deadline, () => timedOut(this, timeout), signal);
      return learn ? parked.then(() => this.#spinner.done(t0, true)) : parked;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Waits, then returns a permit that posts when disposed:
   * `using _permit = await sem.acquire()`.
   *
   * @example
   * ```ts
   * import { posix } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const name = `/doc-sem-acquire-${Deno.pid}`;
   * using sem = posix.Semaphore.create(name, { value: 1 });
   * {
   *   using _permit = await sem.acquire({ timeout: 100 });
   *   assertEquals(sem.value, 0);
   * }
   * assertEquals(sem.value, 1);
   * sem.unlink();
   * ```
   */
  async acquire(options: SemaphoreWaitOptions = {}): Promise<Disposable & { release(): void }> {
    checkOptions(options, "Semaphore.acquire()", ["timeout", "signal", "spinMicros"]);
    await this.wait(options);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.post();
    };
    return { release, [Symbol.dispose]: release };
  }

  /** Removes this handle's name (see {@linkcode Semaphore.unlink}). */
  unlink(): void {
    if (this.#name === undefined) {
      throw new TypeError("An in-memory semaphore has no name to unlink");
    }
    Semaphore.unlink(this.#name);
  }

  /**
   * Destroys an in-memory semaphore (`sem_destroy`), marks its memory as never
   * placed (so {@linkcode Semaphore.init} may place one there again) and
   * closes this handle. Only call it when no process waits on it any more.
   */
  destroy(): void {
    if (this.#region === undefined) {
      throw new TypeError("destroy() is for in-memory semaphores; use unlink()");
    }
    const p = this.#pointer();
    check(libc().sem_destroy(p), this.#site("sem_destroy"));
    if (this.#marker !== undefined && this.#marker.length > 0) unplace(this.#marker, MARKER);
    this.close();
  }

  /**
   * Closes this handle; idempotent. Pending `wait()`s reject with
   * `BadResource`. A named semaphore stays until unlinked.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#words = new Int32Array(0); // first: #sem_t() takes live words as an open handle
    this.#queue.closeAll(
      new Deno.errors.BadResource(`${this.#describe()} was closed while waiting`),
    );
    handles.unregister(this.#token);
    if (this.#named !== null && !this.#queue.parking) {
      unmapNamed(this.#named);
      this.#named = null;
    }
    // With a park in flight, the unmap runs when it returns (#park), so the
    // pool thread never waits on unmapped memory.
  }

  /** Same as {@linkcode Semaphore.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #target(): ParkTarget {
    return this.#parkTarget;
  }

  /** `ms` as a relative timespec, in a buffer reused by every sleep of this handle. */
  #relative(ms: number): Uint8Array<ArrayBuffer> {
    // Most sleeps repeat the last length (a Channel's 50 ms slice, a 4 ms
    // nap): then the buffer already holds it, and no BigInt is made.
    if (ms !== this.#napMs) {
      const t = this.#napTs;
      t[0] = BigInt(Math.floor(ms / 1000));
      t[1] = BigInt(Math.min(999_999_999, Math.round((ms % 1000) * 1e6)));
      this.#napMs = ms;
    }
    return this.#napBytes;
  }

  /** {@linkcode Semaphore.#tryTake} as a value, made once: spins call it without a closure per wait. */
  #takeOnce = (): boolean => this.#tryTake();

  /** sem_trywait's fast path (glibc's `__new_sem_wait_fast`): one CAS on the value word. */
  #tryTake(): boolean {
    return this.#takeFrom(this.#sem_t());
  }

  /** {@linkcode Semaphore.#tryTake} on the sem_t words `w` already in hand. */
  #takeFrom(w: Int32Array): boolean {
    for (let i = 0; i < CAS_TRIES; i++) {
      const v = Atomics.load(w, VALUE);
      if (v <= 0) {
        if (v < 0) throw this.#corrupt("value", v);
        return false;
      }
      if (Atomics.compareExchange(w, VALUE, v, v - 1) === v) return true;
    }
    return false; // lost every race: as EAGAIN, "not now"
  }

  /**
   * One bounded futex sleep on the pool, counted in nwaiters. It takes no
   * unit itself: the queue's next pump does, so a park that outlives its
   * waiters (or its handle) never holds a unit nobody wants.
   */
  #park(sliceMs: number): Promise<number> {
    const w = this.#sem_t();
    const p = this.#pointer();
    this.#checkShared(w);
    const unpin = this.#region ? pinRegion(this.#region) : () => {};
    Atomics.add(w, NWAITERS, 1);
    // One park in flight per handle (the queue's rule): its deadline buffer is reused.
    const ts = deadlineIn(sliceMs, this.#parkTs ??= new Uint8Array(16));
    return libc().futex_nb(SYS_FUTEX, p, FUTEX.WAIT_BITSET, 0, ts, null, FUTEX.BITSET_MATCH_ANY)
      .then(() => {
        // Pinned memory is still mapped, or private zero pages if its region closed.
        if (w.length > 0) Atomics.sub(w, NWAITERS, 1);
        unpin();
        if (this.#closed && this.#named !== null) {
          unmapNamed(this.#named);
          this.#named = null;
        }
        return -1;
      });
  }

  /** FUTEX_WAKE one sleeper, as glibc's sem_post does when nwaiters is not 0. */
  #futexWake(w: Int32Array): void {
    this.#checkShared(w);
    const err = errnoView();
    const r = libc().futex(SYS_FUTEX, this.#sem, FUTEX.WAKE, 1, null, null, 0);
    if (r === -1) throw errnoError(err[0]!, this.#site("futex(FUTEX_WAKE)"));
  }

  /**
   * Refuses a sem_t whose `private` word is not glibc's process-shared flag:
   * glibc XORs it into its futex op, so any other value there makes a C
   * peer's sem_post/sem_wait abort(), and our own calls would wait or wake
   * on a different futex than theirs.
   */
  #checkShared(w: Int32Array): void {
    const priv = Atomics.load(w, PRIVATE);
    if (priv !== SHARED) throw this.#corrupt("private", priv);
  }

  #corrupt(field: "value" | "private", v: number): Deno.errors.InvalidData {
    const expected = field === "value" ? `0 to ${SEM_VALUE_MAX}` : `${SHARED} (process-shared)`;
    return new Deno.errors.InvalidData(
      `Cannot use ${this.#describe()}: its sem_t ${field} word is 0x${(v >>> 0).toString(16)}, ` +
        `not ${expected}; another process overwrote it`,
    );
  }

  /**
   * The sem_t's words; throws once closed (like #pointer). Words that are
   * still live mean a live mapping at the address `#sem` holds: closing the
   * handle empties them, and closing, remapping or moving the region's
   * buffer detaches them. So the common case checks one length and calls
   * nothing, which a waiter woken with cold caches pays for.
   */
  #sem_t(): Int32Array {
    const w = this.#words;
    return w.length !== 0 ? w : this.#rederive();
  }

  /** #sem_t's slow path: checks the handle and region, and remakes the words after a remap. */
  #rederive(): Int32Array {
    this.#pointer();
    if (this.#words.length === 0 && this.#region !== undefined) {
      // Views of a region detach when it is remapped or closed; #pointer() has
      // already refused a closed one, so this is a remap: look again.
      this.#words = this.#region.view(Int32Array, this.#offset, SEM_T_SIZE / 4);
    }
    return this.#words;
  }

  /** The sem_t address, re-derived if the region was remapped; throws once closed. */
  #pointer(): Deno.PointerObject {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Cannot use ${this.#describe()}: it is closed`);
    }
    if (this.#region === undefined) return this.#sem!;
    if (this.#region.closed) {
      throw new Deno.errors.BadResource(`Cannot use ${this.#describe()}: its mapping is closed`);
    }
    const base = this.#region.unsafePointer;
    if (base !== this.#base || this.#sem === null) {
      this.#base = base;
      this.#sem = Deno.UnsafePointer.offset(base!, this.#offset) as Deno.PointerObject;
    }
    return this.#sem;
  }

  #semInit(value: number): void {
    check(libc().sem_init(this.#pointer(), 1, value), {
      action: "Cannot initialise semaphore",
      object: `at byte ${this.#offset}`,
      syscall: "sem_init",
    });
  }

  #describe(): string {
    return this.#name === undefined
      ? `semaphore at byte ${this.#offset}`
      : `semaphore "${this.#name}"`;
  }

  #site(syscall: string) {
    return {
      action: "Semaphore operation failed",
      object: this.#name ?? `at byte ${this.#offset}`,
      syscall,
    };
  }
}

function semPath(name: string): string {
  return `/dev/shm/sem.${name.slice(1)}`;
}

/**
 * Maps the sem_t of an existing named semaphore as sem_open does (open
 * `/dev/shm/sem.NAME` read-write, map its first `sizeof(sem_t)` bytes shared),
 * after checking what sem_open does not: that the file is a regular file of at
 * least that size (a shorter one faults with SIGBUS on first touch) whose words
 * are a process-shared sem_t (random bytes there make glibc abort()). Check and
 * map go through one fd, so a file swapped in between cannot slip past. What
 * cannot be closed: a peer that truncates the file later still faults the
 * process (as with any shared mapping), and a peer that rewrites the words
 * later is caught by the checks before every futex call.
 */
function mapExisting(name: string): Deno.PointerObject {
  const site = { action: "Cannot open semaphore", object: name };
  const lib = libc();
  const err = errnoView();
  const fd = lib.open(cString(semPath(name)), O.RDWR | O.CLOEXEC | O.NOFOLLOW);
  if (fd === -1) {
    const error = errnoError(err[0]!, { ...site, syscall: "open" });
    if (error instanceof Deno.errors.NotFound) {
      error.message +=
        "; create it with posix.Semaphore.create() or posix.Semaphore.openOrCreate()";
    }
    throw error;
  }
  let p: Deno.PointerObject | null;
  try {
    const st = fstat(fd, site);
    if ((st.mode & S.IFMT) !== S.IFREG || st.size < SEM_T_SIZE) {
      throw new Deno.errors.InvalidData(
        `Cannot open semaphore "${name}": ${semPath(name)} is ` +
          ((st.mode & S.IFMT) !== S.IFREG ? "not a regular file" : `${st.size} bytes`) +
          `, not a sem_t (${SEM_T_SIZE} bytes); another program made it`,
      );
    }
    p = lib.mmap(null, BigInt(SEM_T_SIZE), PROT.READ | PROT.WRITE, MAP.SHARED, fd, 0n);
    if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
      throw errnoError(err[0]!, { ...site, syscall: "mmap" });
    }
  } finally {
    lib.close(fd);
  }
  const w = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p, SEM_T_SIZE));
  const value = Atomics.load(w, VALUE);
  const priv = Atomics.load(w, PRIVATE);
  if (value < 0 || priv !== SHARED) {
    lib.munmap(p, BigInt(SEM_T_SIZE));
    const [field, v] = value < 0 ? ["value", value] : ["private", priv];
    throw new Deno.errors.InvalidData(
      `Cannot open semaphore "${name}": ${semPath(name)} does not hold a process-shared ` +
        `sem_t (its ${field} word is 0x${(v >>> 0).toString(16)}); another program made it`,
    );
  }
  return p;
}

function createArgs(name: string, options: CreateSemaphoreOptions, what = "Semaphore.create()") {
  checkName(name, "Semaphore", MAX_NAME_BYTES);
  checkOptions(options, what, ["value", "mode"]);
  const { value = 0, mode = 0o600 } = options;
  checkValue(value);
  checkMode(mode);
  return { value, mode };
}

function checkRegion(region: unknown): asserts region is MappedRegion {
  if (
    region === null || typeof region !== "object" ||
    typeof (region as MappedRegion).view !== "function"
  ) {
    throw new TypeError("Expected a mapped region (SharedMemory or a System V attachment)");
  }
}

function checkValue(value: unknown): asserts value is number {
  if (typeof value !== "number") throw new TypeError(`value must be a number, got ${typeof value}`);
  refuseNegativeZero(value, "value");
  if (!Number.isSafeInteger(value) || value < 0 || value > SEM_VALUE_MAX) {
    throw new RangeError(`value must be an integer from 0 to ${SEM_VALUE_MAX}, got ${value}`);
  }
}

function timedOut(sem: Semaphore, timeout: number | undefined): Deno.errors.TimedOut {
  const what = sem.name === undefined ? "an in-memory semaphore" : `semaphore "${sem.name}"`;
  return new Deno.errors.TimedOut(`Timed out after ${timeout} ms waiting on ${what}`);
}
