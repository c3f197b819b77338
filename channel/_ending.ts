/**
 * Who is sending and receiving, and when the stream ends: the senders table
 * (a handle becomes a sender on its first send or `end()`), the spsc
 * receiver's place, the end-of-stream test receivers make when the ring is
 * empty, and the dead-peer checks a wait makes after a sleep slice that ended
 * empty-handed (a sender or receiver that died holding a slot, positions no
 * process could have written).
 *
 * @module
 */

import { isAlive } from "../memory/_liveness.ts";
import {
  H,
  MAX_SENDERS,
  SENDER_ACTIVE,
  SENDER_ENDED,
  SENDER_ENTRY,
  SENDERS_OFFSET,
  SLOT_DEAD,
  SLOT_LEN,
  SLOT_OWNER,
  SLOT_SEQ,
  TOMBSTONE,
} from "./_layout.ts";
import { type ChannelCore, pid } from "./_core.ts";
import { firstFreePosition } from "./_spsc.ts";
import { napSync, OPEN_WAIT_MS } from "./_open.ts";

// ---- senders ----

/** Makes this handle a sender: an entry in the senders table (spsc: refused if another lives). */
export function registerSender(c: ChannelCore): void {
  c.ensureOpen();
  const i = c.i32;
  const base = SENDERS_OFFSET >> 2;
  for (let attempt = 0; attempt < 2; attempt++) {
    for (let s = 0; s < MAX_SENDERS; s++) {
      const e = base + s * (SENDER_ENTRY >> 2);
      if (!c.mpmc) {
        const state = Atomics.load(i, e + 2);
        const other = c.pidAt(e, `sender ${s}'s pid`);
        if (
          state === SENDER_ACTIVE && other !== 0 && isAlive(other) &&
          Atomics.load(i, e + 1) !== c.token
        ) {
          throw new Deno.errors.Busy(
            `Cannot send on channel "${c.name}": it is "spsc" and already has a sender ` +
              `(pid ${other}${other === pid ? ", this process" : ""}); ` +
              `create it with topology "mpmc" for several senders`,
          );
        }
      }
    }
    for (let s = 0; s < MAX_SENDERS; s++) {
      const e = base + s * (SENDER_ENTRY >> 2);
      if (Atomics.compareExchange(i, e, 0, pid) === 0) {
        Atomics.store(i, e + 1, c.token);
        Atomics.store(i, e + 2, SENDER_ACTIVE);
        Atomics.add(i, H.REGISTERED, 1);
        Atomics.add(i, H.ACTIVE, 1);
        c.senderEntry = e;
        c.tail = c.mpmc ? 0 : firstFreePosition(c); // mpmc senders take TAIL afresh each send
        c.headCache = Atomics.load(i, H.HEAD);
        return;
      }
    }
    // Full: free the entries of dead senders that ended (their end is recorded by being gone).
    for (let s = 0; s < MAX_SENDERS; s++) {
      const e = base + s * (SENDER_ENTRY >> 2);
      const p = c.pidAt(e, `sender ${s}'s pid`);
      if (p !== 0 && Atomics.load(i, e + 2) === SENDER_ENDED && !isAlive(p)) {
        Atomics.store(i, e, 0);
      }
    }
  }
  throw new Deno.errors.Busy(
    `Cannot send on channel "${c.name}": its table of ${MAX_SENDERS} senders is full ` +
      `(each sender handle that has sent holds a place until it is closed)`,
  );
}

/** Marks this handle's sender entry ended; true if that ended an active sender. */
export function finishSender(c: ChannelCore): boolean {
  if (c.senderEntry === -1) return false;
  const i = c.i32;
  if (Atomics.exchange(i, c.senderEntry + 2, SENDER_ENDED) !== SENDER_ACTIVE) return false;
  Atomics.sub(i, H.ACTIVE, 1);
  return true;
}

/**
 * Frees a closing handle's entry for later senders: a process that opens a
 * sender handle per job would otherwise fill the table. Once claimed, an
 * entry is written only by its handle (other processes free only the
 * entries of dead ones), so the token goes first and the pid last: the
 * store that frees it. Its state stays ENDED, as a dead sender's freed
 * entry's does, until the next claimer marks it active.
 */
