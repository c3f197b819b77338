/**
 * Async waits on POSIX message queues without ever taking a message on
 * Deno's blocking pool.
 *
 * Why (measured, shared/FACTS.md): a `nonblocking` `mq_timedreceive` takes the
 * message on the pool thread even after its waiter gave up, and that message
 * is lost. So the pool only ever waits for readiness: one `poll()` over every
 * queue this thread waits on (plus an `eventfd` to cut it short), and the
 * message is sent or taken afterwards on the JS thread with the queue opened
 * `O_NONBLOCK`. A waiter that times out or aborts has taken nothing.
 *
 * The poll is a park of `memory/_park.ts`: it counts against the same cap of
 * parked calls per thread as semaphores and locks (when the cap is reached it
 * degrades to a 1 ms try loop), lasts at most one 50 ms slice, and
 * `settled()` knows about it. One park serves every queue of the thread, so
 * 100 waiters cost one pool thread. When the last waiter leaves, the eventfd
 * ends the poll at once, so a program whose waits were abandoned can exit.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { MQ, POLLFD_SIZE } from "../ffi/mqueue.ts";
import { type ParkTarget, WaitQueue } from "./_park.ts";

/** One pending send or receive: `run` tries it once on the JS thread. */
interface Entry {
  /** When it started waiting (performance.now()). */
  since: number;
  /** Tries the operation; true when it completed (and settled its promise). */
  run(): boolean;
  /** Settles the operation with an error. */
  fail(e: unknown): void;
}

const ONE = new BigUint64Array([1n]);
const ONE_BYTES = new Uint8Array(ONE.buffer);
const drainBytes = new Uint8Array(8);

let wakeFd = -1;
const watched = new Set<Waiters>();
/** fds inside the poll now in flight: closing one must wait until it returns. */
let polled = new Set<number>();
let polling = false;
/** The events the poll now in flight watches, per queue (absent: not watched). */
let polledEvents = new Map<Waiters, number>();
const closeAfterPoll: number[] = [];
/** True while the shared park's own waiter is queued (between start() and an idle tryTake). */
let running = false;
/** True when the eventfd was written since the last poll returned (it then needs draining). */
let woken = false;

function eventFd(): number {
  if (wakeFd === -1) {
    const fd = libc().eventfd(0, MQ.EFD_NONBLOCK | MQ.EFD_CLOEXEC);
    if (fd === -1) throw new Deno.errors.NotSupported("eventfd() failed: cannot park queue waits");
    wakeFd = fd;
  }
  return wakeFd;
}

function wake(): void {
  if (polling && !woken) {
    woken = true;
    libc().write(wakeFd, ONE_BYTES, 8n);
  }
}

const target: ParkTarget = {
  tryTake() {
    for (const w of watched) w.serve();
    // Idle: the park's own waiter "takes" and leaves, so the park queue starts no
    // other poll. (Ending it through an AbortSignal cost ~6 µs per wait, before
    // the resolved waiter's continuation could run.)
    if (watched.size === 0) {
      running = false;
      return true;
    }
    return false;
  },
  park(sliceMs) {
    let timeoutUs = Math.ceil(sliceMs) * 1000;
    for (const w of watched) timeoutUs = Math.min(timeoutUs, w.retryInUs());
    const fds = [eventFd(), ...[...watched].map((w) => w.fd)];
    const events = [MQ.POLLIN, ...[...watched].map((w) => w.events)];
    const buf = new Uint8Array(fds.length * POLLFD_SIZE);
    const dv = new DataView(buf.buffer);
    fds.forEach((fd, i) => {
      dv.setInt32(i * POLLFD_SIZE, fd, true);
      dv.setInt16(i * POLLFD_SIZE + 4, events[i]!, true);
    });
    polled = new Set(fds);
    polledEvents = new Map([...watched].map((w) => [w, w.events]));
    polling = true;
    // A fresh timespec per park: the call reads it on the pool thread.
    const tmo = new BigInt64Array([
      BigInt(Math.floor(timeoutUs / 1e6)),
      BigInt(Math.round(timeoutUs % 1e6) * 1000),
    ]);
    return libc().ppoll_nb(buf, BigInt(fds.length), new Uint8Array(tmo.buffer), null).then(() => {
      keepAlive(buf, tmo); // the pool thread used both until now
      polling = false;
      polled = new Set();
      polledEvents = new Map();
      if (woken) {
        woken = false;
        libc().read(wakeFd, drainBytes, 8n);
      }
      for (const fd of closeAfterPoll.splice(0)) libc().mq_close(fd);
      return -1; // a pass over every watched queue follows (tryTake)
    });
  },
  giveBack() {},
};

const queue = new WaitQueue(target);

function start(): void {
  if (running) return;
  running = true;
  queue.wait(Infinity, () => new Error("unreachable")).catch(() => {});
}

/** The last waiter left: end the poll in flight at once (its tryTake then stops the park). */
function stopIfIdle(): void {
  if (watched.size === 0) wake();
}

/** Holds buffers a nonblocking call used until it has returned. */
function keepAlive(..._buffers: unknown[]): void {}

/** The shortest sleep between System V retries. */
const RETRY_MIN_US = 20;
/**
 * Closes `fd` now, or as soon as the poll that watches it returns (the pool
 * thread must never poll a descriptor number that was closed and reused).
 */
