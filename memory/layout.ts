/**
 * Struct layouts: C structs described in TypeScript, laid out with the C
 * alignment rules of x86_64 and aarch64 Linux, read and written in place
 * through typed field accessors.
 *
 * ```ts
 * import { char, i32, struct } from "@ipc/shm";
 * const UserRecord = struct({ user_id: i32, username: char(64) });
 * // sizeof(struct shared_user_record) == 68, offsetof(username) == 4
 * ```
 *
 * @module
 */

import { checkCText, decodeUtf8, encodeUtf8 } from "../ffi/cstring.ts";
import { accessError, detachedError } from "./_detached.ts";

/**
 * A C type: its size and alignment, and how to read and write one value of it
 * at a byte offset of a `DataView`.
 *
 * `Get` is what reading the field gives (a number, a string, a live accessor);
 * `Set` is what assigning it takes.
 */
export interface Type<Get = unknown, Set = Get> {
  /** `sizeof` in bytes. */
  readonly size: number;
  /** `_Alignof` in bytes. */
  readonly align: number;
  /** A short C-like spelling, for messages: `"int32_t"`, `"char[64]"`. */
  readonly cName: string;
  /** Reads the value (for structs and arrays: a live accessor) at `offset`. */
  get(view: DataView, offset: number): Get;
  /** Writes `value` at `offset`. */
  set(view: DataView, offset: number, value: Set): void;
}

/** What reading a field of type `T` gives. */
export type GetOf<T> = T extends Type<infer G, unknown> ? G : never;
/** What assigning a field of type `T` takes. */
export type SetOf<T> = T extends Type<unknown, infer S> ? S : never;

/** The JS type a scalar field takes: exact, because DataView would coerce ("abc" → 0). */
type Takes = "number" | "bigint" | "boolean";

function scalar<V>(
  cName: string,
  size: number,
  takes: Takes,
  get: (v: DataView, o: number) => V,
  store: (v: DataView, o: number, x: V) => void,
): Type<V> {
  // typeof against the variable costs nothing measurable on the write path;
  // a shared predicate, or one closure per kind, made writes 2.5× slower.
  const set = (v: DataView, o: number, x: V) => {
    // deno-lint-ignore valid-typeof -- takes is "number", "bigint" or "boolean"
    if (typeof x !== takes) {
      throw new TypeError(`${cName} takes a ${takes}, got ${x === null ? "null" : typeof x}`);
    }
    store(v, o, x);
  };
  return Object.freeze({ cName, size, align: size, get, set });
}

/** `int8_t` */
export const i8: Type<number> = scalar(
  "int8_t",
  1,
  "number",
  (v, o) => v.getInt8(o),
  (v, o, x) => v.setInt8(o, x),
);
/** `uint8_t` */
export const u8: Type<number> = scalar(
  "uint8_t",
  1,
  "number",
  (v, o) => v.getUint8(o),
  (v, o, x) => v.setUint8(o, x),
);
/** `int16_t` */
export const i16: Type<number> = scalar(
  "int16_t",
  2,
  "number",
  (v, o) => v.getInt16(o, true),
  (v, o, x) => v.setInt16(o, x, true),
);
/** `uint16_t` */
export const u16: Type<number> = scalar(
  "uint16_t",
  2,
  "number",
  (v, o) => v.getUint16(o, true),
  (v, o, x) => v.setUint16(o, x, true),
);
/** `int32_t` (C `int`) */
export const i32: Type<number> = scalar(
  "int32_t",
  4,
  "number",
  (v, o) => v.getInt32(o, true),
  (v, o, x) => v.setInt32(o, x, true),
);
/** `uint32_t` */
export const u32: Type<number> = scalar(
  "uint32_t",
  4,
  "number",
  (v, o) => v.getUint32(o, true),
  (v, o, x) => v.setUint32(o, x, true),
);
/** `int64_t` (C `long` on LP64) as a bigint. */
export const i64: Type<bigint> = scalar(
  "int64_t",
  8,
  "bigint",
  (v, o) => v.getBigInt64(o, true),
  (v, o, x) => v.setBigInt64(o, x, true),
);
/** `uint64_t` as a bigint. */
export const u64: Type<bigint> = scalar(
  "uint64_t",
  8,
  "bigint",
  (v, o) => v.getBigUint64(o, true),
  (v, o, x) => v.setBigUint64(o, x, true),
);
/** `float` */
export const f32: Type<number> = scalar(
  "float",
  4,
  "number",
  (v, o) => v.getFloat32(o, true),
  (v, o, x) => v.setFloat32(o, x, true),
);
/** `double` */
export const f64: Type<number> = scalar(
  "double",
  8,
  "number",
  (v, o) => v.getFloat64(o, true),
  (v, o, x) => v.setFloat64(o, x, true),
);
/** C `bool` (`_Bool`, one byte); takes `true` or `false` only (not `0`, `1` or `"false"`). */
export const bool: Type<boolean> = scalar(
  "bool",
  1,
  "boolean",
  (v, o) => v.getUint8(o) !== 0,
  (v, o, x) => v.setUint8(o, x ? 1 : 0),
);

