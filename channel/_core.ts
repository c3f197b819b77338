/**
 * The state one channel handle keeps about its mapping, shared by the ring
 * algorithms (`_spsc.ts`, `_mpmc.ts`), the receive family (`_receive.ts`),
 * the end-of-stream logic (`_ending.ts`) and the waiting loop (`_wait.ts`).
 * Module-internal: `Channel` holds one and never hands it out.
 *
 * @module
 */

import type { SharedMemory } from "../posix/shared_memory.ts";
import { type Semaphore, semaphoreAtRaw } from "../posix/semaphore.ts";
import {
  DATA_SEM_OFFSET,
  H,
  MAX_WAITERS,
  payloadsOffset,
  PID_MAX,
  SLOT_LEN,
  SLOT_POS,
  SLOT_SEQ,
  SLOTS_OFFSET,
  SPACE_SEM_OFFSET,
} from "./_layout.ts";
import type { WaitSide } from "./_wait.ts";

export const pid = Deno.pid;

/** A handle's view of its channel: cached header words, positions, and what it holds. */
export class ChannelCore {
  readonly shm: SharedMemory;
  readonly name: string;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly mpmc: boolean;
  readonly mask: number;
  readonly capacity: number;
  readonly data0: number; // byte offset of slot 0's payload
  readonly stride: number; // bytes per payload slot
  readonly max: number;
  readonly data: Semaphore; // receivers sleep on it
  readonly space: Semaphore; // senders sleep on it
  /** Set by `Channel`'s constructor, once the core exists (their `afterSlice` needs it). */
  senders!: WaitSide;
  receivers!: WaitSide;
  closed = false;
  /** An error met by a batch receive after it had taken messages: the next receive throws it. */
  deferred: unknown = undefined;
  spinUs: number | undefined;
  readonly token = crypto.getRandomValues(new Int32Array(1))[0]! | 1;
  senderEntry = -1;
  // spsc positions. A receiver learns that position p is ready from its slot's
  // seq word (p + 1), on the cache line it reads next anyway, rather than from a
  // shared TAIL that every send would steal from it; the sender reads the shared
  // HEAD only when its cached copy says the ring is full.
  tail = 0; // sender: next position to write
  headCache = 0; // sender: last HEAD seen
  head = 0; // receiver: next position to take
  freed = 0; // receiver: everything before this is released (= HEAD)
  freedOutOfOrder: Set<number> | undefined = undefined; // views released before earlier ones
  // mpmc: views out, freed by close() so no slot stays taken
  readonly heldViews: Set<{ release(): void }> = new Set();
  intoWords: Int32Array | undefined = undefined; // tryReceiveInto's view of the caller's last buffer
  readonly slotViews: (Uint8Array | undefined)[] = []; // tryReceiveEach's view per slot, reused
  receiving = false;
  created = false;
  endedReported = false;
  streamEnded = false;

  constructor(shm: SharedMemory, spinMicros: number | undefined) {
    this.shm = shm;
    this.name = shm.name;
    this.spinUs = spinMicros;
    const i = this.i32 = shm.view(Int32Array);
    this.u8 = shm.bytes;
    this.mpmc = i[H.TOPOLOGY] === 1;
    this.capacity = i[H.CAPACITY]!;
    this.mask = this.capacity - 1;
    this.data0 = payloadsOffset(this.capacity);
    this.stride = i[H.SLOT_BYTES]!;
    this.max = i[H.MAX_MESSAGE]!;
    this.data = semaphoreAtRaw(shm, DATA_SEM_OFFSET);
    this.space = semaphoreAtRaw(shm, SPACE_SEM_OFFSET);
  }

  /** Int32 index of the header of position `pos`'s slot. */
  header(pos: number): number {
    return (SLOTS_OFFSET >> 2) + ((pos & this.mask) << 2);
  }

  /** Byte offset of the payload of position `pos`'s slot. */
  payload(pos: number): number {
    return this.data0 + (pos & this.mask) * this.stride;
  }

  /** Has the message for position `pos` been published in its slot (header `slot`)? */
  isReady(slot: number, pos: number): boolean {
    return Atomics.load(this.i32, slot + SLOT_SEQ) === ((pos + 1) | 0);
  }

  /**
   * The length of the message published at `pos`, or -1 when its words are
   * not what a sender writes: a length past maxMessageSize would copy other
   * messages' bytes, and a position not `pos` means the seq word was forged
   * or the payload is half-written. One compare each, on a line already read.
   */
  lengthAt(slot: number, pos: number): number {
    const i = this.i32;
    const len = i[slot + SLOT_LEN]!;
    return len >= 0 && len <= this.max && i[slot + SLOT_POS] === pos ? len : -1;
  }

  /** Why the slot's message failed {@linkcode ChannelCore.lengthAt} (the caller frees it). */
  badSlot(slot: number, pos: number): Deno.errors.InvalidData {
    const i = this.i32;
    const len = i[slot + SLOT_LEN]!;
    return len >= 0 && len <= this.max
      ? this.corrupt(`slot ${pos & this.mask}'s position`, i[slot + SLOT_POS]!, `position ${pos}`)
      : this.corrupt(`slot ${pos & this.mask}'s length`, len, `maxMessageSize ${this.max}`);
  }

  /** Posts `sem` for a sleeper of the other side, unless a post is already pending. */
  wake(sem: Semaphore): void {
    if (sem.value === 0) sem.post();
  }

  /**
   * Posts once for every sleeping receiver. The count is another process's
   * word too: one past MAX_WAITERS would post for minutes, so `end()` refuses
   * it, and `close()` (which must release this handle whatever the mapping
   * holds) posts only for its own waits.
   */
  wakeAll(extra: number, strict = true): void {
    const n = Atomics.load(this.i32, H.RECEIVERS_WAITING);
    let posts = extra;
    if (n >= 0 && n <= MAX_WAITERS) posts += n;
    else if (strict) throw this.corrupt("receivers-waiting count", n);
    for (; posts > 0; posts--) this.data.post();
  }

  /**
   * spsc: TAIL, checked against HEAD. Its last sender stored TAIL just after
   * publishing, so TAIL is at most one behind HEAD, and never a lap ahead.
   */
  spscTail(): number {
    const i = this.i32;
    const tail = Atomics.load(i, H.TAIL);
    const head = Atomics.load(i, H.HEAD);
    const d = (tail - head) | 0;
    if (d < -1 || d > this.capacity) throw this.corrupt("tail", tail, `head ${head}`);
    return tail;
  }

  /** A pid read from the mapping (negative for a receiver's slot claim when `signed`). */
  pidAt(index: number, field: string, signed = false): number {
    const p = Atomics.load(this.i32, index);
    if (p <= PID_MAX && p >= (signed ? -PID_MAX : 0)) return p;
    throw this.corrupt(field, p);
  }

  /** A word no process running this library could have written: the channel is corrupt. */
  corrupt(field: string, value: number, beside = ""): Deno.errors.InvalidData {
    return new Deno.errors.InvalidData(
      `Channel "${this.name}" is corrupt: its ${field} holds ${value}` +
        `${beside === "" ? "" : ` (beside ${beside})`}, which this library never writes`,
    );
  }

  ensureOpen(): void {
    if (this.closed) {
      throw new Deno.errors.BadResource(`Cannot use channel ${this.name}: this handle is closed`);
    }
  }
}
