/**
 * `struct ipc_perm`, `shmid_ds`, `semid_ds` and `sembuf` for x86_64 and
 * aarch64 glibc. Offsets are checked against the C compiler by
 * `tests/sysv_layout_test.ts`. The two ABIs agree except for `semid_ds`, where
 * x86_64 keeps a "high" word after each time field.
 *
 * @module
 */

/** Byte offsets of one architecture's System V structs. */
export interface SysvLayout {
  ipc_perm: {
    size: number;
    key: number;
    uid: number;
    gid: number;
    cuid: number;
    cgid: number;
    mode: number;
  };
  shmid_ds: {
    size: number;
    segsz: number;
    atime: number;
    dtime: number;
    ctime: number;
    cpid: number;
    lpid: number;
    nattch: number;
  };
  semid_ds: { size: number; otime: number; ctime: number; nsems: number };
  sembuf: { size: number; num: number; op: number; flg: number };
}

const IPC_PERM = { size: 48, key: 0, uid: 4, gid: 8, cuid: 12, cgid: 16, mode: 20 };
const SHMID_DS = {
  size: 112,
  segsz: 48,
  atime: 56,
  dtime: 64,
  ctime: 72,
  cpid: 80,
  lpid: 84,
  nattch: 88,
};
const SEMBUF = { size: 6, num: 0, op: 2, flg: 4 };

/** Layouts per architecture. */
export const SYSV_LAYOUT: Record<"x86_64" | "aarch64", SysvLayout> = {
  x86_64: {
    ipc_perm: IPC_PERM,
    shmid_ds: SHMID_DS,
    semid_ds: { size: 104, otime: 48, ctime: 64, nsems: 80 },
    sembuf: SEMBUF,
  },
  aarch64: {
    ipc_perm: IPC_PERM,
    shmid_ds: SHMID_DS,
    semid_ds: { size: 88, otime: 48, ctime: 56, nsems: 64 },
    sembuf: SEMBUF,
  },
};

/** This machine's layouts. */
export function sysvLayout(): SysvLayout {
  return SYSV_LAYOUT[Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"];
}

/** Owner and permissions of a System V object (`struct ipc_perm`). */
export interface IpcPerm {
  /** The key it was created with (0 for `IPC_PRIVATE`). */
  key: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Creator user id. */
  cuid: number;
  /** Creator group id. */
  cgid: number;
  /** Permission bits (low 9 bits) and flags. */
  mode: number;
}

/** Decodes `struct ipc_perm` at the start of a `*_ds` buffer. */
export function decodeIpcPerm(dv: DataView): IpcPerm {
  const l = sysvLayout().ipc_perm;
  return {
    key: dv.getInt32(l.key, true),
    uid: dv.getUint32(l.uid, true),
    gid: dv.getUint32(l.gid, true),
    cuid: dv.getUint32(l.cuid, true),
    cgid: dv.getUint32(l.cgid, true),
    mode: dv.getUint32(l.mode, true),
  };
}

/** Writes uid, gid and mode into a `*_ds` buffer for `IPC_SET`. */
export function encodeIpcPermSet(
  dv: DataView,
  set: { uid: number; gid: number; mode: number },
): void {
  const l = sysvLayout().ipc_perm;
  dv.setUint32(l.uid, set.uid, true);
  dv.setUint32(l.gid, set.gid, true);
  dv.setUint32(l.mode, set.mode, true);
}

/** A time field: seconds since the epoch, 0 meaning "never". */
export function timeField(dv: DataView, offset: number): Date | null {
  const s = Number(dv.getBigInt64(offset, true));
  return s === 0 ? null : new Date(s * 1000);
}

/** One semaphore operation for `semop`. */
export interface SemOp {
  /** Which semaphore of the set (0-based). */
  index: number;
  /** Added to the value: negative waits until it can subtract, 0 waits for zero. */
  delta: number;
  /** `SEM_UNDO`: the kernel reverses this op when the process exits. */
  undo?: boolean;
  /** `IPC_NOWAIT`: fail with `WouldBlock` instead of waiting. */
  noWait?: boolean;
}

/** Encodes `ops` as an array of `struct sembuf`. */
export function encodeSembufs(
  ops: readonly SemOp[],
  undoFlag: number,
  noWaitFlag: number,
): Uint8Array<ArrayBuffer> {
  const l = sysvLayout().sembuf;
  const out = new Uint8Array(ops.length * l.size);
  const dv = new DataView(out.buffer);
  ops.forEach((op, i) => {
    const o = i * l.size;
    dv.setUint16(o + l.num, op.index, true);
    dv.setInt16(o + l.op, op.delta, true);
    dv.setInt16(o + l.flg, (op.undo ? undoFlag : 0) | (op.noWait ? noWaitFlag : 0), true);
  });
  return out;
}