/**
 * A fixed `char[length]` holding UTF-8 text. Reading stops at the first NUL (or
 * the end); writing stores the text and zero-fills the rest. Text that does not
 * fit (including its NUL when shorter than the field) throws `RangeError`,
 * so a write never silently truncates a name; text holding a NUL or a lone
 * surrogate (which could not be read back as written) throws `TypeError`.
 *
 * @example A name field
 * ```ts
 * import { char, struct } from "@ipc/shm";
 * import { assertEquals, assertThrows } from "@std/assert";
 * const Named = struct({ name: char(8) });
 * const rec = Named.at(new DataView(new ArrayBuffer(Named.size)));
 * rec.name = "ada";
 * assertEquals(rec.name, "ada");
 * assertThrows(() => (rec.name = "much too long"), RangeError);
 * assertThrows(() => (rec.name = "a\0b"), TypeError);
 * ```
 *
 * @param length the array length in bytes (1 or more)
 */
export function char(length: number): Type<string> {
  checkCount(length, "char length");
  return Object.freeze({
    cName: `char[${length}]`,
    size: length,
    align: 1,
    get(v: DataView, o: number): string {
      const bytes = new Uint8Array(v.buffer, v.byteOffset + o, length);
      const end = bytes.indexOf(0);
      return decodeUtf8(end === -1 ? bytes : bytes.subarray(0, end));
    },
    set(v: DataView, o: number, text: string): void {
      if (typeof text !== "string") throw new TypeError(`char[${length}] takes a string`);
      checkCText(text, `char[${length}]`);
      const encoded = encodeUtf8(text);
      if (encoded.length > length) {
        throw new RangeError(
          `"${text}" is ${encoded.length} bytes of UTF-8; char[${length}] holds ${length}`,
        );
      }
      const bytes = new Uint8Array(v.buffer, v.byteOffset + o, length);
      bytes.set(encoded);
      bytes.fill(0, encoded.length);
    },
  });
}

/** A live, fixed-length array accessor over a C array of non-numeric elements. */
export interface ArrayAccessor<G, S> extends Iterable<G> {
  /** The element count. */
  readonly length: number;
  /** Element `i` (0 ≤ i < length). */
  get(i: number): G;
  /** Stores `value` at element `i`. */
  set(i: number, value: S): void;
}

type NumericCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

const numericCtors = new Map<Type<unknown, never>, NumericCtor>([
  [i8, Int8Array],
  [u8, Uint8Array],
  [i16, Int16Array],
  [u16, Uint16Array],
  [i32, Int32Array],
  [u32, Uint32Array],
  [i64, BigInt64Array],
  [u64, BigUint64Array],
  [f32, Float32Array],
  [f64, Float64Array],
] as [Type<unknown, never>, NumericCtor][]);