export function closeQueueFd(fd: number): void {
  if (polling && polled.has(fd)) {
    closeAfterPoll.push(fd);
    wake();
  } else {
    libc().mq_close(fd);
  }
}

/**
 * The async senders and receivers of one queue. With a descriptor they wait
 * for its readiness; without one (`fd` -1, which poll() ignores: System V
 * queues) the shared poll only times their retries, as a bounded sleep that
 * the eventfd can cut short — a retry costs a pool round trip instead of a
 * timer, which Deno fires no sooner than 1 ms.
 */
export class Waiters {
  /** The queue descriptor, or -1. */
  readonly fd: number;
  #readers: Entry[] = [];
  #writers: Entry[] = [];
  #readersInOrder: boolean;

  /**
   * @param fd the descriptor to poll, or -1 to retry on a back-off schedule
   * @param readersInOrder false when a later receive may complete before an
   *   earlier one (System V receives by type)
   */
  constructor(fd: number, readersInOrder = true) {
    this.fd = fd;
    this.#readersInOrder = readersInOrder;
  }

  /**
   * How soon (µs) a queue without a descriptor wants its next retry: after as
   * long again as it has waited, from 20 µs up to 1 ms (so a message is seen
   * within about twice the time it took to come, at a few dozen pool round
   * trips per second of waiting), and past 20 ms of waiting every tenth of
   * the time waited, up to 20 ms.
   *
   * Measured (shared/FACTS.md, this file's history): retrying at once for the
   * first 2 ms, then every 1 ms, was a busy loop through the pool that took
   * the loaded CPUs from the peer, and any wait past 2 ms answered ~1 ms late.
   */
  retryInUs(): number {
    if (this.fd >= 0) return Infinity;
    let since = Infinity;
    for (const e of this.#readers) since = Math.min(since, e.since);
    for (const e of this.#writers) since = Math.min(since, e.since);
    const waitedUs = (performance.now() - since) * 1000;
    if (!(waitedUs >= 0)) return RETRY_MIN_US;
    if (waitedUs < 20_000) return Math.min(1000, Math.max(RETRY_MIN_US, waitedUs));
    return Math.min(20_000, waitedUs / 10);
  }

  /** poll() events this queue waits for. */
  get events(): number {
    return (this.#readers.length ? MQ.POLLIN : 0) | (this.#writers.length ? MQ.POLLOUT : 0);
  }

  /** True when async operations of `kind` are queued (a new one must queue behind them). */
  busy(kind: "read" | "write"): boolean {
    return (kind === "read" ? this.#readers : this.#writers).length > 0;
  }

  /**
   * Queues an operation until `attempt` returns a value (not `undefined`), the
   * deadline passes, or `signal` aborts. `attempt` runs only on this thread.
   */
  wait<T>(
    kind: "read" | "write",
    attempt: () => T | undefined,
    deadline: number,
    timedOut: () => Error,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const list = kind === "read" ? this.#readers : this.#writers;
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const leave = (e: unknown) => {
        const i = list.indexOf(entry);
        if (i !== -1) list.splice(i, 1);
        cleanup();
        reject(e);
        this.#idleCheck();
      };
      const onAbort = () => leave(signal!.reason);
      const entry: Entry = {
        since: performance.now(),
        run: () => {
          const v = attempt();
          if (v === undefined) return false;
          cleanup();
          resolve(v);
          return true;
        },
        fail: (e) => {
          cleanup();
          reject(e);
        },
      };
      if (deadline !== Infinity) {
        timer = setTimeout(() => leave(timedOut()), Math.max(0, deadline - performance.now()));
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      list.push(entry);
      watched.add(this);
      start();
      // A poll in flight that does not watch these events (it started before this
      // wait) must restart. One that start() has just begun already does: waking
      // it would only cost a wasted pool round trip per wait.
      if (polling && (polledEvents.get(this) ?? 0) !== this.events) wake();
    });
  }

  /** Runs queued operations in order while they complete. */
  serve(): void {
    if (!this.#readersInOrder) this.#serveAll(this.#readers);
    for (const list of this.#readersInOrder ? [this.#readers, this.#writers] : [this.#writers]) {
      while (list.length > 0) {
        const e = list[0]!;
        let done: boolean;
        try {
          done = e.run();
        } catch (err) {
          list.shift();
          e.fail(err);
          continue;
        }
        if (!done) break;
        list.shift();
      }
    }
    this.#idleCheck();
  }

  /** Tries every queued operation once, oldest first, keeping those that must wait. */
  #serveAll(list: Entry[]): void {
    for (const e of [...list]) {
      let done: boolean;
      try {
        done = e.run();
      } catch (err) {
        done = true;
        e.fail(err);
      }
      if (done) list.splice(list.indexOf(e), 1);
    }
  }

  /** Rejects every queued operation (the handle closed). */
  closeAll(error: unknown): void {
    for (const e of [...this.#readers.splice(0), ...this.#writers.splice(0)]) e.fail(error);
    this.#idleCheck();
  }

  #idleCheck(): void {
    if (this.#readers.length === 0 && this.#writers.length === 0 && watched.delete(this)) {
      stopIfIdle();
    }
  }
}
