/**
 * The shared layout of a channel: a header of cache-line separated counters,
 * a senders table, two semaphores, then `capacity` fixed slots.
 *
 * Slot protocol (Vyukov's bounded queue): slot i starts with `seq = i`. A
 * sender may fill position p when `seq == p`; it publishes with `seq = p + 1`.
 * A receiver may take p when `seq == p + 1`; it frees the slot for the next lap
 * with `seq = p + capacity`. Positions are 32-bit and wrap; the capacity is a
 * power of two, so `p & (capacity - 1)` stays consistent across the wrap.
 *
 * In `"spsc"` mode the sender publishes the same way (`seq = p + 1`), but
 * learns of free slots from HEAD, so receivers never write `seq`: a message
 * and the word that says it is ready share a cache line, and a waiting receiver
 * polls the line it is about to read.
 *
 * @module
 */

import { SEM_SIZE } from "../posix/semaphore.ts";

export const MAGIC = 0x4368616e; // "Chan"
export const VERSION = 2; // 2: spsc receivers read readiness from the slot's seq

// Int32 indices into the header.
export const H = {
  MAGIC: 0,
  VERSION: 1,
  MODE: 2, // 0 = spsc, 1 = mpmc
  CAPACITY: 3,
  SLOT_BYTES: 4,
  MAX_MESSAGE: 5,
  TAIL: 64 / 4, // next position to send (own cache line)
  HEAD: 128 / 4, // next position to receive (own cache line)
  RECEIVERS_WAITING: 192 / 4,
  SENDERS_WAITING: 256 / 4,
  DROPPED: 288 / 4, // messages dropped because a peer died mid-message
  REGISTERED: 292 / 4, // senders that ever registered
  ACTIVE: 296 / 4, // registered senders that have not called end() (dead ones included)
} as const;

export const SENDERS_OFFSET = 320; // table of { pid, token, state, pad } × MAX_SENDERS
export const MAX_SENDERS = 64;
export const SENDER_ENTRY = 16;
export const DATA_SEM_OFFSET = SENDERS_OFFSET + MAX_SENDERS * SENDER_ENTRY; // 1344
export const SPACE_SEM_OFFSET = DATA_SEM_OFFSET + SEM_SIZE;
export const SLOTS_OFFSET = 1408; // 64-byte aligned

// Slot header, as Int32 indices relative to the slot.
export const SLOT_SEQ = 0;
export const SLOT_LEN = 1;
export const SLOT_OWNER = 2; // sender pid while writing; -receiver pid while reading; 0 otherwise
export const SLOT_DEAD = 3; // for a tombstone: the pid of the sender that died
export const SLOT_HEADER = 16;

/** A length meaning "the sender died before finishing this message". */
export const TOMBSTONE = -1;

/** Sender states in the senders table. */
export const SENDER_ACTIVE = 1;
export const SENDER_ENDED = 2;

/**
 * Bytes per slot for `maxMessageSize`: whole cache lines, so a sender filling
 * one slot never writes the line a receiver is reading from the one before.
 */
export function slotBytes(maxMessageSize: number): number {
  return Math.ceil((SLOT_HEADER + maxMessageSize) / 64) * 64;
}

/** Total bytes for a channel. */
export function channelBytes(capacity: number, maxMessageSize: number): number {
  return SLOTS_OFFSET + capacity * slotBytes(maxMessageSize);
}
