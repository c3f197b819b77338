/**
 * Typed views over mapped memory, and the rule that keeps them safe: a view
 * can outlive its mapping only as a detached (length 0) view, never as a
 * pointer into unmapped memory.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { MAP, PROT } from "../ffi/constants.ts";
import { checkCText, decodeUtf8, encodeUtf8 } from "../ffi/cstring.ts";
import type { Fields, StructAccessor, StructType } from "./layout.ts";
import { setOwner } from "./_detached.ts";

/** Every TypedArray constructor `view()` accepts. */
export type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

const TYPED_ARRAY_CTORS: ReadonlySet<unknown> = new Set<unknown>([
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  ...(typeof (globalThis as Record<string, unknown>).Float16Array === "function"
    ? [(globalThis as Record<string, unknown>).Float16Array]
    : []),
]);

/** How a region gives its memory back once no view can reach it. */
export type Unmap = (pointer: Deno.PointerObject, length: number) => void;

/**
 * Replaces `[pointer, pointer+length)` with private zero pages in one step.
 * Used instead of unmapping when a buffer over the range escaped our control
 * (moved by `transfer()` or `postMessage`): the escaped buffer then reads
 * zeros instead of faulting, and the shared mapping (POSIX or System V) is
 * released by the replacement itself.
 */
export function overlayWithPrivateMemory(pointer: Deno.PointerObject, length: number): boolean {
  const p = libc().mmap(
    pointer,
    BigInt(length),
    PROT.READ | PROT.WRITE,
    MAP.PRIVATE | MAP.ANONYMOUS | MAP.FIXED,
    -1,
    0n,
  );
  return Deno.UnsafePointer.equals(p, pointer);
}

const pins = new WeakMap<MappedRegion, number>();

/**
 * Marks `region` as in use by native code that may still touch it after the
 * region is closed (a `nonblocking` FFI call waiting on a semaphore inside it).
 * While pinned, closing overlays the range with private memory instead of
 * unmapping it, so that call sees zeros, never a hole. Returns the unpin function.
 * Internal: not exported from `mod.ts`.
 */
