/**
 * The multi-producer multi-consumer ring (topology `"mpmc"`, the default):
 * Vyukov's bounded queue. A sender claims position `pos` by a
 * compare-exchange on TAIL when its slot's `seq == pos`, writes, and
 * publishes `seq = pos + 1`; a receiver claims it by a compare-exchange on
 * HEAD when `seq == pos + 1`, and frees it for the next lap with
 * `seq = pos + capacity`. The OWNER word names the sender (while writing) or
 * the receiver (negated, while reading), so a peer that dies holding a slot
 * is found (see `_ending.ts`).
 *
 * @module
 */

import { H, PID_MAX, SLOT_LEN, SLOT_OWNER, SLOT_POS, SLOT_SEQ } from "./_layout.ts";
import { type ChannelCore, pid } from "./_core.ts";
import { tooSmall } from "./_copy.ts";

/** Claims, writes and publishes one message of `n` bytes; false when the ring is full. */
export function sendMpmc(c: ChannelCore, bytes: Uint8Array, n: number): boolean {
  const i = c.i32;
  for (;;) {
    const pos = Atomics.load(i, H.TAIL);
    const slot = c.header(pos);
    const seq = Atomics.load(i, slot + SLOT_SEQ);
    const dif = (seq - pos) | 0;
    if (dif < 0) {
      // Full: the slot still holds (or is being emptied of) the previous lap, pos − capacity.
      if (dif < -c.capacity) throw c.corrupt(`slot ${pos & c.mask}'s seq`, seq);
      return false;
    }
    if (dif > 0) {
      // Another sender took pos, so TAIL has moved on; a TAIL that has not moved means the
      // seq word is not the library's, and looping on it would never end.
      if (Atomics.load(i, H.TAIL) === pos) throw c.corrupt(`slot ${pos & c.mask}'s seq`, seq);
      continue;
    }
    if (Atomics.compareExchange(i, H.TAIL, pos, (pos + 1) | 0) !== pos) continue;
    Atomics.store(i, slot + SLOT_OWNER, pid);
    i[slot + SLOT_LEN] = n;
    c.u8.set(bytes, c.payload(pos));
    i[slot + SLOT_POS] = pos;
    Atomics.store(i, slot + SLOT_SEQ, (pos + 1) | 0);
    if (Atomics.load(i, H.RECEIVERS_WAITING) !== 0) c.wake(c.data);
    return true;
  }
}

/**
 * Claims the next published position, or undefined when the ring is empty.
 * A message longer than `fits` is refused with a RangeError before it is
 * claimed, so it stays in the ring. The caller makes the claimed slot a view
 * (or frees it).
 */
export function takeMpmc(c: ChannelCore, fits: number): number | undefined {
  const i = c.i32;
  const mask = c.mask;
  for (;;) {
    const pos = Atomics.load(i, H.HEAD);
    const slot = c.header(pos);
    const seq = Atomics.load(i, slot + SLOT_SEQ);
    const dif = (seq - ((pos + 1) | 0)) | 0;
    if (dif < 0) {
      // Empty: pos is free or being written (seq = pos), or the previous lap's receiver still
      // holds the slot (pos − capacity + 1). Anything lower is not the library's.
      if (dif < -c.capacity) throw c.corrupt(`slot ${pos & mask}'s seq`, seq);
      return undefined;
    }
    if (dif > 0) {
      // Another receiver took pos and freed it, so HEAD has moved on; if it has not, the
      // seq word is not the library's and looping on it would never end.
      if (Atomics.load(i, H.HEAD) === pos) throw c.corrupt(`slot ${pos & mask}'s seq`, seq);
      continue;
    }
    const len = i[slot + SLOT_LEN]!;
    if (len > fits && len <= c.max) {
      // Only if the length read is still pos's: another receiver may have taken pos meanwhile.
      if (Atomics.load(i, slot + SLOT_SEQ) === ((pos + 1) | 0)) throw tooSmall(len, fits);
      continue;
    }
    if (Atomics.compareExchange(i, H.HEAD, pos, (pos + 1) | 0) !== pos) continue;
    // A published slot names its sender (a tombstone, the dead one); a free one names nobody.
    const owner = Atomics.exchange(i, slot + SLOT_OWNER, -pid);
    if (!(owner > 0 && owner <= PID_MAX)) {
      freeMpmc(c, slot, pos);
      throw c.corrupt(`slot ${pos & mask}'s owner`, owner, `seq ${seq}`);
    }
    return pos;
  }
}

/** Gives a taken slot back to senders, for the next lap. */
export function freeMpmc(c: ChannelCore, slot: number, pos: number): void {
  const i = c.i32;
  if (i.length === 0) return; // closed meanwhile
  Atomics.store(i, slot + SLOT_OWNER, 0);
  Atomics.store(i, slot + SLOT_SEQ, (pos + c.capacity) | 0);
  if (Atomics.load(i, H.SENDERS_WAITING) !== 0) c.wake(c.space);
}
