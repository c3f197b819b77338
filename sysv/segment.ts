/**
 * System V shared memory segments (`shmget`, `shmat`, `shmdt`, `shmctl`).
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { createOrOpen, errno, errnoError, errnoView } from "../ffi/errno.ts";
import { MAP, PROT } from "../ffi/constants.ts";
import { IPC, SHM } from "../ffi/sysv_shm.ts";
import {
  decodeIpcPerm,
  encodeIpcPermSet,
  type IpcPerm,
  sysvLayout,
  timeField,
} from "../ffi/sysv_layouts.ts";
import { MappedRegion } from "../memory/region.ts";
import { checkMode, checkOptions, checkSize } from "../memory/_validate.ts";
import { checkChange, checkId, checkKey, checkOwner, hexKey } from "./_args.ts";
import { idError, isGone, keyHints } from "./_errors.ts";

/** Options for creating a segment. */
export interface CreateSegmentOptions {
  /** Size in bytes: a positive safe integer (the kernel rounds up to pages). */
  size: number;
  /** Permission bits, applied exactly. Default `0o600`. */
  mode?: number;
}

/** Decoded `struct shmid_ds`. */
export interface SegmentStat extends IpcPerm {
  /** The segment id. */
  id: number;
  /** Size in bytes. */
  size: number;
  /** Pid of the creator. */
  cpid: number;
  /** Pid of the last `shmat`/`shmdt`. */
  lpid: number;
  /** Processes attached now. */
  nattch: number;
  /** Last attach, or null if never. */
  atime: Date | null;
  /** Last detach, or null if never. */
  dtime: Date | null;
  /** Last change. */
  ctime: Date | null;
}

const MAP_FAILED = 0xffffffffffffffffn;

/** `shmctl(IPC_STAT)` into a fresh buffer; errno is left for the caller on failure. */
function statInto(id: number): DataView<ArrayBuffer> | undefined {
  const buf = new Uint8Array(sysvLayout().shmid_ds.size);
  return libc().shmctl(id, IPC.STAT, buf) === -1 ? undefined : new DataView(buf.buffer);
}

/** True unless `IPC_STAT` says `id` names no segment (used to tell a removed id from a bad argument). */
function segmentExists(id: number): boolean {
  return statInto(id) !== undefined || !isGone(errno());
}

/** The error for a failed call on segment `id`: a removed id is NotFound. */
function segmentError(e: number, id: number, action: string, syscall: string) {
  return idError(e, { action, syscall }, "segment", id, () => segmentExists(id));
}

function stat(id: number, what: string): SegmentStat {
  const l = sysvLayout().shmid_ds;
  const dv = statInto(id);
  if (dv === undefined) throw segmentError(errno(), id, `Cannot stat ${what}`, "shmctl");
  return {
    ...decodeIpcPerm(dv),
    id,
    size: Number(dv.getBigUint64(l.segsz, true)),
    cpid: dv.getInt32(l.cpid, true),
    lpid: dv.getInt32(l.lpid, true),
    nattch: Number(dv.getBigUint64(l.nattch, true)),
    atime: timeField(dv, l.atime),
    dtime: timeField(dv, l.dtime),
    ctime: timeField(dv, l.ctime),
  };
}

/**
 * A System V shared memory segment: identified by a key (or only by its id
 * for `IPC_PRIVATE`), attached with {@linkcode Segment.attach}. The segment
 * outlives every process until {@linkcode Segment.remove}; after `remove()` it
 * goes away when the last process detaches.
 *
 * A `Segment` is only an id: it holds no resource itself; attachments do.
 * Needs `--allow-ffi`. See `man 7 sysvipc`, `man 2 shmget`.
 *
 * @example Create, attach, write, remove
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const seg = sysv.Segment.private(4096);
 * try {
 *   using at = seg.attach();
 *   at.writeCString(0, "hello");
 *   using again = seg.attach({ readOnly: true });
 *   assertEquals(again.readCString(0), "hello");
 *   assertEquals(seg.stat().nattch, 2);
 * } finally {
 *   seg.remove();
 * }
 * ```
 */
export class Segment {
  #id: number;
  #key: number;
  #created: boolean;

  private constructor(id: number, key: number, created: boolean) {
    this.#id = id;
    this.#key = key;
    this.#created = created;
  }

