/**
 * `<mqueue.h>` (in libc.so.6 since glibc 2.34), plus the readiness calls that
 * let an async wait sleep on a queue without ever taking a message off the
 * JS thread: on Linux an `mqd_t` is a file descriptor, so `poll()` works.
 *
 * `mq_open` is variadic in C; declaring its two optional arguments as fixed
 * parameters is safe on Linux x86_64 and aarch64 (the only ABIs `libc.ts` loads).
 *
 * @module
 */

import { buf, int, mode_t, size_t, ssize_t, uint } from "./types.ts";

/** Symbol table for POSIX message queues and poll/eventfd. */
export const mqueueSymbols = {
  /** `mqd_t mq_open(const char *name, int oflag, mode_t mode, struct mq_attr *attr)` */
  mq_open: { parameters: [buf, int, mode_t, "pointer"], result: int },
  /** `int mq_close(mqd_t mqdes)` */
  mq_close: { parameters: [int], result: int },
  /** `int mq_unlink(const char *name)` */
  mq_unlink: { parameters: [buf], result: int },
  /** `int mq_getattr(mqd_t mqdes, struct mq_attr *attr)` */
  mq_getattr: { parameters: [int, buf], result: int },
  /**
   * `int mq_setattr(mqd_t mqdes, const struct mq_attr *newattr, struct mq_attr *oldattr)`:
   * only `mq_flags` (`O_NONBLOCK`) can change. Lets an untimed sync call block in the
   * kernel exactly like C, instead of a `poll()` then a retry.
   */
  mq_setattr: { parameters: [int, buf, "pointer"], result: int },
  /** `int mq_send(mqd_t mqdes, const char *msg_ptr, size_t msg_len, unsigned int msg_prio)` */
  mq_send: { parameters: [int, buf, size_t, uint], result: int },
  /** `ssize_t mq_receive(mqd_t mqdes, char *msg_ptr, size_t msg_len, unsigned int *msg_prio)` */
  mq_receive: { parameters: [int, buf, size_t, buf], result: ssize_t },
  /** `int poll(struct pollfd *fds, nfds_t nfds, int timeout)`: a sync wait's sleep. */
  poll: { parameters: [buf, size_t, int], result: int },
  /**
   * The same call on Deno's blocking-call pool. It only reports readiness:
   * the message is taken afterwards on the JS thread, so a waiter that gave up
   * meanwhile loses nothing. Its errno is lost (other thread): return value only.
   */
  poll_nb: { name: "poll", parameters: [buf, size_t, int], result: int, nonblocking: true },
  /**
   * `int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo_p,
   * const sigset_t *sigmask)` on the pool: the same wait with a timeout in
   * nanoseconds (System V retries sleep 20 µs and up, which poll's ms cannot say).
   */
  ppoll_nb: {
    name: "ppoll",
    parameters: [buf, size_t, buf, "pointer"],
    result: int,
    nonblocking: true,
  },
  /** `int eventfd(unsigned int initval, int flags)`: cuts a parked poll short. */
  eventfd: { parameters: [uint, int], result: int },
  /** `ssize_t write(int fd, const void *buf, size_t count)` */
  write: { parameters: [int, buf, size_t], result: ssize_t },
} as const satisfies Deno.ForeignLibraryInterface;

/** `mq_open` flags beyond `O` in constants.ts, `poll` events and `eventfd` flags. */
export const MQ = {
  NONBLOCK: 0o4000,
  POLLIN: 0x1,
  POLLOUT: 0x4,
  EFD_NONBLOCK: 0o4000,
  EFD_CLOEXEC: 0o2000000,
} as const;

/** `sizeof(struct mq_attr)`: four longs and four reserved longs; the kernel uses all 64 bytes. */
export const MQ_ATTR_SIZE = 64;
/** `sizeof(struct pollfd)`: int fd, short events, short revents. */
export const POLLFD_SIZE = 8;
