/**
 * Recognising the library's own objects in `/dev/shm` from their bytes, and
 * decoding their state. Everything read is another process's memory: each
 * word is checked before it sizes a read or a loop, and anything that does not
 * add up is reported as plain shared memory rather than guessed at.
 *
 * Channel offsets come from `channel/_layout.ts` and the state-lock words from
 * `sync/_state_lock.ts`. The Mutex, RwLock and permit Semaphore keep their
 * magic words (and the Mutex its word indices) private, so they are repeated
 * here; tests/cli_test.ts decodes real locks, which pins these copies.
 *
 * @module
 */

import {
  channelBytes,
  H,
  MAGIC as CHANNEL_MAGIC,
  MAX_SENDERS,
  SENDER_ACTIVE,
  SENDER_ENDED,
  SENDER_ENTRY,
  SENDERS_OFFSET,
  SLOT_HEADER,
  SLOT_SEQ,
  SLOTS_OFFSET,
  VERSION as CHANNEL_VERSION,
} from "../channel/_layout.ts";
import {
  LAYOUT_VERSION as STATE_LAYOUT_VERSION,
  MAGIC as STATE_MAGIC,
  SLEEPERS,
  VERSION as STATE_VERSION,
  WORD_A,
  WORD_B,
  WORD_C,
  WORD_D,
} from "../sync/_state_lock.ts";
import { MUTEX_SIZE } from "../sync/mutex.ts";
import { type ByteReader, words } from "./_read.ts";

// sync/mutex.ts: word 0 the lock (owner pid | WAITERS), 1 the magic, 2 recoveries, 3 the layout
// version, parker at 16.
const MUTEX_MAGIC = 0x4d757478; // "Mutx"
const MUTEX_LOCK = 0;
const MUTEX_MAGIC_WORD = 1;
const MUTEX_RECOVERIES = 2;
const MUTEX_VERSION_WORD = 3;
const MUTEX_LAYOUT_VERSION = 1;
const MUTEX_PARKER = 16;
const MUTEX_WAITERS = 1 << 30;
// sync/rwlock.ts and sync/semaphore.ts: the state lock's magic word.
const RWLOCK_MAGIC = 0x52774c6b; // "RwLk"
const PERMITS_MAGIC = 0x53656d61; // "Sema"
// sync/_state_lock.ts: holder-table size word and table start (Int32 indices).
const STATE_SLOTS = STATE_MAGIC + 5;
const STATE_TABLE = (MUTEX_SIZE + 64) / 4;
const MAX_SLOTS = 4096;
/** Linux's PID_MAX_LIMIT: a larger "pid" in a table is garbage. */
const PID_MAX = 1 << 22;

/** A pid recorded in an object's memory, and whether it still runs. */
export interface PidRef {
  pid: number;
  command: string;
  alive: boolean;
}

/** A process in a lock's holder table. */
export interface HolderRef extends PidRef {
  /** How many it holds (read locks or permits). */
  count: number;
}

/** A decoded Channel header. */
export interface ChannelState {
  version: number;
  topology: "spsc" | "mpmc";
  capacity: number;
  maxMessageSize: number;
  /** Messages published and not yet received. */
  queued: number;
  /** Positions sent and received so far (32-bit, wrapping): rates come from their deltas. */
  sent: number;
  received: number;
  senders: (PidRef & { ended: boolean })[];
  /** The spsc receiver; mpmc receivers are not recorded (see `pids` for who maps it). */
  receiver: PidRef | null;
  sendersWaiting: number;
  receiversWaiting: number;
  /** True once senders registered and every one has ended or died. */
  ended: boolean;
  dropped: number;
}

/** A decoded named Mutex. */
export interface MutexState {
  holder: PidRef | null;
  /** True when the lock word says someone waits. */
  contended: boolean;
  /** Threads asleep on its parker semaphore now. */
  waiters: number;
  /** Times a dead holder's lock was taken over. */
  recoveries: number;
}

/** A decoded named RwLock. */
export interface RwLockState {
  writer: PidRef | null;
  readers: HolderRef[];
  waitingWriter: PidRef | null;
  sleepers: number;
  /** True when a writer died holding it and nobody has been told yet. */
  writerDied: boolean;
}

