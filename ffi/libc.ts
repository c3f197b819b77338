/**
 * The one `Deno.dlopen` of glibc for the whole library, opened on first use.
 * Every symbol table is merged here so a symbol missing from this libc fails
 * once, at open, with an error that says what is supported.
 *
 * @module
 */

import { runtimeSymbols } from "./runtime.ts";
import { mmanSymbols } from "./mman.ts";
import { processSymbols } from "./process.ts";
import { semaphoreSymbols } from "./semaphore.ts";
import { sysvShmSymbols } from "./sysv_shm.ts";
import { sysvSemSymbols } from "./sysv_sem.ts";
import { fsSymbols } from "./fs.ts";
import { mqueueSymbols } from "./mqueue.ts";
import { sysvMsgSymbols } from "./sysv_msg.ts";
import { futexSymbols } from "./futex.ts";
import { passwdSymbols } from "./passwd.ts";

const symbols = {
  ...runtimeSymbols,
  ...mmanSymbols,
  ...processSymbols,
  ...semaphoreSymbols,
  ...sysvShmSymbols,
  ...sysvSemSymbols,
  ...fsSymbols,
  ...mqueueSymbols,
  ...sysvMsgSymbols,
  ...futexSymbols,
  ...passwdSymbols,
} as const satisfies Deno.ForeignLibraryInterface;

/** The merged symbol table type. */
export type LibcSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

let library: Deno.DynamicLibrary<typeof symbols> | undefined;

const SUPPORTED = "Linux with glibc 2.34 or newer on x86_64 or aarch64";

function unsupported(detail: string): Deno.errors.NotSupported {
  return new Deno.errors.NotSupported(
    `@ipc/shm cannot run here: ${detail}. It supports ${SUPPORTED}.`,
  );
}

function open(): Deno.DynamicLibrary<typeof symbols> {
  if (Deno.build.os !== "linux") {
    throw unsupported(`the OS is ${Deno.build.os} (tried Deno.build.os)`);
  }
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    throw unsupported(`the CPU is ${Deno.build.arch}`);
  }
  if (scopedFfiOnly()) throw scopedFfi();
  let lib: Deno.DynamicLibrary<typeof symbols>;
  try {
    lib = Deno.dlopen("libc.so.6", symbols);
  } catch (cause) {
    if (
      cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied
    ) {
      throw new Deno.errors.NotCapable(
        `@ipc/shm needs ${UNSCOPED} to call libc (this grants native code access outside Deno's sandbox)`,
        { cause },
      );
    }
    if (ffiState() !== "granted") throw scopedFfi(cause);
    throw unsupported(
      `Deno.dlopen("libc.so.6") failed (${
        (cause as Error).message
      }); musl and other C libraries are not supported`,
    );
  }
  const version = new Deno.UnsafePointerView(lib.symbols.gnu_get_libc_version()!).getCString();
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major < 2 || (major === 2 && minor < 34)) {
    lib.close();
    throw unsupported(`glibc is ${version}`);
  }
  return lib;
}

const UNSCOPED = "unscoped --allow-ffi (run: deno run --allow-ffi <script>)";

function ffiState(path?: string): Deno.PermissionState | undefined {
  return Deno.permissions.querySync?.(path === undefined ? { name: "ffi" } : { name: "ffi", path })
    .state;
}

/**
 * `--allow-ffi=libc.so.6` grants one path, which Deno reads relative to the
 * working directory (so dlopen looks for ./libc.so.6), and Deno's pointer
 * helpers refuse without the unscoped permission anyway.
 */
function scopedFfiOnly(): boolean {
  return ffiState() !== "granted" && ffiState("libc.so.6") === "granted";
}

function scopedFfi(cause?: unknown): Deno.errors.NotCapable {
  return new Deno.errors.NotCapable(
    `@ipc/shm needs ${UNSCOPED}: a scoped --allow-ffi=<path> is not enough. Deno reads ` +
      `the path relative to the working directory (--allow-ffi=libc.so.6 means ./libc.so.6), ` +
      `and its pointer helpers need the unscoped permission`,
    cause === undefined ? undefined : { cause },
  );
}

/** The libc symbols, loading the library on first call. */
export function libc(): LibcSymbols {
  return (library ??= open()).symbols;
}

// Load at import when --allow-ffi is already granted: the library lives as long
// as the process, and loading it inside the first call would make it look like a
// resource leaked by whichever test or request happened to call first. Without
// the permission we wait for the first call, so importing never prompts.
if (
  Deno.build.os === "linux" &&
  Deno.permissions.querySync?.({ name: "ffi" }).state === "granted"
) {
  try {
    libc();
  } catch {
    // Reported again, with its message, by the first call that needs libc.
  }
}
