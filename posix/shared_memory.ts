/**
 * POSIX shared memory objects (`shm_open` + `mmap`) as typed views.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import {
  check,
  checkCaptured,
  checkReturned,
  Errno,
  errno,
  errnoCode,
  errnoError,
  errnoView,
  typedError,
} from "../ffi/errno.ts";
import { cString } from "../ffi/cstring.ts";
import { MAP, O, PROT } from "../ffi/constants.ts";
import { fileKind, fstat, isRegular, O_NONBLOCK } from "../ffi/stat.ts";
import { statPath } from "../ffi/files.ts";
import { MappedRegion } from "../memory/region.ts";
import { checkMode, checkName, checkOptions, checkSize } from "../memory/_validate.ts";

/** Options for {@linkcode SharedMemory.create} and {@linkcode SharedMemory.openOrCreate}. */
export interface CreateSharedMemoryOptions {
  /** Size in bytes: a positive safe integer. Reserved up front (`posix_fallocate`). */
  size: number;
  /**
   * Permission bits, applied exactly (not filtered by the umask) so that a
   * mode meant for other users is the mode they get. Default `0o600`.
   */
  mode?: number;
}

/** Options for {@linkcode SharedMemory.open}. */
export interface OpenSharedMemoryOptions {
  /**
   * Open for reading only (`O_RDONLY`). Views still read like any TypedArray;
   * the mapping is private copy-on-write, so a write through a view changes
   * only this process's copy of that page — it never reaches the object, and
   * that page stops following other processes' writes. Default `false`.
   */
  readOnly?: boolean;
}

const fds = new FinalizationRegistry<number>((fd) => {
  // A safety net for a forgotten close(): the descriptor only. Never unmap here,
  // since views may still be alive.
  libc().close(fd);
});

const CREATE = "Cannot create shared memory";
const OPEN = "Cannot open shared memory";

/** What to do when `name` exists, or does not: for `CallSite.hints`. */
function nameHints(name: string): { EEXIST: string; ENOENT: string } {
  return {
    EEXIST: `${name} already exists; open it with SharedMemory.open(), or remove it with ` +
      `SharedMemory.unlink(${JSON.stringify(name)}) or ` +
      `\`deno run --allow-ffi jsr:@ipc/shm/cli rm ${name}\``,
    ENOENT: `${name} does not exist; create it with SharedMemory.create() or ` +
      `SharedMemory.openOrCreate()`,
  };
}

/**
 * Checks a POSIX shared memory name: {@linkcode checkName}, and not glibc's
 * `sem.` prefix, under which `/dev/shm` holds named semaphores: a "shared
 * memory object" made there is what `Semaphore.open()` would map as a
 * `sem_t`, and opening a semaphore's file as memory would let writes corrupt it.
 */
function checkShmName(name: unknown): asserts name is string {
  checkName(name, "Shared memory");
  if (name.startsWith("/sem.")) {
    throw new TypeError(
      `Shared memory name "${name}" begins with "sem.", the prefix glibc keeps for named ` +
        `semaphores (posix.Semaphore.open("/${
          name.slice(5)
        }") maps /dev/shm${name}); pick another name`,
    );
  }
}

/** Why an `shm_open` errno means "not shared memory" rather than a failed call. */
const NOT_MEMORY: Readonly<Partial<Record<number, string>>> = {
  [Errno.ELOOP]: "a symbolic link",
  [Errno.EISDIR]: "a directory",
  [Errno.ENXIO]: "a socket or a device with no driver",
};

/**
 * Opens an existing object by name without blocking (a FIFO would block an
 * `O_RDONLY` open until a writer came) or following a symbolic link, and
 * checks with `fstat` that it is a regular file whose size can be mapped:
 * `/dev/shm` is a directory anyone may put anything into.
 *
 * @param allowEmpty true for `openOrCreate()`, which grows an empty object
 *   (a racing creator that has not reserved its memory yet)
 * @returns the descriptor and size, or the errno of a failed `shm_open` (the
 *   caller decides: `openOrCreate()` retries `ENOENT`)
 */
