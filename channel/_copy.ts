/**
 * Copies in and out of the ring: the arena that receive copies land in, and
 * the engine's own typed-array accessors, so that a Uint8Array subclass that
 * overrides `length`, `byteLength`, `byteOffset`, `buffer` or `set` cannot
 * make a copy believe it.
 *
 * @module
 */

// Small messages are copied into a shared private arena (as Node's Buffer pool
// does): allocating one ArrayBuffer per 64-byte message costs more than the
// whole ring transfer. A returned message keeps its arena alive until collected.
const ARENA_BYTES = 64 * 1024;
const ARENA_MAX_MESSAGE = 4096;
let arena = new Uint8Array(ARENA_BYTES);
let arenaWords = new Int32Array(arena.buffer); // for word copies into the arena
let arenaUsed = 0;

/** Starts a fresh arena when `n` more bytes would not fit (the old one lives on in its messages). */
function makeArenaRoom(n: number): void {
  if (arenaUsed + n <= ARENA_BYTES) return;
  arena = new Uint8Array(ARENA_BYTES);
  arenaWords = new Int32Array(arena.buffer);
  arenaUsed = 0;
}

/** A private copy of `bytes` (a view of the ring): in the arena when small, else its own buffer. */
export function copyOut(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n > ARENA_MAX_MESSAGE) return bytes.slice();
  makeArenaRoom(n);
  const out = arena.subarray(arenaUsed, arenaUsed + n);
  out.set(bytes);
  arenaUsed += (n + 7) & ~7;
  return out;
}

/** {@linkcode copyOut} of `len` bytes starting at word `from` of `words`, without a view of the source. */
export function copyWordsOut(
  words: Int32Array,
  from: number,
  len: number,
  bytes: Uint8Array,
): Uint8Array {
  if (len > 256) return copyOut(bytes.subarray(from << 2, (from << 2) + len));
  makeArenaRoom(len);
  const at = arenaUsed;
  const n = len >> 2;
  for (let k = 0, w = at >> 2; k < n; k++) arenaWords[w + k] = words[from + k]!;
  for (let k = n << 2; k < len; k++) arena[at + k] = bytes[(from << 2) + k]!;
  arenaUsed += (len + 7) & ~7;
  return arena.subarray(at, at + len);
}

export function tooSmall(need: number, have: number): RangeError {
  return new RangeError(`The message is ${need} bytes; the buffer holds ${have}`);
}

export function describe(v: unknown): string {
  return v === null ? "null" : typeof v === "object" ? Object.prototype.toString.call(v) : typeof v;
}

const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const intrinsic = (key: PropertyKey) => Object.getOwnPropertyDescriptor(typedArrayProto, key)!.get!;
const tagOf = intrinsic(Symbol.toStringTag) as (this: unknown) => string | undefined;
const byteLengthGetter = intrinsic("byteLength") as (this: Uint8Array) => number;
const byteOffsetGetter = intrinsic("byteOffset") as (this: Uint8Array) => number;
const bufferGetter = intrinsic("buffer") as (this: Uint8Array) => ArrayBufferLike;
const detachedOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached")?.get;
export const typedArraySet = typedArrayProto.set as (
  this: Uint8Array,
  source: ArrayLike<number>,
) => void;

/**
 * The real byte length of `bytes`, which must be a Uint8Array (a subclass is
 * fine) whose buffer is not detached; a TypeError otherwise, before anything
 * has been claimed or taken.
 */
export function byteLengthOf(bytes: unknown, method: string): number {
  if (tagOf.call(bytes) !== "Uint8Array") {
    throw new TypeError(`${method} takes a Uint8Array, got ${describe(bytes)}`);
  }
  const n = byteLengthGetter.call(bytes as Uint8Array);
  if (n === 0 && isDetached(bytes as Uint8Array)) {
    throw new TypeError(`${method} was given a Uint8Array whose buffer is detached`);
  }
  return n;
}

function isDetached(bytes: Uint8Array): boolean {
  const buffer = bufferGetter.call(bytes);
  try {
    return detachedOf?.call(buffer) === true;
  } catch {
    return false; // a SharedArrayBuffer: it cannot be detached
  }
}

export function byteOffsetOf(bytes: Uint8Array): number {
  return byteOffsetGetter.call(bytes);
}

export function bufferOf(bytes: Uint8Array): ArrayBufferLike {
  return bufferGetter.call(bytes);
}