export function releaseSender(c: ChannelCore): void {
  const e = c.senderEntry;
  if (e === -1) return;
  c.senderEntry = -1;
  const i = c.i32;
  // Not ours any more (another process overwrote it): leave it as it is.
  if (Atomics.load(i, e) !== pid || Atomics.load(i, e + 1) !== c.token) return;
  if (Atomics.load(i, e + 2) !== SENDER_ENDED) return;
  Atomics.store(i, e + 1, 0);
  Atomics.store(i, e, 0);
}

// ---- the spsc receiver ----

/** spsc: becomes the one receiver; it continues from the shared head. */
export function claimReceiver(c: ChannelCore): void {
  c.spscTail(); // checks HEAD against it before trusting it
  takeReceiverPlace(c);
  c.receiving = true;
  c.head = c.freed = Atomics.load(c.i32, H.HEAD);
}

/**
 * spsc: becomes the channel's one receiver, or throws Busy naming the live
 * one. A dead holder's place is taken over; the compare-exchange on its pid
 * decides between two that try at once.
 */
function takeReceiverPlace(c: ChannelCore): void {
  const i = c.i32;
  const giveUp = performance.now() + OPEN_WAIT_MS;
  for (;;) {
    const holder = Atomics.compareExchange(i, H.RECEIVER_TOKEN, 0, c.token);
    if (holder === 0) {
      Atomics.store(i, H.RECEIVER_PID, pid);
      return;
    }
    const other = c.pidAt(H.RECEIVER_PID, "receiver pid");
    if (other !== 0 && isAlive(other)) {
      throw new Deno.errors.Busy(
        `Cannot receive from channel "${c.name}": it is "spsc" and already has a receiver ` +
          `(pid ${other}${other === pid ? ", this process" : ""}); ` +
          `create it with topology "mpmc" for several receivers`,
      );
    }
    // pid 0: a claimer between its two stores, or a releaser between its two; wait for it.
    if (other === 0 && performance.now() < giveUp) {
      napSync();
      continue;
    }
    if (Atomics.compareExchange(i, H.RECEIVER_PID, other, pid) === other) {
      Atomics.store(i, H.RECEIVER_TOKEN, c.token);
      return;
    }
  }
}

/** spsc: frees the receiver's place, pid first (a claimer seeing pid 0 waits for the token). */
export function releaseReceiver(c: ChannelCore): void {
  if (c.mpmc || !c.receiving) return;
  const i = c.i32;
  if (Atomics.load(i, H.RECEIVER_TOKEN) !== c.token) return;
  Atomics.store(i, H.RECEIVER_PID, 0);
  Atomics.compareExchange(i, H.RECEIVER_TOKEN, c.token, 0);
}

// ---- end of stream ----

/**
 * Throws at the end of the stream. Cheap unless `checkLiveness`: senders
 * that died without end() are only looked for by a receiver whose sleep
 * slice ended empty (liveness costs system calls and a /proc read).
 */
export function throwIfEnded(c: ChannelCore, checkLiveness = false): void {
  if (c.streamEnded && !peek(c)) {
    throw new Deno.errors.UnexpectedEof(
      "The channel has ended: every sender called end() or exited",
    );
  }
  const i = c.i32;
  // Cheap answers first: this runs on every empty poll of a spinning receiver.
  if (Atomics.load(i, H.REGISTERED) === 0) return; // no sender yet
  if (Atomics.load(i, H.ACTIVE) > 0 && !checkLiveness) return;
  const base = SENDERS_OFFSET >> 2;
  let died = 0;
  for (let s = 0; s < MAX_SENDERS; s++) {
    const e = base + s * (SENDER_ENTRY >> 2);
    const p = c.pidAt(e, `sender ${s}'s pid`);
    if (p === 0) continue;
    const state = Atomics.load(i, e + 2);
    if (state === SENDER_ENDED) continue;
    // 0 is a sender between claiming its entry and marking it active.
    if (state !== SENDER_ACTIVE && state !== 0) throw c.corrupt(`sender ${s}'s state`, state);
    if (p === pid || isAlive(p)) return; // a live sender may still send
    died = p;
  }
  // Every sender that registered has ended, died or closed (a closed handle
  // frees its entry, so the table may even be empty). Re-check emptiness: a
  // message may have landed after our look.
  if (peek(c)) return;
  c.streamEnded = true;
  if (died !== 0 && !c.endedReported) {
    c.endedReported = true;
    throw new Deno.errors.BrokenPipe(
      `The channel ended because its sender (pid ${died}) died without end()`,
    );
  }
  throw new Deno.errors.UnexpectedEof(
    "The channel has ended: every sender called end() or exited",
  );
}

