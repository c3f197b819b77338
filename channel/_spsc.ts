/**
 * The single-producer single-consumer ring (topology `"spsc"`), lock-free:
 * the sender publishes each slot with `seq = pos + 1` and learns of free
 * slots from HEAD, which only the receiver writes; receivers never write
 * `seq`, so a waiting receiver polls the header of the slot it reads next,
 * not a TAIL that every send would take from it (see `_layout.ts`).
 *
 * Sending: {@linkcode sendSpsc}, {@linkcode sendManySpsc}. Taking:
 * {@linkcode takeSpsc} (a view's claim), {@linkcode receiveSpsc},
 * {@linkcode receiveManySpsc}, {@linkcode receiveIntoSpsc} and
 * {@linkcode receiveEachSpsc} (the copy and zero-copy fast paths, used while
 * no view is out). Freeing: {@linkcode consumedSpsc} (in order) and
 * {@linkcode freeSpsc} (a view's release, in any order).
 *
 * @module
 */

import { H, SLOT_LEN, SLOT_POS, SLOT_SEQ } from "./_layout.ts";
import type { ChannelCore } from "./_core.ts";
import { bufferOf, byteOffsetOf, copyOut, copyWordsOut, tooSmall, typedArraySet } from "./_copy.ts";

// ---- sending ----

/** Publishes one message of `n` bytes if there is room; false when full. */
export function sendSpsc(c: ChannelCore, bytes: Uint8Array, n: number): boolean {
  const i = c.i32;
  const pos = c.tail;
  if (((pos - c.headCache) | 0) >= c.capacity) {
    c.headCache = loadHead(c, pos);
    if (((pos - c.headCache) | 0) >= c.capacity) return false; // full
  }
  const slot = c.header(pos);
  i[slot + SLOT_LEN] = n;
  c.u8.set(bytes, c.payload(pos));
  i[slot + SLOT_POS] = pos;
  const next = (pos + 1) | 0;
  c.tail = next;
  Atomics.store(i, slot + SLOT_SEQ, next); // publishes the slot (a full barrier)
  i[H.TAIL] = next; // only a later sender handle reads it (see firstFreePosition)
  if (Atomics.load(i, H.RECEIVERS_WAITING) !== 0) c.wake(c.data);
  return true;
}

/**
 * Sends as many of `list` (checked lengths in `lengths`) as fit: checks for
 * room once, writes every payload, then publishes the headers together, so a
 * receiver polling the next header is not fought message by message.
 */
export function sendManySpsc(
  c: ChannelCore,
  list: readonly Uint8Array[],
  lengths: readonly number[],
  count: number,
): number {
  const i = c.i32;
  const u8 = c.u8;
  let pos = c.tail;
  let room = c.capacity - ((pos - c.headCache) | 0);
  if (room < count) {
    c.headCache = loadHead(c, pos);
    room = c.capacity - ((pos - c.headCache) | 0);
  }
  const n = Math.min(room, count);
  if (n <= 0) return 0;
  for (let k = 0, p = pos; k < n; k++, p = (p + 1) | 0) {
    const slot = c.header(p);
    i[slot + SLOT_LEN] = lengths[k]!;
    u8.set(list[k]!, c.payload(p));
    i[slot + SLOT_POS] = p;
  }
  for (let k = 0; k < n; k++) {
    const slot = c.header(pos);
    pos = (pos + 1) | 0;
    Atomics.store(i, slot + SLOT_SEQ, pos); // publishes this one (a full barrier)
  }
  c.tail = pos;
  i[H.TAIL] = pos;
  if (Atomics.load(i, H.RECEIVERS_WAITING) !== 0) c.wake(c.data);
  return n;
}

/** spsc sender: HEAD, which must lie within one lap behind `tail`. */
function loadHead(c: ChannelCore, tail: number): number {
  const head = Atomics.load(c.i32, H.HEAD);
  const d = (tail - head) | 0;
  if (d < 0 || d > c.capacity) throw c.corrupt("head", head, `tail ${tail}`);
  return head;
}

