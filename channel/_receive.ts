/**
 * The receive family, over either ring: taking a slot as a view
 * ({@linkcode take}), the copying and zero-copy receives that each
 * `Channel.tryReceive*` method runs, freeing a view's slot, and the
 * `for await` iterator. Each try returns `undefined` (or `0`, or `[]`) when
 * the ring is empty and throws at the end of the stream; the waiting methods
 * retry it through `_wait.ts`.
 *
 * @module
 */

import { SLOT_DEAD, SLOT_LEN, TOMBSTONE } from "./_layout.ts";
import type { ChannelCore } from "./_core.ts";
import { byteLengthOf, copyOut, typedArraySet } from "./_copy.ts";
import { freeMpmc, takeMpmc } from "./_mpmc.ts";
import {
  freeSpsc,
  receiveEachSpsc,
  receiveIntoSpsc,
  receiveManySpsc,
  receiveSpsc,
  rejectSpsc,
  takeSpsc,
} from "./_spsc.ts";
import { claimReceiver, throwIfEnded } from "./_ending.ts";
import { waitAsync } from "./_wait.ts";
import { NO_WAIT_OPTIONS } from "./_options.ts";

/** A received message still in its slot (see `MessageView`). */
export class SlotView implements Disposable {
  readonly bytes: Uint8Array;
  #core: ChannelCore | undefined;
  #slot: number;
  #pos: number;

  constructor(bytes: Uint8Array, core: ChannelCore, slot: number, pos: number) {
    this.bytes = bytes;
    this.#core = core;
    this.#slot = slot;
    this.#pos = pos;
  }