/** Is a message published at the position this handle would receive next? */
export function peek(c: ChannelCore): boolean {
  const pos = !c.mpmc && c.receiving ? c.head : Atomics.load(c.i32, H.HEAD);
  return c.isReady(c.header(pos), pos);
}

// ---- after a sleep slice that ended empty-handed ----

/**
 * mpmc: are HEAD and TAIL possible? A HEAD pushed past TAIL (or TAIL more
 * than a lap ahead) reads as an empty (or full) ring forever; this turns that
 * into InvalidData within a slice.
 */
export function checkPositions(c: ChannelCore): void {
  if (!c.mpmc) return;
  const i = c.i32;
  // TAIL on both sides of HEAD: each bound holds at the instant of its own reads.
  const t1 = Atomics.load(i, H.TAIL);
  const head = Atomics.load(i, H.HEAD);
  const t2 = Atomics.load(i, H.TAIL);
  if (((t1 - head) | 0) > c.capacity || ((t2 - head) | 0) < 0) {
    throw c.corrupt("head", head, `tail ${t2}`);
  }
}

/** A receiver's sleep ended empty-handed: is the next slot held by a dead sender mid-write? */
export function dropSlotOfDeadSender(c: ChannelCore): void {
  if (!c.mpmc) return; // spsc publishes atomically: a dead sender leaves nothing half-written
  const i = c.i32;
  const pos = Atomics.load(i, H.HEAD);
  if (Atomics.load(i, H.TAIL) === pos) return; // truly empty
  const slot = c.header(pos);
  if (Atomics.load(i, slot + SLOT_SEQ) !== pos) return;
  const owner = c.pidAt(slot + SLOT_OWNER, `slot ${pos & c.mask}'s owner`, true);
  if (owner <= 0 || isAlive(owner)) return;
  // Publish a tombstone in its place, exactly once (the seq CAS decides).
  i[slot + SLOT_LEN] = TOMBSTONE;
  i[slot + SLOT_DEAD] = owner;
  if (Atomics.compareExchange(i, slot + SLOT_SEQ, pos, (pos + 1) | 0) === pos) {
    Atomics.add(i, H.DROPPED, 1);
  }
}

/** A sender's sleep ended with the ring still full: did a receiver die holding the slot? */
export function freeSlotOfDeadReceiver(c: ChannelCore): void {
  if (!c.mpmc) return;
  const i = c.i32;
  const pos = Atomics.load(i, H.TAIL);
  const slot = c.header(pos);
  const seq = Atomics.load(i, slot + SLOT_SEQ);
  const owner = c.pidAt(slot + SLOT_OWNER, `slot ${pos & c.mask}'s owner`, true);
  // Only a slot a receiver took and never freed: it still holds pos − capacity + 1.
  if (owner >= 0 || seq !== ((pos + 1 - c.capacity) | 0) || isAlive(-owner)) return;
  // The dead receiver had taken position pos - capacity: free the slot for pos. The owner
  // word goes first, so that it can never be cleared after a new sender wrote its pid there.
  if (Atomics.compareExchange(i, slot + SLOT_OWNER, owner, 0) !== owner) return;
  if (Atomics.compareExchange(i, slot + SLOT_SEQ, seq, pos) === seq) {
    Atomics.add(i, H.DROPPED, 1);
  }
}
