/**
 * What POSIX message queues exist. The kernel shows them only through an
 * `mqueue` filesystem, conventionally mounted on `/dev/mqueue`; without one
 * mounted there is no way to enumerate them, and the listing says so instead
 * of pretending the system has none.
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { listDir, readText, statPath } from "../ffi/files.ts";
import { cString } from "../ffi/cstring.ts";
import { O } from "../ffi/constants.ts";
import { MQ, MQ_ATTR_SIZE } from "../ffi/mqueue.ts";

/** One queue found in the mqueue filesystem. */
export interface PosixMessageQueueInfo {
  /** The name to pass to `MessageQueue.open`: `/jobs`. */
  name: string;
  /** Messages in it now, or null when this user may not open it. */
  messages: number | null;
  /** Most messages it holds, or null when it could not be opened. */
  maxMessages: number | null;
  /** Largest message in bytes, or null when it could not be opened. */
  maxMessageSize: number | null;
  /** Bytes of messages queued (the kernel's `QSIZE`). */
  bytes: number;
  /** Permission bits. */
  mode: number;
  /** Owner uid. */
  uid: number;
  /** Owner gid. */
  gid: number;
}

/** The result of {@linkcode listMessageQueues}. */
export interface PosixMessageQueueListing {
  /** False when no mqueue filesystem is mounted: `queues` is then unknown, not empty. */
  mounted: boolean;
  /** Where it is mounted (`/dev/mqueue` by convention), or null. */
  mountPoint: string | null;
  /** The queues, when mounted. */
  queues: PosixMessageQueueInfo[];
  /** What to do when it is not mounted. */
  hint?: string;
}

const NOT_MOUNTED_HINT = "No mqueue filesystem is mounted, so POSIX message queues cannot be " +
  "listed (they may still exist). Mount one as root: mkdir -p /dev/mqueue && " +
  "mount -t mqueue none /dev/mqueue";

/** The mount point of an mqueue filesystem in this mount namespace (from /proc/self/mountinfo). */
export function mqueueMountPoint(): string | null {
  const info = readText("/proc/self/mountinfo") ?? "";
  let found: string | null = null;
  for (const line of info.split("\n")) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const [left, right] = line.split(" - ");
    if (right === undefined || !right.startsWith("mqueue ")) continue;
    const point = unescapeMount(left!.split(" ")[4] ?? "");
    if (point === "/dev/mqueue") return point;
    found ??= point;
  }
  return found;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Lists the POSIX message queues of this IPC namespace with their message
 * counts, from the mqueue filesystem (read through libc: `--allow-ffi` only).
 *
 * @returns `{ mounted: false, queues: [], hint }` when no mqueue filesystem is
 *   mounted (the usual state of containers): the queues cannot be seen, which
 *   is not the same as there being none
 *
 * @example List queues, or learn that none can be listed
 * ```ts
 * import { posix } from "@ipc/shm";
 * import { assert, assertEquals } from "@std/assert";
 * const name = `/doc-mq-list-${Deno.pid}`;
 * using q = posix.MessageQueue.create(name, { maxMessages: 2, maxMessageSize: 8 });
 * q.sendSync(new Uint8Array([1]));
 * const listing = posix.listMessageQueues();
 * if (listing.mounted) {
 *   assertEquals(listing.queues.find((i) => i.name === name)?.messages, 1);
 * } else {
 *   assert(listing.hint?.includes("mount -t mqueue"));
 * }
 * q.unlink();
 * ```
 */
export function listMessageQueues(): PosixMessageQueueListing {
  const mountPoint = mqueueMountPoint();
  if (mountPoint === null) {
    return { mounted: false, mountPoint: null, queues: [], hint: NOT_MOUNTED_HINT };
  }
  const queues: PosixMessageQueueInfo[] = [];
  for (const file of listDir(mountPoint, "Cannot list the mqueue filesystem").sort()) {
    const path = `${mountPoint}/${file}`;
    const st = statPath(path);
    if (st === undefined) continue; // unlinked meanwhile
    const qsize = readText(path)?.match(/QSIZE:(\d+)/);
    queues.push({
      name: `/${file}`,
      ...attributesOf(`/${file}`),
      bytes: qsize ? Number(qsize[1]) : 0,
      mode: st.mode & 0o777,
      uid: st.uid,
      gid: st.gid,
    });
  }
  return { mounted: true, mountPoint, queues };
}

function attributesOf(name: string) {
  const none = { messages: null, maxMessages: null, maxMessageSize: null };
  // O_RDONLY needs only read permission; a queue we may not read shows its file facts only.
  const fd = libc().mq_open(cString(name), O.RDONLY | MQ.NONBLOCK | O.CLOEXEC, 0, null);
  if (fd === -1) return none;
  try {
    const attr = new BigInt64Array(MQ_ATTR_SIZE / 8);
    if (libc().mq_getattr(fd, new Uint8Array(attr.buffer)) === -1) return none;
    return {
      messages: Number(attr[3]),
      maxMessages: Number(attr[1]),
      maxMessageSize: Number(attr[2]),
    };
  } finally {
    libc().mq_close(fd);
  }
}