export function pinRegion(region: MappedRegion): () => void {
  pins.set(region, (pins.get(region) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const n = (pins.get(region) ?? 1) - 1;
    if (n === 0) pins.delete(region);
    else pins.set(region, n);
  };
}

/**
 * Memory this process has mapped (a POSIX shared memory object or an attached
 * System V segment), handed out as typed views.
 *
 * All views share one `ArrayBuffer` per mapping. When the mapping goes away
 * (`close()`, `detach()`, `resize()`) that buffer is detached, so every view
 * made from it reads `length === 0` instead of touching unmapped memory. If
 * someone moved the buffer first (`buffer.transfer()`, `structuredClone` or
 * `postMessage` with transfer), the range is overlaid with private zero pages
 * instead of unmapped, so the moved buffer stays readable (it reads zeros) —
 * at the cost of that address range until the process exits.
 *
 * @example Every mapping type is a MappedRegion
 * ```ts
 * import { MappedRegion, SharedMemory } from "@ipc/shm";
 * import { assert, assertEquals } from "@std/assert";
 * using shm = SharedMemory.create(`/doc-region-${Deno.pid}`, { size: 16 });
 * assert(shm instanceof MappedRegion);
 * const old = shm.bytes;
 * shm.close();
 * assertEquals(old.length, 0); // detached, never a dangling pointer
 * SharedMemory.unlink(`/doc-region-${Deno.pid}`);
 * ```
 */
export abstract class MappedRegion {
  #pointer: Deno.PointerObject | null = null;
  #length = 0;
  #buffers: ArrayBuffer[] = [];
  #buffer: ArrayBuffer = new ArrayBuffer(0);
  #escaped = false;
  #bytes: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #dataView: DataView<ArrayBuffer> = new DataView(new ArrayBuffer(0));

  /** A short description for error messages: `SharedMemory "/jobs"`. */
  protected abstract describe(): string;

  /** True once this region has been closed or detached. */
  abstract get closed(): boolean;

  /** Installs a fresh mapping. Called by subclasses after `mmap`/`shmat`. */
  protected adopt(pointer: Deno.PointerObject | null, length: number): void {
    this.#pointer = pointer;
    this.#length = pointer === null ? 0 : length;
    this.#buffers = [];
    this.#escaped = false;
    this.#fresh();
  }

  /**
   * Detaches every view and releases the mapping: with `unmap` when no buffer
   * escaped, otherwise by overlaying it (see the class notes).
   */
  protected release(unmap: Unmap): void {
    const pointer = this.#pointer;
    const length = this.#length;
    this.#pointer = null;
    this.#length = 0;
    for (const b of this.#buffers) {
      if (b.detached) this.#escaped = true;
      else b.transfer(0);
    }
    this.#buffers = [];
    this.#buffer = new ArrayBuffer(0);
    this.#bytes = new Uint8Array(0);
    this.#dataView = new DataView(this.#buffer);
    if (pointer === null) return;
    if ((this.#escaped || pins.has(this)) && overlayWithPrivateMemory(pointer, length)) return;
    unmap(pointer, length);
  }

  #fresh(): void {
    if (this.#pointer === null) {
      this.#buffer = new ArrayBuffer(0);
    } else {
      this.#buffer = Deno.UnsafePointerView.getArrayBuffer(this.#pointer, this.#length);
      this.#buffers.push(this.#buffer);
      setOwner(this.#buffer, () => this.#staleReason());
    }
    this.#bytes = new Uint8Array(this.#buffer);
    this.#dataView = new DataView(this.#buffer);
  }

  /** Why a buffer this region handed out is detached, for accessors that outlived it. */
  #staleReason(): string {
    return this.closed
      ? `${this.describe()} is closed`
      : `${this.describe()} was remapped (resize()) or this buffer was transferred away; take a new accessor from struct()`;
  }

  #live(action: string): ArrayBuffer {
    if (this.closed) {
      throw new Deno.errors.BadResource(`Cannot ${action}: ${this.describe()} is closed`);
    }
    if (this.#buffer.detached) {
      // Someone moved our buffer away; it still points here, so remember that.
      this.#escaped = true;
      this.#fresh();
    }
    return this.#buffer;
  }

  /** The mapped length in bytes. */
  get byteLength(): number {
    return this.#length;
  }

  /**
   * A `Uint8Array` over the whole mapping. Writes are seen by every process
   * that maps the object.
   */
  get bytes(): Uint8Array<ArrayBuffer> {
    this.#live("take bytes");
    return this.#bytes;
  }

  /**
   * A TypedArray of type `Ctor` over the mapping.
   *
   * @param Ctor any TypedArray constructor, e.g. `Int32Array`
   * @param byteOffset where the view starts; a multiple of `Ctor.BYTES_PER_ELEMENT`
   * @param length element count; defaults to as many as fit
   * @throws {TypeError} when `Ctor` is not a TypedArray constructor
   * @throws {RangeError} when the view is misaligned or does not fit
   */
  view<C extends TypedArrayConstructor>(Ctor: C, byteOffset = 0, length?: number): InstanceType<C> {
    const buffer = this.#live("make a view");
    if (!TYPED_ARRAY_CTORS.has(Ctor)) throw new TypeError("view() takes a TypedArray constructor");
    const size = Ctor.BYTES_PER_ELEMENT;
    checkOffset(byteOffset, this.#length);
    if (byteOffset % size !== 0) {
      throw new RangeError(
        `${Ctor.name} needs ${size}-byte alignment; byte offset ${byteOffset} is misaligned`,
      );
    }
    const count = length ?? Math.floor((this.#length - byteOffset) / size);
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`length must be a non-negative integer, got ${String(length)}`);
    }
    if (byteOffset + count * size > this.#length) {
      throw new RangeError(
        `${count} × ${Ctor.name} at byte offset ${byteOffset} ends past ${this.describe()} (${this.#length} bytes)`,
      );
    }
    return new Ctor(buffer, byteOffset, count) as InstanceType<C>;
  }

  /**
   * A `DataView` over the mapping (little-endian on every supported platform).
   *
   * @param byteOffset where the view starts
   * @param byteLength defaults to the rest of the mapping
   * @throws {RangeError} when the range does not fit
   */
  dataView(byteOffset = 0, byteLength?: number): DataView<ArrayBuffer> {
    const buffer = this.#live("make a DataView");
    if (byteOffset === 0 && byteLength === undefined) return this.#dataView;
    const n = this.#range(byteOffset, byteLength);
    return new DataView(buffer, byteOffset, n);
  }

  /**
   * Reads a NUL-terminated UTF-8 string starting at `byteOffset`, reading at
   * most `maxBytes` bytes (default: to the end of the mapping).
   */
  readCString(byteOffset = 0, maxBytes?: number): string {
    this.#live("read a C string");
    const n = this.#range(byteOffset, maxBytes);
    const bytes = this.#bytes.subarray(byteOffset, byteOffset + n);
    const end = bytes.indexOf(0);
    return decodeUtf8(end === -1 ? bytes : bytes.subarray(0, end));
  }

  /**
   * Writes `text` as UTF-8 followed by a NUL at `byteOffset`, within at most
   * `maxBytes` bytes (default: to the end of the mapping).
   *
   * @returns the bytes written, including the NUL
   * @throws {RangeError} when the text and its NUL do not fit
   * @throws {TypeError} when `text` holds a NUL or a lone surrogate (neither
   *   could be read back as written)
   */
  writeCString(byteOffset: number, text: string, maxBytes?: number): number {
    this.#live("write a C string");
    if (typeof text !== "string") throw new TypeError("writeCString() takes a string");
    checkCText(text, "writeCString()");
    const n = this.#range(byteOffset, maxBytes);
    const encoded = encodeUtf8(text);
    if (encoded.length + 1 > n) {
      throw new RangeError(
        `"${text}" needs ${encoded.length + 1} bytes with its NUL; only ${n} available`,
      );
    }
    this.#bytes.set(encoded, byteOffset);
    this.#bytes[byteOffset + encoded.length] = 0;
    return encoded.length + 1;
  }

  /**
   * A live accessor for the struct `layout` at `byteOffset`.
   *
   * @throws {RangeError} when misaligned for the struct or out of bounds
   */
  struct<F extends Fields>(layout: StructType<F>, byteOffset = 0): StructAccessor<F> {
    this.#live("make a struct accessor");
    if (
      layout === null || typeof layout !== "object" || typeof layout.at !== "function" ||
      !Number.isSafeInteger(layout.size) || !Number.isSafeInteger(layout.align)
    ) {
      throw new TypeError("struct() takes a struct type made by struct({ ... })");
    }
    checkOffset(byteOffset, this.#length);
    if (byteOffset % layout.align !== 0) {
      throw new RangeError(
        `The struct needs ${layout.align}-byte alignment; byte offset ${byteOffset} is misaligned`,
      );
    }
    if (byteOffset + layout.size > this.#length) {
      throw new RangeError(
        `A ${layout.size}-byte struct at ${byteOffset} ends past ${this.describe()} (${this.#length} bytes)`,
      );
    }
    return layout.at(this.#dataView, byteOffset);
  }

  /**
   * **Unsafe.** The raw address of the mapping, for passing to other FFI code.
   * It dangles once the region is closed; nothing here can protect a raw pointer.
   */
  get unsafePointer(): Deno.PointerObject | null {
    this.#live("take the pointer");
    return this.#pointer;
  }

  #range(byteOffset: number, byteLength: number | undefined): number {
    checkOffset(byteOffset, this.#length);
    const n = byteLength ?? this.#length - byteOffset;
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`byteLength must be a non-negative integer, got ${String(byteLength)}`);
    }
    if (byteOffset + n > this.#length) {
      throw new RangeError(
        `${n} bytes at byte offset ${byteOffset} end past ${this.describe()} (${this.#length} bytes)`,
      );
    }
    return n;
  }
}

function checkOffset(byteOffset: number, length: number): void {
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) {
    throw new RangeError(`byteOffset must be a non-negative integer, got ${String(byteOffset)}`);
  }
  if (byteOffset > length) {
    throw new RangeError(`byteOffset ${byteOffset} is past the end (${length} bytes)`);
  }
}

/**
 * Checks that `size` bytes aligned to `align` fit at `byteOffset` of `region`
 * (where a lock or semaphore is about to be placed).
 */
export function checkPlacement(
  region: MappedRegion,
  byteOffset: number,
  size: number,
  align: number,
  what: string,
): void {
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) {
    throw new RangeError(`byteOffset must be a non-negative integer, got ${String(byteOffset)}`);
  }
  if (byteOffset % align !== 0) {
    throw new RangeError(
      `A ${what} needs ${align}-byte alignment; byte offset ${byteOffset} is misaligned`,
    );
  }
  if (byteOffset + size > region.byteLength) {
    throw new RangeError(
      `A ${what} needs ${size} bytes at offset ${byteOffset}; the mapping has ${region.byteLength}`,
    );
  }
}
