/**
 * Every IPC object this user can see, in one shape: the `/dev/shm` files
 * (recognised as the library's Channels and locks where their headers say
 * so), POSIX named semaphores and message queues, and System V segments,
 * semaphore sets and message queues. This shape is the CLI's JSON schema
 * (docs/cli.md): change it only by adding fields.
 *
 * @module
 */

import { listSharedMemory } from "../posix/list.ts";
import { listMessageQueues as listPosixQueues } from "../posix/list_message_queues.ts";
import { listSegments, listSemaphoreSets } from "../sysv/list.ts";
import { listMessageQueues as listSysvQueues } from "../sysv/list_message_queues.ts";
import { isAlive } from "../memory/_liveness.ts";
import { readText } from "../ffi/files.ts";
import { libc } from "../ffi/libc.ts";
import { SEM } from "../ffi/sysv_sem.ts";
import type { ProcessRef } from "../ffi/procfs.ts";
import { withReader } from "./_read.ts";
import {
  type ChannelState,
  type MutexState,
  type PermitSemaphoreState,
  type PidRef,
  type PosixSemaphoreState,
  recognise,
  type RwLockState,
  SEM_WORDS,
  semaphoreWords,
} from "./_decode.ts";
import { userName } from "./_users.ts";

/** Every kind, one spelling each: the `kind` field of the JSON. */
export const KINDS = [
  "shared-memory",
  "channel",
  "mutex",
  "rwlock",
  "permit-semaphore",
  "semaphore",
  "message-queue",
  "sysv-segment",
  "sysv-semaphore-set",
  "sysv-message-queue",
] as const;

/** One kind of object. */
export type Kind = typeof KINDS[number];

/** Kinds that live as files in /dev/shm (removed with shm_unlink). */
export const SHM_FILE_KINDS: readonly Kind[] = [
  "shared-memory",
  "channel",
  "mutex",
  "rwlock",
  "permit-semaphore",
];
/** `--shm`, `--sem` and `--queues`. */
export const FAMILIES = {
  shm: [...SHM_FILE_KINDS, "sysv-segment"],
  sem: ["semaphore", "sysv-semaphore-set"],
  queues: ["message-queue", "sysv-message-queue"],
} as const satisfies Record<string, readonly Kind[]>;

/** A System V semaphore as GETVAL/GETNCNT/GETZCNT/GETPID report it. */
export interface SysvSemaphore {
  value: number;
  waitingForIncrease: number;
  waitingForZero: number;
  lastPid: number;
}

/** Kind-specific state (see docs/cli.md). */
export type State =
  | ChannelState
  | MutexState
  | RwLockState
  | PermitSemaphoreState
  | PosixSemaphoreState
  | { semaphores: SysvSemaphore[] }
  | {
    messages: number | null;
    maxMessages: number | null;
    maxMessageSize: number | null;
    bytes: number;
  }
  | { messages: number; bytes: number; lastSend: PidRef | null; lastReceive: PidRef | null }
  | {
    attached: number;
    creator: PidRef | null;
    lastAttach: PidRef | null;
    markedForRemoval: boolean;
  };

/** One object, as `ls --json` and `stat --json` print it. */
export interface IpcObject {
  kind: Kind;
  /** The POSIX name (`/jobs`), or null for System V objects. */
  name: string | null;
  /** The System V id, or null. */
  id: number | null;
  /** The System V key as `0x%08x`, or null. */
  key: string | null;
  uid: number;
  /** The owner's user name, or null when the password database has none. */
  user: string | null;
  gid: number;
  /** Permission bits in octal: `"0600"`. */
  mode: string;
  /** Bytes (file or segment size; null for semaphore sets and queues). */
  size: number | null;
  /** Processes mapping or attached to it now (queues and sets: none are recorded). */
  pids: ProcessRef[];
  /** Decoded state; null for plain shared memory, or when it could not be read. */
  state: State | null;
}

/** A listing: the objects, and what could not be listed. */
export interface Listing {
  /** The JSON schema's version. */
  schema: 1;
  objects: IpcObject[];
  /** POSIX message queues can be listed only when an mqueue filesystem is mounted. */
  posixMessageQueues: { mounted: boolean; mountPoint: string | null; hint?: string };
}

const commands = new Map<number, string>();

