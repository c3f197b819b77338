// The design's layers, checked on the source: imports point down only
// (ffi/ ← memory/ ← posix/, sysv/ ← sync/ ← channel/, with mod.ts and cli.ts
// on top), posix/ and sysv/ never import each other, nothing imports mod.ts,
// and only ffi/libc.ts opens libc.
import { assertEquals } from "@std/assert";
import { dirname, fromFileUrl, join, relative, resolve } from "@std/path";

const root = resolve(dirname(fromFileUrl(import.meta.url)), "..");
const LAYER: Record<string, number> = {
  ffi: 0,
  memory: 1,
  posix: 2,
  sysv: 2,
  sync: 3,
  channel: 4,
  cli: 5,
};

function* sources(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(join(root, dir))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The library's own modules that `file` imports (relative specifiers), as root-relative paths. */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(join(root, file));
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^"']*?from\s+["'](\.[^"']+)["']/gm)) {
    found.push(relative(root, resolve(root, dirname(file), m[1]!)));
  }
  return found;
}

const layerOf = (path: string) => LAYER[path.split("/")[0]!];
const library = Object.keys(LAYER).flatMap((dir) => [...sources(dir)]);

Deno.test("Layering: every import of the library's modules points to the same or a lower layer", () => {
  const upward: string[] = [];
  for (const file of library) {
    for (const target of importsOf(file)) {
      const from = layerOf(file);
      const to = layerOf(target);
      if (target === "mod.ts") upward.push(`${file} imports mod.ts`);
      else if (to === undefined) continue; // cli.ts and other top-level files
      else if (to > from!) upward.push(`${file} (layer ${from}) imports ${target} (layer ${to})`);
    }
  }
  assertEquals(upward, []);
});

Deno.test("Layering: posix/ and sysv/ never import each other", () => {
  const crossing: string[] = [];
  for (const file of library) {
    const top = file.split("/")[0];
    if (top !== "posix" && top !== "sysv") continue;
    const other = top === "posix" ? "sysv/" : "posix/";
    for (const target of importsOf(file)) {
      if (target.startsWith(other)) crossing.push(`${file} imports ${target}`);
    }
  }
  assertEquals(crossing, []);
});

Deno.test("Layering: only ffi/libc.ts calls Deno.dlopen, and nothing imports mod.ts", () => {
  const offenders: string[] = [];
  for (const file of [...library, "mod.ts", "cli.ts"]) {
    const text = Deno.readTextFileSync(join(root, file));
    if (file !== "ffi/libc.ts" && /Deno\.dlopen\(/.test(text)) {
      offenders.push(`${file} opens a library`);
    }
    if (file !== "mod.ts" && importsOf(file).includes("mod.ts")) {
      offenders.push(`${file} imports mod.ts`);
    }
  }
  assertEquals(offenders, []);
});