/** The TypedArray a numeric element type reads as. */
export type TypedArrayOf<T> = T extends Type<bigint> ? BigInt64Array | BigUint64Array
  :
    | Int8Array
    | Uint8Array
    | Int16Array
    | Uint16Array
    | Int32Array
    | Uint32Array
    | Float32Array
    | Float64Array;

/**
 * A fixed C array `T[length]`. Arrays of numbers read as a live TypedArray over
 * the memory; other element types read as an {@linkcode ArrayAccessor}.
 * Assigning takes any iterable of exactly `length` values.
 *
 * @example Numeric arrays are live TypedArrays
 * ```ts
 * import { array, i32, struct } from "@ipc/shm";
 * import { assert, assertEquals } from "@std/assert";
 * const Histogram = struct({ buckets: array(i32, 4) });
 * const h = Histogram.at(new DataView(new ArrayBuffer(Histogram.size)));
 * h.buckets[2] = 5;
 * assert(h.buckets instanceof Int32Array);
 * assertEquals(h.toJSON(), { buckets: [0, 0, 5, 0] });
 * ```
 *
 * @param element the element type
 * @param length the element count (1 or more)
 */
export function array<T extends Type<number | bigint, number | bigint>>(
  element: T,
  length: number,
): Type<TypedArrayOf<T>, ArrayLike<GetOf<T>>>;
/**
 * A fixed C array of non-numeric elements (strings, structs, arrays), read
 * through an {@linkcode ArrayAccessor}.
 *
 * @param element the element type
 * @param length the element count (1 or more)
 */
export function array<T extends Type<unknown, never>>(
  element: T,
  length: number,
): Type<ArrayAccessor<GetOf<T>, SetOf<T>>, ArrayLike<SetOf<T>>>;
export function array<T extends Type<unknown, never>>(
  element: T,
  length: number,
): Type<unknown, ArrayLike<unknown>> {
  checkType(element, "array() element");
  checkCount(length, "array length");
  const stride = element.size;
  const Ctor = numericCtors.get(element);
  const el = element as unknown as Type<unknown, unknown>;
  return Object.freeze({
    cName: `${element.cName}[${length}]`,
    size: stride * length,
    align: element.align,
    get(v: DataView, o: number): unknown {
      if (Ctor !== undefined) return new Ctor(v.buffer as ArrayBuffer, v.byteOffset + o, length);
      const accessor: ArrayAccessor<unknown, unknown> = {
        length,
        get(i) {
          try {
            return el.get(v, o + index(i, length) * stride);
          } catch (e) {
            throw accessError(v, e, () => `read element ${String(i)}`);
          }
        },
        set(i, value) {
          try {
            el.set(v, o + index(i, length) * stride, value);
          } catch (e) {
            throw accessError(v, e, () => `write element ${String(i)}`);
          }
        },
        *[Symbol.iterator]() {
          for (let i = 0; i < length; i++) yield accessor.get(i);
        },
      };
      return accessor;
    },
    set(v: DataView, o: number, values: ArrayLike<unknown>): void {
      if (values === null || typeof values !== "object" || values.length !== length) {
        throw new RangeError(`${element.cName}[${length}] takes exactly ${length} values`);
      }
      for (let i = 0; i < length; i++) el.set(v, o + i * stride, values[i]);
    },
  });
}

/** Field name → type: the description of a C struct, in declaration order. */
export type Fields = Record<string, Type<unknown, never>>;

/** A live struct accessor: one property per field, read and written in place. */
export type StructAccessor<F extends Fields> =
  & { -readonly [K in keyof F]: GetOf<F[K]> }
  & {
    /** A plain-object copy of every field. */
    toJSON(): StructValue<F>;
    /** Assigns several fields at once; nested structs and arrays take plain values. */
    set(values: Partial<StructValue<F>>): void;
  };