/** A pid recorded in an object: its command and liveness, now. */
export function pidRef(pid: number): PidRef {
  const alive = isAlive(pid);
  let command = commands.get(pid);
  if (command === undefined || !alive) {
    command = (readText(`/proc/${pid}/comm`) ?? "").trim();
    if (alive && command !== "") commands.set(pid, command);
  }
  return { pid, command, alive };
}

const hexKey = (key: number) => `0x${(key >>> 0).toString(16).padStart(8, "0")}`;
const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;
const owner = (uid: number) => ({ uid, user: userName(uid) });

/** Lists everything. Reading never writes, locks or maps anything. */
export function listAll(): Listing {
  const objects: IpcObject[] = [];
  for (const o of listSharedMemory()) {
    const path = o.kind === "semaphore" ? `/dev/shm/sem.${o.name.slice(1)}` : `/dev/shm${o.name}`;
    const base = {
      name: o.name,
      id: null,
      key: null,
      ...owner(o.uid),
      gid: o.gid,
      mode: octal(o.mode),
      size: o.size,
      pids: o.mappedBy,
    };
    if (o.kind === "semaphore") {
      const state = withReader(path, (read) => semaphoreWords(read(0, SEM_WORDS))) ?? null;
      objects.push({ kind: "semaphore", ...base, state });
    } else {
      const r = withReader(path, (read) => recognise(read, o.size, pidRef)) ??
        { kind: "shared-memory" as const, state: null };
      objects.push({ ...base, kind: r.kind, state: r.state });
    }
  }
  const posixQueues = listPosixQueues();
  for (const q of posixQueues.queues) {
    objects.push({
      kind: "message-queue",
      name: q.name,
      id: null,
      key: null,
      ...owner(q.uid),
      gid: q.gid,
      mode: octal(q.mode),
      size: null,
      pids: [],
      state: {
        messages: q.messages,
        maxMessages: q.maxMessages,
        maxMessageSize: q.maxMessageSize,
        bytes: q.bytes,
      },
    });
  }
  for (const s of listSegments()) {
    objects.push({
      kind: "sysv-segment",
      name: null,
      id: s.id,
      key: hexKey(s.key),
      ...owner(s.uid),
      gid: s.gid,
      mode: octal(s.mode),
      size: s.size,
      pids: s.attached,
      state: {
        attached: s.nattch,
        creator: s.cpid > 0 ? pidRef(s.cpid) : null,
        lastAttach: s.lpid > 0 ? pidRef(s.lpid) : null,
        markedForRemoval: s.removed,
      },
    });
  }
  for (const s of listSemaphoreSets()) {
    objects.push({
      kind: "sysv-semaphore-set",
      name: null,
      id: s.id,
      key: hexKey(s.key),
      ...owner(s.uid),
      gid: s.gid,
      mode: octal(s.mode),
      size: null,
      pids: [],
      state: sysvSemaphores(s.id, s.count),
    });
  }
  for (const q of listSysvQueues()) {
    objects.push({
      kind: "sysv-message-queue",
      name: null,
      id: q.id,
      key: hexKey(q.key),
      ...owner(q.uid),
      gid: q.gid,
      mode: octal(q.mode),
      size: null,
      pids: [],
      state: {
        messages: q.messages,
        bytes: q.bytes,
        lastSend: q.lastSendPid > 0 ? pidRef(q.lastSendPid) : null,
        lastReceive: q.lastReceivePid > 0 ? pidRef(q.lastReceivePid) : null,
      },
    });
  }
  const { mounted, mountPoint, hint } = posixQueues;
  return {
    schema: 1,
    objects,
    posixMessageQueues: { mounted, mountPoint, ...(hint === undefined ? {} : { hint }) },
  };
}

/**
 * GETVAL/GETNCNT/GETZCNT/GETPID straight through semctl: read-only, and unlike
 * `SemaphoreSet.fromId` it does not wait for a creator to initialise the set.
 */
function sysvSemaphores(id: number, n: number): { semaphores: SysvSemaphore[] } | null {
  const semaphores: SysvSemaphore[] = [];
  for (let i = 0; i < Math.min(n, 32000); i++) {
    const get = (cmd: number) => libc().semctl(id, i, cmd, 0n);
    const value = get(SEM.GETVAL);
    if (value === -1) return null; // removed meanwhile, or not ours to read
    semaphores.push({
      value,
      waitingForIncrease: Math.max(get(SEM.GETNCNT), 0),
      waitingForZero: Math.max(get(SEM.GETZCNT), 0),
      lastPid: Math.max(get(SEM.GETPID), 0),
    });
  }
  return { semaphores };
}