function openExisting(
  name: string,
  readOnly: boolean,
  allowEmpty: boolean,
  site: { action: string; object: string; hints?: Record<string, string> },
): { fd: number; size: number } | { errno: number } {
  const cell = errnoView();
  const flags = (readOnly ? O.RDONLY : O.RDWR) | O.CLOEXEC | O.NOFOLLOW | O_NONBLOCK;
  const fd = libc().shm_open(cString(name), flags, 0);
  if (fd === -1) {
    const e = cell[0]!;
    // glibc turns EISDIR into EINVAL; our name checks rule out the other EINVALs.
    const found = e === Errno.EINVAL ? statPath(`/dev/shm${name}`) : undefined;
    const kind = found !== undefined ? fileKind(found.mode) : NOT_MEMORY[e];
    if (kind === undefined) return { errno: e };
    throw notMemory(e, `is ${kind}`, site, "shm_open");
  }
  try {
    const st = fstat(fd, site);
    if (!isRegular(st.mode)) {
      const mode = `st_mode 0o${st.mode.toString(8).padStart(6, "0")}`;
      throw notMemory(
        undefined,
        `is ${fileKind(st.mode)} (fstat: ${mode}), not a regular file`,
        site,
        "fstat",
      );
    }
    if (!Number.isSafeInteger(st.size) || st.size < 0) {
      throw notMemory(undefined, `has a size fstat reports as ${st.size} bytes`, site, "fstat");
    }
    if (st.size === 0 && !allowEmpty) {
      throw notMemory(
        undefined,
        "is empty (fstat: 0 bytes): there is nothing to map; its creator may not have sized it yet " +
          "(SharedMemory.openOrCreate() with a size grows it)",
        site,
        "fstat",
      );
    }
    return { fd, size: st.size };
  } catch (e) {
    libc().close(fd);
    throw e;
  }
}

/** `Deno.errors.InvalidData` for a name that holds something other than mappable memory. */
function notMemory(
  errno: number | undefined,
  what: string,
  site: { action: string; object: string },
  syscall: string,
): Error {
  const message = `${site.action} "${site.object}": /dev/shm${site.object} ${what}`;
  if (errno !== undefined) {
    return typedError(errno, `${message} (${syscall} failed with ${errnoCode(errno)})`, {
      syscall,
      object: site.object,
    }, Deno.errors.InvalidData);
  }
  return Object.assign(new Deno.errors.InvalidData(message), { syscall, object: site.object });
}

/**
 * A POSIX shared memory object mapped into this process: what C gets from
 * `shm_open`, `ftruncate`, `mmap`, `munmap` and `shm_unlink`, with typed views
 * that cannot outlive the mapping.
 *
 * Needs `--allow-ffi`. See `man 7 shm_overview`.
 *
 * @example Two handles see the same bytes
 * ```ts
 * import { SharedMemory } from "@ipc/shm";
 * import { assert, assertEquals, assertFalse } from "@std/assert";
 *
 * const name = `/doc-shm-${Deno.pid}`;
 * using writer = SharedMemory.create(name, { size: 4096 });
 * try {
 *   assert(writer.created);
 *   writer.writeCString(0, "Hello from shared memory!");
 *   using reader = SharedMemory.open(name, { readOnly: true });
 *   assertFalse(reader.created);
 *   assertEquals(reader.readCString(0), "Hello from shared memory!");
 * } finally {
 *   SharedMemory.unlink(name);
 * }
 * ```
 */
export class SharedMemory extends MappedRegion implements Disposable {
  #name: string;
  #fd: number;
  #size: number;
  #readOnly: boolean;
  #created: boolean;
  #closed = false;
  #token = {};