  release(): void {
    const c = this.#core;
    if (c === undefined) return;
    this.#core = undefined;
    if (c.heldViews.size !== 0) c.heldViews.delete(this);
    free(c, this.#slot, this.#pos);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Takes the next message's slot as a view, or undefined when the ring is
 * empty. A message longer than `fits` is refused with a RangeError before it
 * is taken, so it stays in the ring. An error a batch receive met after
 * taking messages is thrown here first.
 */
export function take(c: ChannelCore, fits = Infinity): SlotView | undefined {
  c.ensureOpen();
  if (c.deferred !== undefined) {
    const e = c.deferred;
    c.deferred = undefined;
    throw e;
  }
  if (!c.mpmc) {
    if (!c.receiving) claimReceiver(c);
    const pos = c.head;
    return takeSpsc(c, pos, fits) ? view(c, c.header(pos), pos) : undefined;
  }
  const pos = takeMpmc(c, fits);
  return pos === undefined ? undefined : view(c, c.header(pos), pos);
}

/** The taken slot's message as a view, or its slot freed and the reason thrown. */
function view(c: ChannelCore, slot: number, pos: number): SlotView {
  const i = c.i32;
  if (c.mpmc && i[slot + SLOT_LEN] === TOMBSTONE) {
    const dead = i[slot + SLOT_DEAD] ?? 0;
    freeMpmc(c, slot, pos);
    throw new Deno.errors.BrokenPipe(
      `A sender (pid ${Math.abs(dead)}) died while writing a message; it was dropped`,
    );
  }
  const len = c.lengthAt(slot, pos);
  if (len < 0) {
    if (!c.mpmc) throw rejectSpsc(c, slot, pos);
    const e = c.badSlot(slot, pos);
    freeMpmc(c, slot, pos);
    throw e;
  }
  const start = c.payload(pos);
  return new SlotView(c.u8.subarray(start, start + len), c, slot, pos);
}

/** Gives a taken slot back to senders. */
function free(c: ChannelCore, slot: number, pos: number): void {
  if (c.mpmc) freeMpmc(c, slot, pos);
  else freeSpsc(c, pos);
}

/** spsc with no view out and nothing deferred: the fast paths may copy straight from slots. */
function spscFast(c: ChannelCore): boolean {
  return !c.mpmc && c.receiving && c.head === c.freed && c.deferred === undefined && !c.closed;
}

/** `Channel.tryReceive()`: the next message (a copy), or undefined when the ring is empty. */
export function tryReceive(c: ChannelCore): Uint8Array | undefined {
  if (spscFast(c)) {
    const got = receiveSpsc(c);
    if (got === undefined) throwIfEnded(c);
    return got;
  }
  const v = take(c);
  if (v === undefined) {
    throwIfEnded(c);
    return undefined;
  }
  const copy = copyOut(v.bytes);
  v.release();
  return copy;
}

/** `Channel.tryReceiveMany()`: up to `max` copies, `[]` when the ring is empty. */
export function tryReceiveMany(c: ChannelCore, max: number): Uint8Array[] {
  c.ensureOpen();
  // mpmc claims slots one by one; with spsc views still out, slots must free in order.
  if (c.mpmc) return receiveOneByOne(c, max);
  if (!c.receiving) claimReceiver(c);
  if (c.head !== c.freed || c.deferred !== undefined) return receiveOneByOne(c, max);
  const out = receiveManySpsc(c, max);
  if (out.length === 0) throwIfEnded(c);
  return out;
}

/**
 * Up to `max` copies, one slot at a time. Messages already taken are never
 * thrown away with an error: an error met after some (a dead sender's
 * dropped message, a corrupted slot, which take() has already freed) is kept
 * and thrown by the next receive, so it is reported, never lost.
 */
function receiveOneByOne(c: ChannelCore, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  while (out.length < max) {
    let v: SlotView | undefined;
    try {
      v = take(c);
    } catch (e) {
      if (out.length === 0) throw e;
      c.deferred = e;
      break;
    }
    if (v === undefined) break;
    out.push(copyOut(v.bytes));
    v.release();
  }
  if (out.length === 0) throwIfEnded(c);
  return out;
}

/** `Channel.tryReceiveInto()`: the length copied into `buffer`, or undefined when empty. */
export function tryReceiveInto(c: ChannelCore, buffer: Uint8Array): number | undefined {
  // The buffer's own length, not a subclass's `length` getter: the copy writes that many bytes.
  const room = byteLengthOf(buffer, "tryReceiveInto()");
  c.ensureOpen();
  if (c.mpmc || c.head !== c.freed || c.deferred !== undefined) {
    const v = take(c, room);
    if (v === undefined) {
      throwIfEnded(c);
      return undefined;
    }
    try {
      typedArraySet.call(buffer, v.bytes);
    } finally {
      v.release();
    }
    return v.bytes.length;
  }
  if (!c.receiving) claimReceiver(c);
  const len = receiveIntoSpsc(c, buffer, room);
  if (len === undefined) throwIfEnded(c);
  return len;
}

/** `Channel.tryReceiveEach()`: how many messages `callback` saw; 0 when empty. */
export function tryReceiveEach(
  c: ChannelCore,
  callback: (bytes: Uint8Array) => void,
  max: number,
): number {
  c.ensureOpen();
  if (c.mpmc || (c.receiving && c.head !== c.freed) || c.deferred !== undefined) {
    // One view at a time: mpmc slots are claimed one by one, and with views
    // still out, spsc slots must be freed in order.
    let n = 0;
    for (let v; n < max && (v = take(c)) !== undefined;) {
      n++;
      try {
        callback(v.bytes);
      } finally {
        v.release();
      }
    }
    if (n === 0) throwIfEnded(c);
    return n;
  }
  if (!c.receiving) claimReceiver(c);
  const n = receiveEachSpsc(c, callback, max);
  if (n === 0) throwIfEnded(c);
  return n;
}

/** `Channel.tryReceiveView()`: the next message left in its slot, or undefined when empty. */
export function tryReceiveView(c: ChannelCore): SlotView | undefined {
  const v = take(c);
  if (v === undefined) throwIfEnded(c);
  else if (c.mpmc) c.heldViews.add(v);
  return v;
}

function toResult(value: Uint8Array): IteratorYieldResult<Uint8Array> {
  return { done: false, value };
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * `for await (const m of channel)`: receives until the stream ends. A
 * hand-written iterator, not an async generator: `next()` tries to receive
 * at once and returns an already-settled promise when a message is there,
 * and waits (through `_wait.ts`) only when the ring is empty. It takes one
 * message per `next()`, never a batch held in the iterator: a loop that
 * breaks early must leave every message it did not see in the ring, for the
 * next receiver. After the end of the stream, an error, or `return()`, it is
 * done.
 */
export class ChannelIterator implements AsyncIterableIterator<Uint8Array> {
  #core: ChannelCore;
  #done = false;
  #attempt: () => Uint8Array | undefined;
  #onError: (e: unknown) => IteratorReturnResult<undefined>;

  constructor(core: ChannelCore) {
    this.#core = core;
    this.#attempt = () => tryReceive(core);
    this.#onError = (e) => this.#ended(e);
  }

  next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.#done) return Promise.resolve(DONE);
    const c = this.#core;
    let got: Uint8Array | undefined;
    try {
      got = tryReceive(c);
    } catch (e) {
      this.#done = true;
      return e instanceof Deno.errors.UnexpectedEof ? Promise.resolve(DONE) : Promise.reject(e);
    }
    if (got !== undefined) return Promise.resolve({ done: false, value: got });
    return waitAsync(c, this.#attempt, c.receivers, NO_WAIT_OPTIONS).then(toResult, this.#onError);
  }

  return(): Promise<IteratorResult<Uint8Array, undefined>> {
    this.#done = true;
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The end of the stream finishes the loop; any other error rejects it (and finishes it too). */
  #ended(e: unknown): IteratorReturnResult<undefined> {
    this.#done = true;
    if (e instanceof Deno.errors.UnexpectedEof) return DONE;
    throw e;
  }
}
