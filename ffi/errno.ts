/**
 * errno: reading it, naming it, and turning it into the `Deno.errors.*` class a
 * Deno user already catches. The `check*` helpers are the only way a failing
 * libc call becomes an exception, so every error names the action, the object,
 * the call and the errno the same way.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { readCString } from "./cstring.ts";

/**
 * Linux errno numbers: the whole table of `<asm-generic/errno-base.h>` and
 * `<asm-generic/errno.h>` (x86_64 and aarch64 share it), so that every error
 * carries a name (`E2BIG`, not `E7`). Aliases (`EWOULDBLOCK`, `EDEADLOCK`,
 * `ENOTSUP`) are left out: one name per number.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
} as const;

/** The symbolic name of an errno constant, such as `"ENOENT"`. */
export type ErrnoCode = keyof typeof Errno;

const codeByNumber = new Map<number, string>(
  Object.entries(Errno).map(([k, v]) => [v, k]),
);

/** The symbolic name of `errno` (`"ENOENT"`), or `"E<number>"` when unknown. */
export function errnoCode(errno: number): string {
  return codeByNumber.get(errno) ?? `E${errno}`;
}

/**
 * Fields carried by every error this library raises for a failed system call.
 */
export interface SystemCallErrorFields {
  /** The errno value, for example `2`. */
  errno: number;
  /** The errno name, for example `"ENOENT"`. */
  code: string;
  /** The libc call that failed, for example `"shm_open"`. */
  syscall: string;
  /** The object the call was about: a name, key, id or path. */
  object?: string;
}

/**
 * A failed system call whose errno has no closer `Deno.errors` class (for
 * example `ENOSPC`, `EINVAL`, `ENOMEM`).
 *
 * @example Catching a SystemError
 * ```ts
 * import { SystemError } from "@ipc/shm";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const err = new SystemError("Cannot reserve memory", { errno: 28, code: "ENOSPC", syscall: "posix_fallocate" });
 * assertEquals(err.code, "ENOSPC");
 * assert(err instanceof Error);
 * ```
 */
export class SystemError extends Error implements SystemCallErrorFields {
  /** The errno value. */
  errno: number;
  /** The errno name. */
  code: string;
  /** The libc call that failed. */
  syscall: string;
  /** The object the call was about. */
  object?: string;

  /**
   * Makes the error for a failed call.
   *
   * @param message what failed, for people
   * @param fields errno, code, syscall and object, for programs
   */
  constructor(message: string, fields: SystemCallErrorFields) {
    super(message);
    this.name = "SystemError";
    this.errno = fields.errno;
    this.code = fields.code;
    this.syscall = fields.syscall;
    if (fields.object !== undefined) this.object = fields.object;
  }
}

/** A `Deno.errors.*` class (or any error class taking a message). */
export type ErrorCtor = new (message: string) => Error;

function classFor(errno: number): ErrorCtor | undefined {
  switch (errno) {
    case Errno.EEXIST:
      return Deno.errors.AlreadyExists;
    case Errno.ENOENT:
    case Errno.EIDRM:
      return Deno.errors.NotFound;
    case Errno.EACCES:
    case Errno.EPERM:
      return Deno.errors.PermissionDenied;
    case Errno.EAGAIN:
      return Deno.errors.WouldBlock;
    case Errno.ETIMEDOUT:
      return Deno.errors.TimedOut;
    case Errno.EINTR:
      return Deno.errors.Interrupted;
    case Errno.EBADF:
      return Deno.errors.BadResource;
    case Errno.ENOSYS:
    case Errno.EOPNOTSUPP:
      return Deno.errors.NotSupported;
    case Errno.EBUSY:
      return Deno.errors.Busy;
    default:
      return undefined;
  }
}

/** Where a failure happened: the call, what it was doing, and on what. */
export interface CallSite {
  /** The libc call, for example `"shm_open"`. */
  syscall: string;
  /** What the user asked for, for example `"Cannot open shared memory"`. */
  action: string;
  /** The object's name, key, id or path. */
  object?: string;
  /**
   * What to do about a given errno, by code (`{ EEXIST: "open it with …" }`):
   * appended to the message, so the error says how to get out of it.
   */
  hints?: Readonly<Partial<Record<string, string>>>;
}