/** A plain snapshot of a struct's fields (nested structs and arrays as plain data). */
export type StructValue<F extends Fields> = { [K in keyof F]: SetOf<F[K]> };

/** A struct type: a {@linkcode Type} whose fields are laid out by the C rules. */
export interface StructType<F extends Fields>
  extends Type<StructAccessor<F>, Partial<StructValue<F>>> {
  /** The field types, in declaration order. */
  readonly fields: Readonly<F>;
  /** `offsetof(struct, field)` for every field. */
  readonly offsets: Readonly<Record<keyof F, number>>;
  /** A live accessor over the struct at `offset` of `view`. */
  at(view: DataView, offset?: number): StructAccessor<F>;
}

/**
 * Describes a C struct. Fields are placed in order, each at the next multiple
 * of its alignment; the struct's alignment is its widest member's, and its size
 * is padded to a multiple of that — exactly what gcc does on x86_64 and aarch64.
 *
 * A field takes exactly its JS type (a number, a bigint for 64-bit integers, a
 * boolean, a string for `char[]`): anything else is a `TypeError`, never a
 * coerced value. An accessor kept past its mapping's `close()` or `resize()`
 * throws `Deno.errors.BadResource` naming the mapping.
 *
 * A field may have any name but `toJSON` and `set` (the accessor's own
 * methods): `view`, `offset`, `constructor` or `__proto__` (as a computed key)
 * are fields like any other. `set()` and `toJSON()` walk the layout's fields
 * and read only a value's own enumerable keys, never inherited ones.
 *
 * @example The user record of the System V seed
 * ```ts
 * import { char, i32, struct } from "@ipc/shm";
 * import { assertEquals } from "@std/assert";
 *
 * const UserRecord = struct({ user_id: i32, username: char(64) });
 * assertEquals(UserRecord.size, 68);
 * assertEquals(UserRecord.offsets.username, 4);
 *
 * const rec = UserRecord.at(new DataView(new ArrayBuffer(UserRecord.size)));
 * rec.user_id = 42;
 * rec.username = "ada";
 * assertEquals(rec.toJSON(), { user_id: 42, username: "ada" });
 * ```
 *
 * @param fields field name → type, in declaration order
 * @returns the struct type, usable as a field of another struct
 */