  private constructor(
    name: string,
    fd: number,
    size: number,
    readOnly: boolean,
    created: boolean,
  ) {
    super();
    this.#name = name;
    this.#fd = fd;
    this.#size = size;
    this.#readOnly = readOnly;
    this.#created = created;
    fds.register(this, fd, this.#token);
  }

  /**
   * Creates a new object of `size` bytes and maps it. The memory is reserved
   * at once, so a full `/dev/shm` fails here with `ENOSPC` instead of killing
   * the process with SIGBUS later.
   *
   * @param name `/` then 1–255 bytes, no other `/`, no NUL
   * @param options size and mode
   * @returns the mapped object, zero-filled
   * @throws {Deno.errors.AlreadyExists} when `name` exists (the message says how to
   *   open or remove it)
   * @throws {SystemError} `ENOSPC` when `/dev/shm` cannot hold `size` bytes
   * @throws {TypeError | RangeError} for a bad name, size or mode, or an unknown option;
   *   a name beginning `/sem.` is TypeError (`/dev/shm/sem.X` is `posix.Semaphore` `/X`)
   *
   * @example Create, write, remove
   * ```ts
   * import { SharedMemory } from "@ipc/shm";
   * import { assert, assertEquals, assertThrows } from "@std/assert";
   *
   * const name = `/doc-create-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: 64 });
   * assert(shm.created);
   * shm.bytes[0] = 7;
   * assertEquals(shm.size, 64);
   * // A second create is refused, and the error says how to get rid of the first.
   * assertThrows(
   *   () => SharedMemory.create(name, { size: 64 }),
   *   Deno.errors.AlreadyExists,
   *   `SharedMemory.unlink("${name}")`,
   * );
   * shm.unlink();
   * ```
   */
  static create(name: string, options: CreateSharedMemoryOptions): SharedMemory {
    checkShmName(name);
    checkOptions(options, "SharedMemory.create()", ["size", "mode"]);
    if (options === undefined) throw new TypeError("create() needs { size }");
    const { size, mode = 0o600 } = options;
    checkSize(size);
    checkMode(mode);
    const site = { action: CREATE, object: name, hints: nameHints(name) };
    const err = errnoView();
    const created = libc().shm_open(cString(name), O.RDWR | O.CREAT | O.EXCL | O.CLOEXEC, mode);
    const fd = checkCaptured(created, err[0]!, { ...site, syscall: "shm_open" });
    try {
      check(libc().fchmod(fd, mode), { ...site, syscall: "fchmod" });
      checkReturned(libc().posix_fallocate(fd, 0n, BigInt(size)), {
        ...site,
        syscall: "posix_fallocate",
      });
      return SharedMemory.#mapNew(name, fd, size, false, true, site);
    } catch (e) {
      // A failed create leaves nothing behind.
      libc().close(fd);
      libc().shm_unlink(cString(name));
      throw e;
    }
  }

  /**
   * Opens an existing object and maps all of it; its size comes from `fstat`,
   * so the mapping never reaches past the object. The open never blocks and
   * never follows a symbolic link, and only a non-empty regular file is
   * mapped: `/dev/shm` may hold a FIFO, a directory or a socket by that name.
   *
   * @param name the object's name
   * @param options `readOnly` (see {@linkcode OpenSharedMemoryOptions})
   * @throws {Deno.errors.NotFound} when `name` does not exist (the message says how to create it)
   * @throws {Deno.errors.PermissionDenied} when its mode refuses this user
   * @throws {Deno.errors.InvalidData} when `name` is not a regular file (a FIFO,
   *   directory, socket, device or symbolic link) or is empty; the message says which
   * @throws {TypeError} for a bad name, a name beginning `/sem.` (glibc's prefix for
   *   named semaphores) or an unknown option (`readonly` for `readOnly`)
   *
   * @example Open what another handle created
   * ```ts
   * import { SharedMemory } from "@ipc/shm";
   * import { assertEquals, assertFalse, assertThrows } from "@std/assert";
   *
   * const name = `/doc-open-${Deno.pid}`;
   * using a = SharedMemory.create(name, { size: 16 });
   * a.bytes[3] = 42;
   * using b = SharedMemory.open(name);
   * assertFalse(b.created);
   * assertEquals(b.bytes[3], 42);
   * SharedMemory.unlink(name);
   * assertThrows(() => SharedMemory.open(name), Deno.errors.NotFound);
   * ```
   */
  static open(name: string, options: OpenSharedMemoryOptions = {}): SharedMemory {
    checkShmName(name);
    checkOptions(options, "SharedMemory.open()", ["readOnly"]);
    // A default for undefined only: `readOnly: null` is refused, not read as false.
    const { readOnly = false } = options;
    if (typeof readOnly !== "boolean") throw new TypeError("readOnly must be a boolean");
    const site = { action: OPEN, object: name, hints: nameHints(name) };
    const opened = openExisting(name, readOnly, false, site);
    if ("errno" in opened) throw errnoError(opened.errno, { ...site, syscall: "shm_open" });
    const { fd, size } = opened;
    try {
      return SharedMemory.#mapNew(name, fd, size, readOnly, false, site);
    } catch (e) {
      libc().close(fd);
      throw e;
    }
  }

  /**
   * Opens `name`, creating it first if it does not exist (`O_CREAT|O_EXCL`,
   * then a plain open if it exists, again if it vanished in between). When it
   * exists and is smaller than `size` it is grown to `size` (never shrunk),
   * which also covers a creator that has not finished reserving its memory yet.
   *
   * {@linkcode SharedMemory.created} says which happened: of any number of
   * processes racing here, exactly one handle has `created === true`. A
   * handle with `created === false` may be looking at an object left over
   * from an earlier run: check a header before trusting the contents.
   *
   * @param name the object's name
   * @param options size and mode (mode applies only if this call creates it)
   * @throws {Deno.errors.InvalidData} when `name` exists but is not a regular file
   * @throws {TypeError} for a name beginning `/sem.` (see {@linkcode SharedMemory.create})
   *
   * @example Initialise only what you created; check what you found
   * ```ts
   * import { SharedMemory } from "@ipc/shm";
   * import { assert, assertEquals, assertFalse } from "@std/assert";
   *
   * const name = `/doc-ooc-${Deno.pid}`;
   * const MAGIC = 0x5348_4d31; // "SHM1": this program's layout, version 1
   * const join = () => {
   *   const shm = SharedMemory.openOrCreate(name, { size: 128 });
   *   const header = shm.view(Int32Array, 0, 1);
   *   if (shm.created) {
   *     Atomics.store(header, 0, MAGIC); // ours: lay it out
   *   } else if (Atomics.load(header, 0) !== MAGIC) {
   *     shm.close(); // a leftover of something else: do not trust it
   *     throw new Error(`${name} holds something else; remove it with SharedMemory.unlink()`);
   *   }
   *   return shm;
   * };
   * using a = join();
   * using b = join();
   * assert(a.created);
   * assertFalse(b.created);
   * a.bytes[4] = 1;
   * assertEquals(b.bytes[4], 1);
   * SharedMemory.unlink(name);
   * ```
   */
  static openOrCreate(name: string, options: CreateSharedMemoryOptions): SharedMemory {
    checkShmName(name);
    checkOptions(options, "SharedMemory.openOrCreate()", ["size", "mode"]);
    if (options === undefined) throw new TypeError("openOrCreate() needs { size }");
    checkSize(options.size);
    checkMode(options.mode === undefined ? 0o600 : options.mode);
    for (let attempt = 0;; attempt++) {
      try {
        return SharedMemory.create(name, options);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      const site = { action: OPEN, object: name };
      const opened = openExisting(name, false, true, site);
      if ("errno" in opened) {
        // Unlinked between our two calls: try creating again (bounded).
        if (opened.errno === Errno.ENOENT && attempt < 8) continue;
        throw errnoError(opened.errno, { ...site, syscall: "shm_open" });
      }
      const fd = opened.fd;
      try {
        let size = opened.size;
        if (size < options.size) {
          checkReturned(libc().posix_fallocate(fd, 0n, BigInt(options.size)), {
            ...site,
            syscall: "posix_fallocate",
          });
          size = options.size;
        }
        return SharedMemory.#mapNew(name, fd, size, false, false, site);
      } catch (e) {
        libc().close(fd);
        throw e;
      }
    }
  }

  /**
   * Removes `name` (`shm_unlink`). Processes that have it mapped keep their
   * memory until they close; new opens fail with `NotFound`.
   *
   * @throws {Deno.errors.NotFound} when `name` does not exist
   *
   * @example Remove by name
   * ```ts
   * import { SharedMemory } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   *
   * const name = `/doc-unlink-${Deno.pid}`;
   * SharedMemory.create(name, { size: 8 }).close();
   * SharedMemory.unlink(name);
   * assertThrows(() => SharedMemory.unlink(name), Deno.errors.NotFound);
   * ```
   */
  static unlink(name: string): void {
    checkName(name, "Shared memory");
    check(libc().shm_unlink(cString(name)), {
      action: "Cannot unlink shared memory",
      object: name,
      syscall: "shm_unlink",
    });
  }

  static #mapNew(
    name: string,
    fd: number,
    size: number,
    readOnly: boolean,
    created: boolean,
    site: { action: string; object: string },
  ): SharedMemory {
    const shm = new SharedMemory(name, fd, size, readOnly, created);
    shm.adopt(mapFd(fd, size, readOnly, site), size);
    return shm;
  }

  /** The object's name, as given. */
  get name(): string {
    return this.#name;
  }

  /** The mapped size in bytes. */
  get size(): number {
    return this.#size;
  }

  /** True when opened with `readOnly`. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /**
   * True only on the handle whose call created the object: `create()`, or
   * the one `openOrCreate()` among any number of racing processes that made
   * it. False for `open()` and for an `openOrCreate()` that found it, which
   * may be a leftover from an earlier run: check its contents (a header, a
   * version) before trusting them, or remove it and start again.
   */
  get created(): boolean {
    return this.#created;
  }

  /** True after {@linkcode SharedMemory.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  protected describe(): string {
    return `SharedMemory "${this.#name}"`;
  }

  /**
   * Grows the object to `newSize` bytes and remaps it. Every view handed out
   * before is detached; take new ones. Shrinking is refused: a process that
   * still maps the old size would die with SIGBUS.
   *
   * @throws {RangeError} when `newSize` is smaller than `size`
   * @throws {TypeError} on a read-only handle
   *
   * @example Grow and take a new view
   * ```ts
   * import { SharedMemory } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   *
   * const name = `/doc-resize-${Deno.pid}`;
   * using shm = SharedMemory.create(name, { size: 4 });
   * const old = shm.bytes;
   * shm.resize(8192);
   * assertEquals(old.length, 0);
   * assertEquals(shm.bytes.length, 8192);
   * shm.unlink();
   * ```
   */
  resize(newSize: number): void {
    this.#ensureOpen("resize");
    checkSize(newSize, "newSize");
    if (this.#readOnly) {
      throw new TypeError(`Cannot resize ${this.describe()}: it was opened read-only`);
    }
    if (newSize < this.#size) {
      throw new RangeError(
        `Cannot shrink ${this.describe()} from ${this.#size} to ${newSize} bytes: processes mapping it would crash`,
      );
    }
    if (newSize === this.#size) return;
    const site = { action: "Cannot resize shared memory", object: this.#name };
    checkReturned(libc().posix_fallocate(this.#fd, 0n, BigInt(newSize)), {
      ...site,
      syscall: "posix_fallocate",
    });
    const pointer = mapFd(this.#fd, newSize, false, site);
    this.release(unmap);
    this.#size = newSize;
    this.adopt(pointer, newSize);
  }

  /**
   * Removes this object's name (see {@linkcode SharedMemory.unlink}); works
   * whether or not this handle is closed.
   */
  unlink(): void {
    SharedMemory.unlink(this.#name);
  }

  /**
   * Unmaps the memory and closes the descriptor; idempotent. Every view
   * handed out is detached (reads as length 0). The object itself remains
   * until it is unlinked.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.release(unmap);
    fds.unregister(this.#token);
    libc().close(this.#fd);
  }

  /** Same as {@linkcode SharedMemory.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #ensureOpen(what: string): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Cannot ${what} ${this.describe()}: it is closed`);
    }
  }
}

function mapFd(
  fd: number,
  size: number,
  readOnly: boolean,
  site: { action: string; object: string },
): Deno.PointerObject | null {
  if (size === 0) return null;
  // Read-only handles map privately and writable: a stray write lands on a
  // private copy-on-write page instead of faulting (PROT_READ would SIGSEGV).
  const p = libc().mmap(
    null,
    BigInt(size),
    PROT.READ | PROT.WRITE,
    readOnly ? MAP.PRIVATE : MAP.SHARED,
    fd,
    0n,
  );
  if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
    throw errnoError(errno(), { ...site, syscall: "mmap" });
  }
  return p;
}

function unmap(pointer: Deno.PointerObject, length: number): void {
  libc().munmap(pointer, BigInt(length));
}