/** The error type thrown for a failed call: a `Deno.errors.*` or `SystemError`. */
export type ErrnoError = Error & SystemCallErrorFields;

/**
 * Builds the typed error for `errno` at `site`:
 * `Cannot open shared memory "/jobs": shm_open failed with EEXIST (File exists)`.
 */
export function errnoError(errno: number, site: CallSite): ErrnoError {
  const code = errnoCode(errno);
  const what = site.object === undefined ? "" : ` "${site.object}"`;
  const hint = site.hints?.[code];
  const message = `${site.action}${what}: ${site.syscall} failed with ${code} (${strerror(errno)})${
    hint === undefined ? "" : `; ${hint}`
  }`;
  return typedError(errno, message, site);
}

/**
 * The typed error for `errno` with a message of the caller's own (for
 * failures whose errno alone would mislead, such as `EINVAL` for a removed
 * System V id); `errno`, `code` and `syscall` stay what the kernel said.
 */
export function typedError(
  errno: number,
  message: string,
  site: { syscall: string; object?: string },
  Ctor: ErrorCtor | undefined = classFor(errno),
): ErrnoError {
  const code = errnoCode(errno);
  const fields: SystemCallErrorFields = { errno, code, syscall: site.syscall };
  if (site.object !== undefined) fields.object = site.object;
  if (Ctor === undefined) return new SystemError(message, fields);
  return Object.assign(new Ctor(message), fields);
}

let errnoCell: Int32Array | undefined;

/**
 * The calling thread's errno. Read it right after the failing synchronous
 * call: any other FFI call in between may overwrite it.
 */
export function errno(): number {
  if (errnoCell === undefined) {
    const p = libc().__errno_location();
    // errno lives in thread-local storage: one location per thread for its lifetime.
    errnoCell = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p!, 4));
  }
  return errnoCell[0]!;
}

/**
 * The calling thread's errno cell itself. Hot paths fetch it *before* the
 * libc call and read `cell[0]` inline right after it: any JS function call in
 * between is an interrupt check where V8 may run a GC or install compiled
 * code, and the system calls those make can overwrite errno.
 */
export function errnoView(): Int32Array {
  errno();
  return errnoCell!;
}

/** Sets errno to 0 (for calls whose failure value is also a valid result). */
export function clearErrno(): void {
  errno();
  errnoCell![0] = 0;
}

/** `strerror(errno)`: the C library's words for an errno. */
export function strerror(n: number): string {
  return readCString(libc().strerror(n));
}

/** Throws the typed error for errno when `ret` is -1; returns `ret` otherwise. */
export function check(ret: number, site: CallSite): number {
  if (ret === -1) throw errnoError(errno(), site);
  return ret;
}

/** Like {@linkcode check} for calls returning `ssize_t`/`off_t` as bigint. */
export function checkBig(ret: number | bigint, site: CallSite): bigint {
  if (ret === -1 || ret === -1n) throw errnoError(errno(), site);
  return BigInt(ret);
}

/** For calls that return the error number instead of setting errno (`posix_fallocate`). */
export function checkReturned(ret: number, site: CallSite): void {
  if (ret !== 0) throw errnoError(ret, site);
}

/**
 * The open-or-create dance every named object needs: try `create`; if the
 * name exists, `open` it; if it vanished in between (another process removed
 * it), try again — a bounded number of times.
 */
export function createOrOpen<T>(create: () => T, open: () => T): T {
  for (let attempt = 0;; attempt++) {
    try {
      return create();
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    try {
      return open();
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) || attempt >= 8) throw e;
    }
  }
}

/**
 * Like {@linkcode check}, with errno already captured: callers read
 * `errnoView()[0]` inline right after the libc call (no JS call in between,
 * see {@linkcode errnoView}) and pass it here.
 */
export function checkCaptured(ret: number, captured: number, site: CallSite): number {
  if (ret === -1) throw errnoError(captured, site);
  return ret;
}
