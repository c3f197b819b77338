/**
 * Owners by name, as `ls -l` shows them: `getpwuid_r`/`getpwnam_r` through
 * libc, cached for the life of the process (a `watch` asks every refresh).
 *
 * @module
 */

import { libc } from "../ffi/libc.ts";
import { cString, decodeUtf8 } from "../ffi/cstring.ts";
import { PASSWD } from "../ffi/passwd.ts";

const names = new Map<number, string | null>();

/** The user name of `uid`, or null when the password database has none. */
export function userName(uid: number): string | null {
  const cached = names.get(uid);
  if (cached !== undefined) return cached;
  const name =
    lookup((pwd, buf, result) => libc().getpwuid_r(uid >>> 0, pwd, buf, BigInt(buf.length), result))
      ?.name ?? null;
  names.set(uid, name);
  return name;
}

/** The uid of user `name`, or undefined when there is no such user. */
export function uidOf(name: string): number | undefined {
  return lookup((pwd, buf, result) =>
    libc().getpwnam_r(cString(name), pwd, buf, BigInt(buf.length), result)
  )?.uid;
}

type Call = (pwd: Uint8Array, buf: Uint8Array, result: Uint8Array) => number;

function lookup(call: Call): { name: string; uid: number } | undefined {
  const pwd = new Uint8Array(PASSWD.size);
  const result = new BigUint64Array(1);
  // ERANGE means the entry's strings did not fit: grow the buffer, as the man page says.
  for (let size = 1024; size <= 1 << 20; size *= 4) {
    const buf = new Uint8Array(size);
    const err = call(pwd, buf, new Uint8Array(result.buffer));
    if (err === 34 /* ERANGE */) continue;
    if (err !== 0 || result[0] === 0n) return undefined;
    const dv = new DataView(pwd.buffer);
    // pw_name points into `buf`: decode it from there rather than through a raw pointer.
    const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
    const at = Number(dv.getBigUint64(PASSWD.name, true) - base);
    if (at < 0 || at >= buf.length) return undefined;
    const end = buf.indexOf(0, at);
    return {
      name: decodeUtf8(buf.subarray(at, end === -1 ? buf.length : end)),
      uid: dv.getUint32(PASSWD.uid, true),
    };
  }
  return undefined;
}