export function struct<F extends Fields>(fields: F): StructType<F> {
  if (fields === null || typeof fields !== "object") {
    throw new TypeError("struct() takes an object of field types");
  }
  let size = 0;
  let align = 1;
  const entries = Object.entries(fields) as [keyof F & string, Type<unknown, unknown>][];
  if (entries.length === 0) throw new RangeError("A struct needs at least one field");
  const placed: [string, number][] = [];
  for (const [name, type] of entries) {
    checkType(type, `Field "${name}"`);
    if (name === "toJSON" || name === "set") {
      throw new TypeError(`"${name}" is reserved for the accessor's own method; rename the field`);
    }
    size = alignUp(size, type.align);
    placed.push([name, size]);
    size += type.size;
    align = Math.max(align, type.align);
  }
  size = alignUp(size, align);
  // fromEntries defines own properties: `offsets[name] =` would set the
  // prototype for a field named "__proto__" instead of recording its offset.
  const offsets = Object.fromEntries(placed) as Record<keyof F, number>;
  const layout = entries.map(([name, type], i) => [name, type, placed[i]![1]] as const);

  // One prototype per struct type: accessors are cheap objects holding (view, offset)
  // under symbols, so a field may be called anything ("view", "offset", "__proto__").
  const proto: Record<string, unknown> = {};
  for (const [name, type, off] of layout) {
    Object.defineProperty(proto, name, {
      enumerable: true,
      // try/catch costs nothing until something throws (measured; see the commit).
      get(this: Live) {
        try {
          return type.get(this[VIEW], this[OFFSET] + off);
        } catch (e) {
          throw accessError(this[VIEW], e, () => `read field "${name}"`);
        }
      },
      set(this: Live, value: unknown) {
        try {
          type.set(this[VIEW], this[OFFSET] + off, value);
        } catch (e) {
          throw accessError(this[VIEW], e, () => `write field "${name}"`);
        }
      },
    });
  }
  Object.defineProperty(proto, "toJSON", {
    value(this: Live) {
      try {
        return snapshot(this[VIEW], this[OFFSET]);
      } catch (e) {
        throw accessError(this[VIEW], e, () => "read the struct");
      }
    },
  });
  Object.defineProperty(proto, "set", {
    value(this: Live, values: Partial<StructValue<F>>) {
      try {
        type.set(this[VIEW], this[OFFSET], values);
      } catch (e) {
        throw accessError(this[VIEW], e, () => "write the struct");
      }
    },
  });

  function snapshot(v: DataView, o: number): Record<string, unknown> {
    return Object.fromEntries(layout.map(([name, t, off]) => [name, plain(t.get(v, o + off))]));
  }

  const type: StructType<F> = {
    cName: `struct {${entries.map(([n, t]) => ` ${t.cName} ${n};`).join("")} }`,
    size,
    align,
    fields: Object.freeze(Object.fromEntries(entries) as F),
    offsets: Object.freeze(offsets),
    at(view: DataView, offset = 0): StructAccessor<F> {
      if (!(view instanceof DataView)) throw new TypeError("at() takes a DataView");
      const gone = detachedError(view, "make a struct accessor");
      if (gone !== undefined) throw gone;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > view.byteLength) {
        throw new RangeError(
          `A ${size}-byte struct at offset ${
            String(offset)
          } does not fit in ${view.byteLength} bytes`,
        );
      }
      return makeLive(view, offset);
    },
    get(v: DataView, o: number): StructAccessor<F> {
      return makeLive(v, o);
    },
    set(v: DataView, o: number, value: Partial<StructValue<F>>): void {
      if (value === null || typeof value !== "object") {
        throw new TypeError(`${type.cName} takes an object`);
      }
      // Own enumerable keys only: `"constructor" in {}` is true, and would
      // store Object as the value of a field named "constructor".
      for (const [name, t, off] of layout) {
        if (isEnumerable.call(value, name)) {
          t.set(v, o + off, (value as Record<string, unknown>)[name]);
        }
      }
    },
  };
  function makeLive(view: DataView, offset: number): StructAccessor<F> {
    const live = Object.create(proto) as Live;
    live[VIEW] = view;
    live[OFFSET] = offset;
    return live as unknown as StructAccessor<F>;
  }
  return Object.freeze(type);
}

const VIEW = Symbol("view");
const OFFSET = Symbol("offset");
const isEnumerable = Object.prototype.propertyIsEnumerable;

interface Live {
  [VIEW]: DataView;
  [OFFSET]: number;
}

function plain(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>);
  if (value !== null && typeof value === "object") {
    if ("toJSON" in value && typeof value.toJSON === "function") return value.toJSON();
    if (Symbol.iterator in value) return Array.from(value as Iterable<unknown>, plain);
  }
  return value;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function checkType(type: unknown, what: string): void {
  const t = type as Partial<Type> | null;
  if (
    t === null || typeof t !== "object" || typeof t.get !== "function" ||
    typeof t.set !== "function" || !Number.isSafeInteger(t.size) || !Number.isSafeInteger(t.align)
  ) {
    throw new TypeError(`${what} is not a layout type (i32, char(16), struct({...}), ...)`);
  }
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`${what} must be a positive integer, got ${String(n)}`);
  }
}

function index(i: number, length: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= length) {
    throw new RangeError(`Index ${String(i)} is outside 0..${length - 1}`);
  }
  return i;
}
