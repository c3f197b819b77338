/**
 * The shared layout of a channel: a header of cache-line separated counters,
 * a senders table, two semaphores, then `capacity` slot headers of 16 bytes
 * (four to a cache line), then `capacity` payload slots of whole cache lines.
 *
 * Headers and payloads are apart so that a 64-byte message takes one cache
 * line, not two, and a batch of messages is announced by a few header lines
 * written together; a payload slot of whole lines means a sender filling one
 * slot never writes a line a receiver is reading in the one before.
 *
 * Slot protocol (Vyukov's bounded queue): slot i starts with `seq = i`. A
 * sender may fill position p when `seq == p`; it publishes with `seq = p + 1`.
 * A receiver may take p when `seq == p + 1`; it frees the slot for the next lap
 * with `seq = p + capacity`. Positions are 32-bit and wrap; the capacity is a
 * power of two, so `p & (capacity - 1)` stays consistent across the wrap.
 *
 * In `"spsc"` topology the sender publishes the same way (`seq = p + 1`), but
 * learns of free slots from HEAD, so receivers never write `seq`: a waiting
 * receiver polls the header of the slot it reads next, not a TAIL that every
 * send would take from it. TAIL is kept only for a later sender handle. One
 * sender and one receiver hold it at a time: the senders table and the
 * RECEIVER_* words record who, so that a second one is refused.
 *
 * @module
 */

import { SEM_T_SIZE } from "../posix/semaphore.ts";

export const MAGIC = 0x4368616e; // "Chan"
// 5: every message carries its position (SLOT_POS); 4: the spsc receiver's claim in the
// header; 3: slot headers apart from payloads
export const VERSION = 5;

// Int32 indices into the header.
export const H = {
  MAGIC: 0,
  VERSION: 1,
  TOPOLOGY: 2, // 0 = spsc, 1 = mpmc
  CAPACITY: 3,
  SLOT_BYTES: 4,
  MAX_MESSAGE: 5,
  TAIL: 64 / 4, // next position to send (own cache line)
  HEAD: 128 / 4, // next position to receive (own cache line)
  RECEIVERS_WAITING: 192 / 4,
  SENDERS_WAITING: 256 / 4,
  DROPPED: 288 / 4, // messages dropped because a peer died mid-message
  REGISTERED: 292 / 4, // senders that ever registered
  ACTIVE: 296 / 4, // registered senders that have not ended or closed (dead ones included)
  // spsc: the one receiver handle. Its token is claimed by compare-exchange (two
  // handles of one process share a pid), then its pid is stored for liveness.
  RECEIVER_TOKEN: 300 / 4,
  RECEIVER_PID: 304 / 4,
} as const;

export const SENDERS_OFFSET = 320; // table of { pid, token, state, pad } × MAX_SENDERS
export const MAX_SENDERS = 64;
export const SENDER_ENTRY = 16;
export const DATA_SEM_OFFSET = SENDERS_OFFSET + MAX_SENDERS * SENDER_ENTRY; // 1344
export const SPACE_SEM_OFFSET = DATA_SEM_OFFSET + SEM_T_SIZE;
export const SLOTS_OFFSET = 1408; // the slot headers; 64-byte aligned

// Slot header, as Int32 indices relative to the slot's header.
export const SLOT_SEQ = 0;
export const SLOT_LEN = 1;
export const SLOT_OWNER = 2; // sender pid while writing; -receiver pid while reading; 0 otherwise
// The position a message was written for, stored after its payload and before its seq:
// a seq word forged or torn by another process cannot pass off a stale or half-written
// payload, because the position beside it is then the previous lap's.
export const SLOT_POS = 3;
export const SLOT_DEAD = 3; // for a tombstone (SLOT_LEN = TOMBSTONE): the pid of the sender that died
export const SLOT_HEADER = 16; // bytes per slot header

/** A length meaning "the sender died before finishing this message". */
export const TOMBSTONE = -1;

/**
 * Counts past these are impossible, so a word that holds one was written by
 * something other than this library: Linux pids stop at 2^22
 * (`PID_MAX_LIMIT`), and a million sleeping waits on one channel is no
 * program's design.
 */
export const PID_MAX = 1 << 22;
export const MAX_WAITERS = 1 << 20;

/** Sender states in the senders table. */
export const SENDER_ACTIVE = 1;
export const SENDER_ENDED = 2;

/** Bytes per payload slot for `maxMessageSize`: whole cache lines. */
export function slotBytes(maxMessageSize: number): number {
  return Math.ceil(maxMessageSize / 64) * 64;
}

/** Where the payload slots start, after `capacity` slot headers. */
export function payloadsOffset(capacity: number): number {
  return SLOTS_OFFSET + Math.ceil((capacity * SLOT_HEADER) / 64) * 64;
}

/** Total bytes for a channel. */
export function channelBytes(capacity: number, maxMessageSize: number): number {
  return payloadsOffset(capacity) + capacity * slotBytes(maxMessageSize);
}
