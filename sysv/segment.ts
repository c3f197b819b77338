/**
 * System V shared memory segments (`shmget`, `shmat`, `shmdt`, `shmctl`).
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { check, errno, errnoError, errnoView } from "../ffi/errno.ts";
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
import { checkId, checkKey, checkOwner, hexKey } from "./_args.ts";

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

function stat(id: number, what: string): SegmentStat {
  const l = sysvLayout().shmid_ds;
  const buf = new Uint8Array(l.size);
  check(libc().shmctl(id, IPC.STAT, buf), { action: `Cannot stat ${what}`, syscall: "shmctl" });
  const dv = new DataView(buf.buffer);
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

  private constructor(id: number, key: number) {
    this.#id = id;
    this.#key = key;
  }

  /**
   * Creates a segment for `key` (`IPC_CREAT | IPC_EXCL`).
   *
   * @throws {Deno.errors.AlreadyExists} when `key` has a segment
   * @throws {SystemError} `EINVAL` when `size` is beyond the system's limits
   *
   * @example
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * const key = sysv.ftok("/tmp", 201);
   * try {
   *   sysv.Segment.open(key).remove(); // left over from an earlier run
   * } catch {
   *   // none yet
   * }
   * const seg = sysv.Segment.create(key, { size: 128 });
   * assertThrows(() => sysv.Segment.create(key, { size: 128 }), Deno.errors.AlreadyExists);
   * seg.remove();
   * ```
   */
  static create(key: number, options: CreateSegmentOptions): Segment {
    const k = checkKey(key);
    checkOptions(options, "Segment.create()", ["size", "mode"]);
    if (options === undefined) throw new TypeError("create() needs { size }");
    const { size, mode = 0o600 } = options;
    checkSize(size);
    checkMode(mode);
    const err = errnoView();
    const id = libc().shmget(k, BigInt(size), IPC.CREAT | IPC.EXCL | mode);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action: "Cannot create segment",
        object: hexKey(k),
        syscall: "shmget",
      });
    }
    return new Segment(id, k);
  }

  /**
   * Opens the segment for `key`.
   *
   * @throws {Deno.errors.NotFound} when `key` has no segment
   * @throws {Deno.errors.PermissionDenied} when its mode refuses this user
   *
   * @example
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertThrows } from "@std/assert";
   * assertThrows(() => sysv.Segment.open(0x7fff1234), Deno.errors.NotFound);
   * ```
   */
  static open(key: number): Segment {
    const k = checkKey(key);
    if (k === IPC.PRIVATE) {
      throw new TypeError("IPC_PRIVATE segments cannot be opened by key; use Segment.fromId()");
    }
    const err = errnoView();
    const id = libc().shmget(k, 0n, 0);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action: "Cannot open segment",
        object: hexKey(k),
        syscall: "shmget",
      });
    }
    return new Segment(id, k);
  }

  /**
   * Opens the segment for `key`, creating it if there is none (`IPC_CREAT`).
   *
   * @throws {SystemError} `EINVAL` when it exists but is smaller than `size`
   *
   * @example
   * ```ts
   * import { sysv } from "@ipc/shm";
   * import { assertEquals } from "@std/assert";
   * const key = sysv.ftok("/tmp", 202);
   * const a = sysv.Segment.openOrCreate(key, { size: 64 });
   * const b = sysv.Segment.openOrCreate(key, { size: 64 });
   * assertEquals(a.id, b.id);
   * a.remove();
   * ```
   */
  static openOrCreate(key: number, options: CreateSegmentOptions): Segment {
    const k = checkKey(key);
    checkOptions(options, "Segment.openOrCreate()", ["size", "mode"]);
    if (options === undefined) throw new TypeError("openOrCreate() needs { size }");
    const { size, mode = 0o600 } = options;
    checkSize(size);
    checkMode(mode);
    const err = errnoView();
    const id = libc().shmget(k, BigInt(size), IPC.CREAT | mode);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action: "Cannot open segment",
        object: hexKey(k),
        syscall: "shmget",
      });
    }
    return new Segment(id, k);
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
    const mode = options.mode ?? 0o600;
    checkMode(mode);
    const err = errnoView();
    const id = libc().shmget(IPC.PRIVATE, BigInt(size), IPC.CREAT | mode);
    const e = err[0]!;
    if (id === -1) {
      throw errnoError(e, {
        action: "Cannot create segment",
        object: "IPC_PRIVATE",
        syscall: "shmget",
      });
    }
    return new Segment(id, IPC.PRIVATE);
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
    const l = sysvLayout().shmid_ds;
    const buf = new Uint8Array(l.size);
    if (libc().shmctl(id, IPC.STAT, buf) === -1) {
      const e = errno();
      // EINVAL here means "no such id": say NotFound, as a user would expect.
      const err = errnoError(e === 22 ? 2 : e, {
        action: "No segment",
        object: `id ${id}`,
        syscall: "shmctl",
      });
      throw err;
    }
    return new Segment(id, decodeIpcPerm(new DataView(buf.buffer)).key);
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
   * Attaches the segment to this process (`shmat`) and returns typed views
   * over it. With `readOnly`, see {@linkcode Attachment} for what writes do.
   *
   * @throws {Deno.errors.PermissionDenied} when the mode refuses this user
   */
  attach(options: { readOnly?: boolean } = {}): Attachment {
    checkOptions(options, "Segment.attach()", ["readOnly"]);
    const readOnly = options.readOnly ?? false;
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
    checkOptions(change, "Segment.setPermissions()", ["mode", "uid", "gid"]);
    const l = sysvLayout().shmid_ds;
    const buf = new Uint8Array(l.size);
    const site = { action: `Cannot change ${this.#describe()}`, syscall: "shmctl" };
    check(libc().shmctl(this.#id, IPC.STAT, buf), site);
    const dv = new DataView(buf.buffer);
    const now = decodeIpcPerm(dv);
    const mode = change.mode ?? (now.mode & 0o777);
    checkMode(mode);
    encodeIpcPermSet(dv, {
      uid: change.uid === undefined ? now.uid : checkOwner(change.uid, "uid"),
      gid: change.gid === undefined ? now.gid : checkOwner(change.gid, "gid"),
      mode: (now.mode & ~0o777) | mode,
    });
    check(libc().shmctl(this.#id, IPC.SET, buf), site);
  }

  /**
   * Marks the segment for removal (`IPC_RMID`): its key is free at once, and
   * the memory goes when the last process detaches.
   *
   * @throws {Deno.errors.NotFound} when it was already removed and is gone
   */
  remove(): void {
    const r = libc().shmctl(this.#id, IPC.RMID, new Uint8Array(0));
    if (r === -1) {
      const e = errno();
      throw errnoError(e === 22 ? 2 : e, {
        action: `Cannot remove ${this.#describe()}`,
        syscall: "shmctl",
      });
    }
  }

  #describe(): string {
    return `segment ${this.#id}${this.#key === 0 ? "" : ` (key ${hexKey(this.#key)})`}`;
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
    const p = libc().shmat(segment.id, null, readOnly ? SHM.RDONLY : 0);
    if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) throw errnoError(errno(), site);
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
    return `segment ${this.#segment.id} attachment`;
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