/** A decoded named permit Semaphore (`sync.Semaphore`). */
export interface PermitSemaphoreState {
  permits: number;
  available: number;
  holders: HolderRef[];
  sleepers: number;
}

/** A decoded glibc named semaphore (`sem.NAME`). */
export interface PosixSemaphoreState {
  value: number;
  waiters: number;
}

/** What a `/dev/shm` file turned out to be. */
export type Recognised =
  | { kind: "channel"; state: ChannelState }
  | { kind: "mutex"; state: MutexState }
  | { kind: "rwlock"; state: RwLockState }
  | { kind: "permit-semaphore"; state: PermitSemaphoreState }
  | { kind: "shared-memory"; state: null };

/** Looks a pid up: its command name and whether it is alive. */
export type PidLookup = (pid: number) => PidRef;

const plain = { kind: "shared-memory", state: null } as const;

/** Recognises the object of `size` bytes that `read` reads; plain shared memory when unsure. */
export function recognise(read: ByteReader, size: number, who: PidLookup): Recognised {
  if (size < MUTEX_SIZE) return plain;
  const head = words(read(0, Math.min(size, SLOTS_OFFSET)));
  if (head.length < MUTEX_SIZE / 4) return plain;
  if (head[H.MAGIC] === CHANNEL_MAGIC) return channel(read, size, head, who) ?? plain;
  if (
    size === MUTEX_SIZE && head[MUTEX_MAGIC_WORD] === MUTEX_MAGIC &&
    head[MUTEX_VERSION_WORD] === MUTEX_LAYOUT_VERSION
  ) {
    return { kind: "mutex", state: mutex(read, head, who) };
  }
  const magic = head[STATE_MAGIC];
  if (
    (magic === RWLOCK_MAGIC || magic === PERMITS_MAGIC) &&
    head[STATE_VERSION] === STATE_LAYOUT_VERSION
  ) {
    const table = holderTable(read, size, head, who);
    if (table === undefined) return plain;
    const sleepers = count(head[SLEEPERS]!);
    if (magic === PERMITS_MAGIC) {
      const permits = head[WORD_B]!;
      const available = head[WORD_A]!;
      if (permits < 1 || available < 0 || available > permits) return plain;
      return { kind: "permit-semaphore", state: { permits, available, holders: table, sleepers } };
    }
    const writer = head[WORD_A]!;
    return {
      kind: "rwlock",
      state: {
        writer: validPid(writer) ? who(writer) : null,
        readers: table,
        waitingWriter: head[WORD_B] !== 0 && validPid(head[WORD_D]!) ? who(head[WORD_D]!) : null,
        sleepers,
        writerDied: head[WORD_C] === 1,
      },
    };
  }
  return plain;
}

