/**
 * Small file helpers over libc (`open`/`read`, `opendir`/`readdir`, `stat`):
 * enough to read `/proc` and `/dev/shm` with `--allow-ffi` alone.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { errno, errnoError } from "./errno.ts";
import { cString, readCString } from "./cstring.ts";
import { O } from "./constants.ts";
import { decodeStat, type FileStat, STAT_LAYOUT } from "./stat.ts";

const chunk = new Uint8Array(65536);
const decoder = new TextDecoder();

/** Reads a whole (small, possibly `/proc`) file as text; `undefined` if it cannot be opened. */
export function readText(path: string): string | undefined {
  const fd = libc().open(cString(path), O.RDONLY | O.CLOEXEC);
  if (fd === -1) return undefined;
  try {
    const parts: Uint8Array[] = [];
    for (;;) {
      const n = Number(libc().read(fd, chunk, BigInt(chunk.length)));
      if (n <= 0) break;
      parts.push(chunk.slice(0, n));
    }
    let total = 0;
    for (const p of parts) total += p.length;
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return decoder.decode(all);
  } finally {
    libc().close(fd);
  }
}

// struct dirent on x86_64/aarch64 glibc: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[256].
const D_NAME = 19;

/** The entry names of a directory (without "." and ".."). */
export function listDir(path: string, action = "Cannot list directory"): string[] {
  const dir = libc().opendir(cString(path));
  if (dir === null) throw errnoFor(action, path, "opendir");
  const names: string[] = [];
  try {
    for (;;) {
      const ent = libc().readdir(dir);
      if (ent === null) break;
      const name = readCString(Deno.UnsafePointer.offset(ent, D_NAME));
      if (name !== "." && name !== "..") names.push(name);
    }
  } finally {
    libc().closedir(dir);
  }
  return names;
}

/** `stat(path)`, decoded; `undefined` when it does not exist (any more). */
export function statPath(path: string): FileStat | undefined {
  const buf = new Uint8Array(
    STAT_LAYOUT[Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"].size,
  );
  if (libc().stat(cString(path), buf) === -1) return undefined;
  return decodeStat(buf);
}

function errnoFor(action: string, object: string, syscall: string): Error {
  return errnoError(errno(), { action, object, syscall });
}