/**
 * Where a new spsc sender continues. The previous sender stored TAIL just
 * after publishing; if it died in between, TAIL is one behind a published
 * slot, which must be skipped, not overwritten.
 */
export function firstFreePosition(c: ChannelCore): number {
  let pos = c.spscTail();
  for (let k = 0; k < c.capacity && c.isReady(c.header(pos), pos); k++) pos = (pos + 1) | 0;
  return pos;
}

// ---- taking ----

/**
 * spsc receiver: is position `pos` published? Receivers never write seq in
 * spsc, so an unpublished slot holds the previous lap's `pos − capacity + 1`
 * (or, on the first lap, its own index): anything else is not the
 * library's, and `strict` says so instead of waiting on it forever.
 */
export function readySpsc(c: ChannelCore, slot: number, pos: number, strict: boolean): boolean {
  const seq = Atomics.load(c.i32, slot + SLOT_SEQ);
  if (seq === ((pos + 1) | 0)) return true;
  if (strict && seq !== pos && seq !== ((pos + 1 - c.capacity) | 0)) {
    throw c.corrupt(`slot ${pos & c.mask}'s seq`, seq, `position ${pos}`);
  }
  return false;
}

/**
 * Claims position `pos` (= `c.head`) for a view if it is published; a message
 * longer than `fits` is refused with a RangeError first, so it stays in the ring.
 */
export function takeSpsc(c: ChannelCore, pos: number, fits: number): boolean {
  const slot = c.header(pos);
  if (!readySpsc(c, slot, pos, true)) return false; // empty
  const len = c.i32[slot + SLOT_LEN]!;
  if (len > fits && len <= c.max) throw tooSmall(len, fits);
  c.head = (pos + 1) | 0;
  return true;
}

/**
 * A slot whose message fails {@linkcode ChannelCore.lengthAt}: frees it (the
 * ring goes on) and returns why.
 */
export function rejectSpsc(c: ChannelCore, slot: number, pos: number): Deno.errors.InvalidData {
  const e = c.badSlot(slot, pos);
  if (c.head === pos) c.head = (pos + 1) | 0;
  freeSpsc(c, pos);
  return e;
}

/**
 * The next message, copied straight out of its slot (no view in between), or
 * undefined when there is none yet. Only while no view is out (`head === freed`).
 */
export function receiveSpsc(c: ChannelCore): Uint8Array | undefined {
  const pos = c.head;
  const slot = c.header(pos);
  if (!readySpsc(c, slot, pos, true)) return undefined;
  const len = c.lengthAt(slot, pos);
  if (len < 0) throw rejectSpsc(c, slot, pos);
  const copy = copyWordsOut(c.i32, c.payload(pos) >> 2, len, c.u8);
  consumedSpsc(c, pos);
  return copy;
}

/**
 * Up to `max` copies of the waiting messages, their slots freed with one
 * store; `[]` when there are none. A bad slot after good ones is left for the
 * next call to report.
 */
export function receiveManySpsc(c: ChannelCore, max: number): Uint8Array[] {
  const i = c.i32;
  let pos = c.head;
  const out: Uint8Array[] = [];
  while (out.length < max) {
    const slot = c.header(pos);
    const first = out.length === 0;
    if (!readySpsc(c, slot, pos, first)) break;
    const len = c.lengthAt(slot, pos);
    if (len < 0) {
      if (first) throw rejectSpsc(c, slot, pos);
      break; // the next call reports it; these are good
    }
    const start = c.payload(pos);
    out.push(copyOut(c.u8.subarray(start, start + len)));
    pos = (pos + 1) | 0;
  }
  if (out.length === 0) return out;
  c.head = c.freed = pos;
  Atomics.store(i, H.HEAD, pos);
  if (Atomics.load(i, H.SENDERS_WAITING) !== 0) c.wake(c.space);
  return out;
}

