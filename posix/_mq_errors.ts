/**
 * Errors from `mq_open` that say which system limit was hit and how to raise
 * it: the kernel's own errno is often misleading (a full per-user budget is
 * `EMFILE`, "Too many open files").
 *
 * @module
 */

import { Errno, type ErrnoError } from "../ffi/errno.ts";
import { readText } from "../ffi/files.ts";

/** A `/proc/sys/fs/mqueue/*` value, or undefined when it cannot be read. */
export function mqueueLimit(name: string): number | undefined {
  const text = readText(`/proc/sys/fs/mqueue/${name}`);
  const n = text === undefined ? NaN : Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** This process's soft `RLIMIT_MSGQUEUE` in bytes (from /proc/self/limits). */
export function msgqueueRlimit(): number | undefined {
  const m = readText("/proc/self/limits")?.match(/^Max msgqueue size\s+(\S+)/m);
  if (!m) return undefined;
  return m[1] === "unlimited" ? Infinity : Number(m[1]);
}

/** Appends the explanation of a limit to a failed `mq_open`'s error. */
export function explainOpenError(
  err: ErrnoError,
  name: string,
  attr: { maxMessages: number; maxMessageSize: number } | undefined,
  creating: boolean,
): ErrnoError {
  const hint = hintFor(err.errno, name, attr, creating);
  if (hint !== undefined) err.message += `. ${hint}`;
  return err;
}

function hintFor(
  errno: number,
  name: string,
  attr: { maxMessages: number; maxMessageSize: number } | undefined,
  creating: boolean,
): string | undefined {
  switch (errno) {
    case Errno.EEXIST:
      return `A queue with this name already exists: open it with MessageQueue.open("${name}"), ` +
        `or remove the old one first with MessageQueue.unlink("${name}")`;
    case Errno.EMFILE: {
      if (!creating) break;
      const limit = msgqueueRlimit();
      const each = attr === undefined
        ? ""
        : ` (this one needs about ${
          attr.maxMessages * (attr.maxMessageSize + 96)
        } bytes: maxMessages × (maxMessageSize + ~96))`;
      return `Most likely this user's message queue budget RLIMIT_MSGQUEUE (${
        limit ?? "?"
      } bytes) is used up by the queues that exist${each}; ` +
        `a queue's bytes return only after it is unlinked AND closed by every process. ` +
        `Unlink queues you no longer need, create smaller ones (maxMessages, maxMessageSize), ` +
        `or raise the limit with \`ulimit -q\` (LimitMSGQUEUE= under systemd). ` +
        `(EMFILE also means this process has too many open files: \`ulimit -n\`.)`;
    }
    case Errno.EINVAL: {
      if (attr === undefined) break;
      const msgMax = mqueueLimit("msg_max");
      const sizeMax = mqueueLimit("msgsize_max");
      const over: string[] = [];
      if (msgMax !== undefined && attr.maxMessages > msgMax) {
        over.push(
          `maxMessages ${attr.maxMessages} is over /proc/sys/fs/mqueue/msg_max (${msgMax})`,
        );
      }
      if (sizeMax !== undefined && attr.maxMessageSize > sizeMax) {
        over.push(
          `maxMessageSize ${attr.maxMessageSize} is over /proc/sys/fs/mqueue/msgsize_max (${sizeMax})`,
        );
      }
      if (over.length === 0) break;
      return `${over.join("; ")}: raise it (as root: sysctl fs.mqueue.msg_max=N / ` +
        `fs.mqueue.msgsize_max=N) or ask for less (a process with CAP_SYS_RESOURCE may exceed it)`;
    }
    case Errno.ENOSPC:
      return `The system-wide limit of queues, /proc/sys/fs/mqueue/queues_max (${
        mqueueLimit("queues_max") ?? "?"
      }), is reached: unlink unused queues or raise it (sysctl fs.mqueue.queues_max=N)`;
    case Errno.ENOENT:
      if (creating) break;
      return `No such queue: create it with MessageQueue.create("${name}") or openOrCreate()`;
  }
  return undefined;
}