function channel(
  read: ByteReader,
  size: number,
  head: Int32Array,
  who: PidLookup,
): Recognised | undefined {
  if (head.length < SLOTS_OFFSET / 4 || head[H.VERSION] !== CHANNEL_VERSION) return undefined;
  const topology = head[H.TOPOLOGY];
  const capacity = head[H.CAPACITY]!;
  const max = head[H.MAX_MESSAGE]!;
  if (topology !== 0 && topology !== 1) return undefined;
  if (capacity < 2 || capacity > 1 << 20 || (capacity & (capacity - 1)) !== 0) return undefined;
  if (max < 1 || max > 64 << 20 || head[H.SLOT_BYTES] !== Math.ceil(max / 64) * 64) {
    return undefined;
  }
  if (size < channelBytes(capacity, max)) return undefined;
  const tail = head[H.TAIL]!;
  const headPos = head[H.HEAD]!;
  // Published and unreceived: positions from HEAD whose slot says "ready for p" (seq = p + 1).
  const span = Math.min(Math.max((tail - headPos) | 0, 0), capacity);
  // Only the slot headers in [HEAD, TAIL), which may wrap round the ring: a
  // watch refreshing a big, nearly empty channel reads a few bytes, not MiBs.
  const first = headPos & (capacity - 1);
  const straight = Math.min(span, capacity - first);
  const seqs = [
    words(read(SLOTS_OFFSET + first * SLOT_HEADER, straight * SLOT_HEADER)),
    words(read(SLOTS_OFFSET, (span - straight) * SLOT_HEADER)),
  ];
  let queued = 0;
  for (let k = 0; k < span; k++) {
    const p = (headPos + k) | 0;
    const [part, index] = k < straight ? [seqs[0]!, k] : [seqs[1]!, k - straight];
    if (part[index * (SLOT_HEADER / 4) + SLOT_SEQ] === ((p + 1) | 0)) queued++;
  }
  const senders: ChannelState["senders"] = [];
  for (let s = 0; s < MAX_SENDERS; s++) {
    const e = (SENDERS_OFFSET + s * SENDER_ENTRY) / 4;
    const pid = head[e]!;
    const state = head[e + 2];
    if (!validPid(pid) || (state !== SENDER_ACTIVE && state !== SENDER_ENDED)) continue;
    senders.push({ ...who(pid), ended: state === SENDER_ENDED });
  }
  const receiverPid = head[H.RECEIVER_PID]!;
  return {
    kind: "channel",
    state: {
      version: head[H.VERSION]!,
      topology: topology === 0 ? "spsc" : "mpmc",
      capacity,
      maxMessageSize: max,
      queued,
      sent: tail >>> 0,
      received: headPos >>> 0,
      senders,
      receiver: topology === 0 && validPid(receiverPid) ? who(receiverPid) : null,
      sendersWaiting: count(head[H.SENDERS_WAITING]!),
      receiversWaiting: count(head[H.RECEIVERS_WAITING]!),
      ended: senders.length > 0 && senders.every((s) => s.ended || !s.alive),
      dropped: count(head[H.DROPPED]!),
    },
  };
}

function mutex(read: ByteReader, head: Int32Array, who: PidLookup): MutexState {
  const lock = head[MUTEX_LOCK]!;
  const owner = lock & (MUTEX_WAITERS - 1);
  return {
    holder: validPid(owner) ? who(owner) : null,
    contended: (lock & MUTEX_WAITERS) !== 0,
    waiters: semaphoreWords(read(MUTEX_PARKER, SEM_WORDS))?.waiters ?? 0,
    recoveries: count(head[MUTEX_RECOVERIES]!),
  };
}

function holderTable(
  read: ByteReader,
  size: number,
  head: Int32Array,
  who: PidLookup,
): HolderRef[] | undefined {
  const slots = head[STATE_SLOTS]!;
  if (slots < 1 || slots > MAX_SLOTS || size < (STATE_TABLE + slots * 2) * 4) return undefined;
  const table = words(read(STATE_TABLE * 4, slots * 8));
  if (table.length < slots * 2) return undefined;
  const holders: HolderRef[] = [];
  for (let i = 0; i < slots; i++) {
    const pid = table[i * 2]!;
    const n = table[i * 2 + 1]!;
    if (validPid(pid) && n > 0) holders.push({ ...who(pid), count: n });
  }
  return holders;
}

/**
 * glibc's process-shared `sem_t` on LP64: a 64-bit word with the value in its
 * low half and the sleeping waiters in its high half, then `private`, which
 * `sem_open` and `sem_init(pshared)` set to FUTEX_SHARED (128).
 */
export function semaphoreWords(bytes: Uint8Array): PosixSemaphoreState | undefined {
  if (bytes.length < SEM_WORDS) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, SEM_WORDS);
  const value = dv.getUint32(0, true);
  const waiters = dv.getUint32(4, true);
  if (dv.getInt32(8, true) !== FUTEX_SHARED) return undefined;
  if (value > 0x7fffffff || waiters >= PID_MAX) return undefined;
  return { value, waiters };
}

/** Bytes of a `sem_t` that {@linkcode semaphoreWords} reads. */
export const SEM_WORDS = 12;
const FUTEX_SHARED = 128;

const validPid = (pid: number) => pid > 0 && pid < PID_MAX;
const count = (n: number) => Math.max(n, 0);