/** Copies the next message into `buffer` (`room` bytes); its length, or undefined when empty. */
export function receiveIntoSpsc(
  c: ChannelCore,
  buffer: Uint8Array,
  room: number,
): number | undefined {
  const pos = c.head;
  const slot = c.header(pos);
  if (!readySpsc(c, slot, pos, true)) return undefined;
  const i = c.i32;
  const len = c.lengthAt(slot, pos);
  if (len < 0) throw rejectSpsc(c, slot, pos);
  if (len > room) throw tooSmall(len, room);
  const from = c.payload(pos) >> 2;
  const offset = byteOffsetOf(buffer);
  if ((offset & 3) === 0 && len <= 1024) {
    // Word copy through a cached Int32Array over the caller's buffer: no allocation.
    let words = c.intoWords;
    const backing = bufferOf(buffer);
    if (
      words === undefined || words.buffer !== backing || words.byteOffset !== offset ||
      words.length !== room >> 2
    ) {
      words = c.intoWords = new Int32Array(backing, offset, room >> 2);
    }
    const n = len >> 2;
    for (let k = 0; k < n; k++) words[k] = i[from + k]!;
    const u8 = c.u8;
    for (let k = n << 2; k < len; k++) buffer[k] = u8[(from << 2) + k]!;
  } else {
    typedArraySet.call(buffer, c.u8.subarray(from << 2, (from << 2) + len));
  }
  consumedSpsc(c, pos);
  return len;
}

/**
 * Hands up to `max` waiting messages to `callback` as views into their slots
 * (one reused view per slot), then frees them all with one store, even if
 * `callback` throws. Returns how many; 0 when empty.
 */
export function receiveEachSpsc(
  c: ChannelCore,
  callback: (bytes: Uint8Array) => void,
  max: number,
): number {
  const start = c.head;
  let pos = start;
  try {
    while (((pos - start) | 0) < max) {
      const slot = c.header(pos);
      const first = pos === start;
      if (!readySpsc(c, slot, pos, first)) break;
      const len = c.lengthAt(slot, pos);
      if (len < 0) {
        if (first) throw rejectSpsc(c, slot, pos);
        break; // the next call reports it; these are good
      }
      const index = pos & c.mask;
      let view = c.slotViews[index];
      if (view === undefined || view.length !== len) {
        const at = c.payload(pos);
        view = c.slotViews[index] = c.u8.subarray(at, at + len);
      }
      pos = (pos + 1) | 0;
      callback(view);
    }
  } finally {
    if (pos !== start && !c.closed) consumedSpsc(c, (pos - 1) | 0);
  }
  return (pos - start) | 0;
}

// ---- freeing ----

/** Position `pos` (the oldest taken) is consumed: give its slot back. */
export function consumedSpsc(c: ChannelCore, pos: number): void {
  const i = c.i32;
  c.head = c.freed = (pos + 1) | 0;
  Atomics.store(i, H.HEAD, c.head); // after the copy out (a full barrier)
  if (Atomics.load(i, H.SENDERS_WAITING) !== 0) c.wake(c.space);
}

/**
 * A view of position `pos` is released. HEAD moves past it only once every
 * earlier view is released too: senders may not overwrite a slot still read.
 */
export function freeSpsc(c: ChannelCore, pos: number): void {
  const i = c.i32;
  if (i.length === 0) return; // closed meanwhile
  if (pos !== c.freed) {
    (c.freedOutOfOrder ??= new Set()).add(pos);
    return;
  }
  let next = (pos + 1) | 0;
  const later = c.freedOutOfOrder;
  if (later !== undefined) { while (later.delete(next)) next = (next + 1) | 0; }
  c.freed = next;
  Atomics.store(i, H.HEAD, next);
  if (Atomics.load(i, H.SENDERS_WAITING) !== 0) c.wake(c.space);
}