  static #get(key: number, size: number, flags: number, action: string, created: boolean): Segment {
    const err = errnoView();
    const id = libc().shmget(key, BigInt(size), flags);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action,
        object: key === IPC.PRIVATE ? "IPC_PRIVATE" : hexKey(key),
        syscall: "shmget",
        hints: {
          ...(key === IPC.PRIVATE ? {} : keyHints("segment", key)),
          EINVAL: created
            ? `${size} bytes is outside this system's segment size limits (SHMMIN..SHMMAX, see /proc/sys/kernel/shmmax)`
            : `the segment for key ${hexKey(key)} is smaller than ${size} bytes`,
        },
      });
    }
    return new Segment(id, key, created);
  }

  static #createOptions(
    options: CreateSegmentOptions,
    what: string,
  ): Required<CreateSegmentOptions> {
    checkOptions(options, what, ["size", "mode"]);
    if (options === undefined) throw new TypeError(`${what} needs { size }`);
    const { size, mode = 0o600 } = options;
    checkSize(size);
    checkMode(mode);
    return { size, mode };
  }

  /**
   * Creates a segment for `key` (`IPC_CREAT | IPC_EXCL`).
   *
   * @throws {Deno.errors.AlreadyExists} when `key` has a segment (the message says how to
   *   open or remove it: `Segment.open(key).remove()`, `ipcrm -M key` or the CLI's `rm`)
   * @throws {SystemError} `EINVAL` when `size` is beyond the system's limits
   * @throws {TypeError | RangeError} for a bad key, size or mode, or an unknown option
   *
   * @example Create by key; a second create is refused
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assert, assertThrows } from "@std/assert";
   * const key = sysv.ftok("/tmp", 201);
   * try {
   *   sysv.Segment.open(key).remove(); // left over from an earlier run
   * } catch {
   *   // none yet
   * }
   * const seg = sysv.Segment.create(key, { size: 128 });
   * assert(seg.created);
   * assertThrows(
   *   () => sysv.Segment.create(key, { size: 128 }),
   *   Deno.errors.AlreadyExists,
   *   "ipcrm -M",
   * );
   * seg.remove();
   * ```
   */
  static create(key: number, options: CreateSegmentOptions): Segment {
    const k = checkKey(key);
    const { size, mode } = Segment.#createOptions(options, "Segment.create()");
    return Segment.#get(k, size, IPC.CREAT | IPC.EXCL | mode, "Cannot create segment", true);
  }

  /**
   * Opens the segment for `key`.
   *
   * @throws {Deno.errors.NotFound} when `key` has no segment (the message says how to create it)
   * @throws {Deno.errors.PermissionDenied} when its mode refuses this user
   *
   * @example A key with no segment
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * assertThrows(() => sysv.Segment.open(0x7fff1234), Deno.errors.NotFound, "Segment.create()");
   * ```
   */
  static open(key: number): Segment {
    const k = checkKey(key);
    if (k === IPC.PRIVATE) {
      throw new TypeError("IPC_PRIVATE segments cannot be opened by key; use Segment.fromId()");
    }
    return Segment.#get(k, 0, 0, "Cannot open segment", false);
  }

  /**
   * Opens the segment for `key`, creating it if there is none: `IPC_CREAT |
   * IPC_EXCL` first, then a plain `shmget` if it exists (again if it was
   * removed in between), so that {@linkcode Segment.created} is true on
   * exactly one of any number of racing processes. A segment this call did
   * not create may be a leftover of an earlier run: check a header first.
   *
   * @throws {SystemError} `EINVAL` when it exists but is smaller than `size`
   *
   * @example Exactly one caller created it
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assert, assertEquals, assertFalse } from "@std/assert";
   * const key = sysv.ftok("/tmp", 202);
   * try {
   *   sysv.Segment.open(key).remove(); // left over from an earlier run
   * } catch {
   *   // none yet
   * }
   * const a = sysv.Segment.openOrCreate(key, { size: 64 });
   * const b = sysv.Segment.openOrCreate(key, { size: 64 });
   * assert(a.created);
   * assertFalse(b.created); // b must not re-initialise what a laid out
   * assertEquals(a.id, b.id);
   * a.remove();
   * ```
   */
  static openOrCreate(key: number, options: CreateSegmentOptions): Segment {
    const k = checkKey(key);
    if (k === IPC.PRIVATE) {
      throw new TypeError("openOrCreate() needs a key; use Segment.private() for IPC_PRIVATE");
    }
    const { size, mode } = Segment.#createOptions(options, "Segment.openOrCreate()");
    // IPC_EXCL first so that, of several racing processes, exactly one is told it created.
    return createOrOpen(
      () => Segment.#get(k, size, IPC.CREAT | IPC.EXCL | mode, "Cannot create segment", true),
      () => Segment.#get(k, size, 0, "Cannot open segment", false),
    );
  }

  /**
   * Creates a new segment with `IPC_PRIVATE`: no key; share it by passing
   * {@linkcode Segment.id} to children, who use {@linkcode Segment.fromId}.
   *
   * @example
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const seg = sysv.Segment.private(100);
   * assertEquals(seg.key, sysv.IPC_PRIVATE);
   * assertEquals(sysv.Segment.fromId(seg.id).stat().size, 100);
   * seg.remove();
   * ```
   */
  static private(size: number, options: { mode?: number } = {}): Segment {
    checkSize(size);
    checkOptions(options, "Segment.private()", ["mode"]);
    const { mode = 0o600 } = options; // a default for undefined only: null is refused
    checkMode(mode);
    return Segment.#get(IPC.PRIVATE, size, IPC.CREAT | mode, "Cannot create segment", true);
  }

  /**
   * The segment with id `id` (checked with `IPC_STAT`).
   *
   * @throws {Deno.errors.NotFound} (`EINVAL`/`EIDRM` mapped) when no segment has that id
   *
   * @example
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * assertThrows(() => sysv.Segment.fromId(2147483000), Deno.errors.NotFound);
   * ```
   */
  static fromId(id: number): Segment {
    checkId(id);
    const dv = statInto(id);
    if (dv === undefined) throw segmentError(errno(), id, "Cannot open segment", "shmctl");
    return new Segment(id, decodeIpcPerm(dv).key, false);
  }

  /** The segment id (what `ipcs -m` shows as shmid). */
  get id(): number {
    return this.#id;
  }

  /** The key (0 for `IPC_PRIVATE`). */
  get key(): number {
    return this.#key;
  }

  /**
   * True only on the handle whose call created the segment (`create()`,
   * `private()`, or the one `openOrCreate()` that made it); false for
   * `open()` and `fromId()`. A segment this handle did not create may hold
   * anything an earlier run left there: check a header before trusting it.
   */
  get created(): boolean {
    return this.#created;
  }

  /**
   * Attaches the segment to this process (`shmat`) and returns typed views
   * over it. With `readOnly`, see {@linkcode Attachment} for what writes do.
   *
   * @throws {Deno.errors.PermissionDenied} when the mode refuses this user
   */
  attach(options: { readOnly?: boolean } = {}): Attachment {
    checkOptions(options, "Segment.attach()", ["readOnly"]);
    const { readOnly = false } = options;
    if (typeof readOnly !== "boolean") throw new TypeError("readOnly must be a boolean");
    return Attachment.attach(this, readOnly);
  }

  /** The decoded `shmid_ds` (`IPC_STAT`). */
  stat(): SegmentStat {
    return stat(this.#id, this.#describe());
  }

  /**
   * Changes owner and permissions (`IPC_SET`); fields left out keep their value.
   *
   * @example
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const seg = sysv.Segment.private(64);
   * seg.setPermissions({ mode: 0o640 });
   * assertEquals(seg.stat().mode & 0o777, 0o640);
   * seg.remove();
   * ```
   */
  setPermissions(change: { mode?: number; uid?: number; gid?: number }): void {
    checkChange(change, "Segment.setPermissions()");
    const action = `Cannot change ${this.#describe()}`;
    const dv = statInto(this.#id);
    if (dv === undefined) throw segmentError(errno(), this.#id, action, "shmctl");
    const now = decodeIpcPerm(dv);
    const { mode = now.mode & 0o777 } = change;
    checkMode(mode);
    encodeIpcPermSet(dv, {
      uid: change.uid === undefined ? now.uid : checkOwner(change.uid, "uid"),
      gid: change.gid === undefined ? now.gid : checkOwner(change.gid, "gid"),
      mode: (now.mode & ~0o777) | mode,
    });
    if (libc().shmctl(this.#id, IPC.SET, new Uint8Array(dv.buffer)) === -1) {
      throw segmentError(errno(), this.#id, action, "shmctl");
    }
  }

  /**
   * Marks the segment for removal (`IPC_RMID`): its key is free at once, and
   * the memory goes when the last process detaches.
   *
   * @throws {Deno.errors.NotFound} when it was already removed and is gone
   */
  remove(): void {
    if (libc().shmctl(this.#id, IPC.RMID, new Uint8Array(0)) === -1) {
      throw segmentError(errno(), this.#id, `Cannot remove ${this.#describe()}`, "shmctl");
    }
  }

  #describe(): string {
    return `System V segment ${this.#id}${this.#key === 0 ? "" : ` (key ${hexKey(this.#key)})`}`;
  }
}

/**
 * A segment attached to this process, with the same typed views as
 * `SharedMemory` (`bytes`, `view()`, `dataView()`, C strings, `struct()`).
 * `detach()` (or `using`) detaches it and kills every view handed out.
 *
 * **Read-only attachments** (`attach({ readOnly: true })`): the kernel maps the
 * segment `SHM_RDONLY`, where a write would kill the process with SIGSEGV and
 * cannot be made copy-on-write. So the views of a read-only attachment are over
 * a private copy taken at attach time: they read like any TypedArray, a write
 * changes only that copy, and {@linkcode Attachment.refresh} copies the
 * segment's current contents in again.
 *
 * @example Refresh a read-only attachment
 * ```ts
 * import { sysv } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 * const seg = sysv.Segment.private(64);
 * using rw = seg.attach();
 * using ro = seg.attach({ readOnly: true });
 * rw.bytes[0] = 1;
 * assertEquals(ro.bytes[0], 0);
 * ro.refresh();
 * assertEquals(ro.bytes[0], 1);
 * ro.bytes[0] = 9; // private: never reaches the segment
 * assertEquals(rw.bytes[0], 1);
 * seg.remove();
 * ```
 */
export class Attachment extends MappedRegion implements Disposable {
  #segment: Segment;
  #readOnly: boolean;
  #closed = false;
  #shared: Deno.PointerObject | null = null;
  #size: number;

  private constructor(segment: Segment, readOnly: boolean, size: number) {
    super();
    this.#segment = segment;
    this.#readOnly = readOnly;
    this.#size = size;
  }

  /** @internal */
  static attach(segment: Segment, readOnly: boolean): Attachment {
    const size = segment.stat().size;
    const site = { action: "Cannot attach segment", object: `${segment.id}`, syscall: "shmat" };
    // shm_segsz sizes every view: a value no shmget could have made is not mapped.
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new Deno.errors.InvalidData(
        `${site.action} ${segment.id}: IPC_STAT reports a size of ${size} bytes`,
      );
    }
    const p = libc().shmat(segment.id, null, readOnly ? SHM.RDONLY : 0);
    if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) {
      throw segmentError(errno(), segment.id, site.action, "shmat");
    }
    const at = new Attachment(segment, readOnly, size);
    if (!readOnly) {
      at.adopt(p, size);
      return at;
    }
    at.#shared = p;
    const copy = libc().mmap(
      null,
      BigInt(size),
      PROT.READ | PROT.WRITE,
      MAP.PRIVATE | MAP.ANONYMOUS,
      -1,
      0n,
    );
    if (copy === null || Deno.UnsafePointer.value(copy) === MAP_FAILED) {
      const e = errnoError(errno(), { ...site, syscall: "mmap" });
      libc().shmdt(p);
      throw e;
    }
    libc().memcpy(copy, p, BigInt(size));
    at.adopt(copy, size);
    return at;
  }

  /** The segment this attaches. */
  get segment(): Segment {
    return this.#segment;
  }

  /** Its size in bytes. */
  get size(): number {
    return this.#size;
  }

  /** True for `attach({ readOnly: true })`. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** True after {@linkcode Attachment.detach}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  protected describe(): string {
    return `the attachment of System V segment ${this.#segment.id}`;
  }

  /**
   * Copies the segment's current contents into a read-only attachment's views
   * (same views, new bytes). A no-op for read-write attachments, whose views
   * are the segment itself.
   */
  refresh(): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Cannot refresh ${this.describe()}: it is detached`);
    }
    if (this.#shared === null) return;
    libc().memcpy(this.unsafePointer, this.#shared, BigInt(this.#size));
  }

  /** Detaches (`shmdt`); idempotent. Every view handed out reads as length 0 afterwards. */
  detach(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#shared !== null) {
      this.release((p, len) => libc().munmap(p, BigInt(len)));
      libc().shmdt(this.#shared);
      this.#shared = null;
    } else {
      this.release((p) => libc().shmdt(p));
    }
  }

  /** Same as {@linkcode Attachment.detach}. */
  close(): void {
    this.detach();
  }

  /** Same as {@linkcode Attachment.detach}. */
  [Symbol.dispose](): void {
    this.detach();
  }
}
