/**
 * Creating and opening a channel's mapping: the header a creator writes, and
 * the checks an opener makes of every header word it will trust (another
 * process can write anything there).
 *
 * @module
 */

import { SharedMemory } from "../posix/shared_memory.ts";
import { semaphoreAtRaw } from "../posix/semaphore.ts";
import {
  channelBytes,
  DATA_SEM_OFFSET,
  H,
  MAGIC,
  MAX_SENDERS,
  MAX_WAITERS,
  PID_MAX,
  SENDER_ACTIVE,
  SENDER_ENDED,
  SENDER_ENTRY,
  SENDERS_OFFSET,
  SLOT_SEQ,
  slotBytes,
  SLOTS_OFFSET,
  SPACE_SEM_OFFSET,
  VERSION,
} from "./_layout.ts";
import { retitled } from "./_options.ts";

/** How long open() waits for a creator to finish the header. */
export const OPEN_WAIT_MS = 500;

/** Writes a new channel's header (the magic word last: open() trusts nothing before it). */
export function writeHeader(
  shm: SharedMemory,
  cap: number,
  maxMessageSize: number,
  mpmc: boolean,
): void {
  const i = shm.view(Int32Array);
  i[H.VERSION] = VERSION;
  i[H.TOPOLOGY] = mpmc ? 1 : 0;
  i[H.CAPACITY] = cap;
  i[H.SLOT_BYTES] = slotBytes(maxMessageSize);
  i[H.MAX_MESSAGE] = maxMessageSize;
  for (let s = 0; s < cap; s++) i[(SLOTS_OFFSET >> 2) + (s << 2) + SLOT_SEQ] = s; // Vyukov's start
  semaphoreAtRaw(shm, DATA_SEM_OFFSET, 0).close();
  semaphoreAtRaw(shm, SPACE_SEM_OFFSET, 0).close();
  Atomics.store(i, H.MAGIC, MAGIC);
}

/**
 * Checks every header word a handle trusts for its lifetime (they are cached,
 * never re-read), and the words it reads on its first send or receive, before
 * any slot is touched: another process can write anything here.
 */
export function checkHeader(
  name: string,
  words: Int32Array,
  size: number,
): { cap: number; max: number; kind: number } {
  const version = words[H.VERSION];
  if (version !== VERSION) {
    throw new Deno.errors.InvalidData(
      `Cannot open channel "${name}": it is a version ${version} channel; this library speaks version ${VERSION}`,
    );
  }
  const bad = (field: string, value: number | undefined, want: string) =>
    new Deno.errors.InvalidData(
      `Cannot open channel "${name}": its header is corrupt: ${field} is ${value}, ${want}`,
    );
  const kind = words[H.TOPOLOGY]!;
  if (kind !== 0 && kind !== 1) throw bad("topology", kind, "not 0 (spsc) or 1 (mpmc)");
  const cap = words[H.CAPACITY]!;
  if (!(cap >= 2 && cap <= 1 << 20 && (cap & (cap - 1)) === 0)) {
    throw bad("capacity", cap, "not a power of two from 2 to 2^20");
  }
  const max = words[H.MAX_MESSAGE]!;
  if (!(max >= 1 && max <= 64 << 20)) throw bad("maxMessageSize", max, "not from 1 to 64 MiB");
  if (words[H.SLOT_BYTES] !== slotBytes(max)) {
    throw bad("slot bytes", words[H.SLOT_BYTES], `not ${slotBytes(max)} for maxMessageSize ${max}`);
  }
  const need = channelBytes(cap, max);
  if (size < need) throw bad("capacity × slot bytes", need, `more than the object's ${size} bytes`);
  // TAIL read on both sides of HEAD: at any instant 0 ≤ TAIL − HEAD ≤ capacity (spsc: TAIL may
  // lag one behind, when its sender died between publishing and recording it).
  const t1 = Atomics.load(words, H.TAIL);
  const head = Atomics.load(words, H.HEAD);
  const t2 = Atomics.load(words, H.TAIL);
  if (((t1 - head) | 0) > cap || ((t2 - head) | 0) < (kind === 1 ? 0 : -1)) {
    throw bad("head", head, `impossible with tail ${t2} and capacity ${cap}`);
  }
  const pidOk = (p: number) => p >= 0 && p <= PID_MAX;
  const receiver = words[H.RECEIVER_PID]!;
  if (!pidOk(receiver)) throw bad("receiver pid", receiver, "not a pid");
  for (let s = 0; s < MAX_SENDERS; s++) {
    const e = (SENDERS_OFFSET >> 2) + s * (SENDER_ENTRY >> 2);
    if (!pidOk(words[e]!)) throw bad(`sender ${s}'s pid`, words[e], "not a pid");
    const state = words[e + 2]!;
    if (state !== 0 && state !== SENDER_ACTIVE && state !== SENDER_ENDED) {
      throw bad(`sender ${s}'s state`, state, "not 0, 1 or 2");
    }
  }
  for (
    const [field, at] of [["receivers waiting", H.RECEIVERS_WAITING], [
      "senders waiting",
      H.SENDERS_WAITING,
    ]] as const
  ) {
    const n = words[at]!;
    if (!(n >= 0 && n <= MAX_WAITERS)) throw bad(field, n, `not from 0 to ${MAX_WAITERS}`);
  }
  return { cap, max, kind };
}

function notAChannel(name: string, why: string): Deno.errors.InvalidData {
  return new Deno.errors.InvalidData(`Cannot open channel "${name}": it is not a Channel (${why})`);
}

/**
 * Opens `name` once its creator has finished the header: the object is
 * empty between its shm_open and its posix_fallocate, and its header is
 * being written until the magic word is stored last. A half-written header
 * is never read.
 */
export function openHeader(name: string): SharedMemory {
  const giveUp = performance.now() + OPEN_WAIT_MS;
  for (;;) {
    let shm: SharedMemory;
    try {
      shm = SharedMemory.open(name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw retitled(
        e,
        `Cannot open channel "${name}": it does not exist. ` +
          `Create it with Channel.create("${name}", { capacity, maxMessageSize })`,
      );
    }
    const size = shm.size;
    const magic = size >= SLOTS_OFFSET ? Atomics.load(shm.view(Int32Array, 0, 1), 0) : 0;
    if (magic === MAGIC) return shm;
    shm.close();
    if (size > 0 && size < SLOTS_OFFSET) throw notAChannel(name, `it is only ${size} bytes`);
    if (magic !== 0) throw notAChannel(name, "its header is not a channel's");
    if (performance.now() > giveUp) {
      throw notAChannel(
        name,
        `its header is still blank after ${OPEN_WAIT_MS} ms; if its creator died, unlink it`,
      );
    }
    napSync();
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps this thread for about a millisecond (there is no sync sleep otherwise). */
export function napSync(): void {
  Atomics.wait(sleeper, 0, 0, 1);
}
