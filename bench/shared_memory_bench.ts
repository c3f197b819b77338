// deno bench -A bench/shared_memory_bench.ts
// Open/close and view access costs, each group against a baseline.
import { SharedMemory } from "../posix/shared_memory.ts";
import { f64, i32, struct } from "../memory/layout.ts";

const name = `/bench-shm-${Deno.pid}`;
const shm = SharedMemory.create(name, { size: 1 << 20 });
const file = Deno.makeTempFileSync();
Deno.writeFileSync(file, new Uint8Array(4096));

Deno.bench("Deno.openSync + close of a 4 KiB file", { group: "open+close", baseline: true }, () => {
  Deno.openSync(file).close();
});
Deno.bench("SharedMemory.open + close (1 MiB object, mapped)", { group: "open+close" }, () => {
  SharedMemory.open(name).close();
});
Deno.bench(
  "SharedMemory.create + close + unlink (64 KiB, reserved)",
  { group: "open+close" },
  () => {
    const n = `/bench-shm-c-${Deno.pid}`;
    SharedMemory.create(n, { size: 65536 }).close();
    SharedMemory.unlink(n);
  },
);

const heap = new Float64Array(1 << 17);
const mapped = shm.view(Float64Array);
Deno.bench(
  "sum 1 MiB of f64 in a heap Float64Array",
  { group: "view access", baseline: true },
  () => {
    let s = 0;
    for (let i = 0; i < heap.length; i++) s += heap[i]!;
    if (s === -1) throw new Error();
  },
);
Deno.bench("sum 1 MiB of f64 through shm.view(Float64Array)", { group: "view access" }, () => {
  let s = 0;
  for (let i = 0; i < mapped.length; i++) s += mapped[i]!;
  if (s === -1) throw new Error();
});
const src = new Uint8Array(1 << 20).fill(7);
Deno.bench("copy 1 MiB into a heap Uint8Array", { group: "copy 1 MiB", baseline: true }, () => {
  new Uint8Array(heap.buffer).set(src);
});
Deno.bench("copy 1 MiB into shm.bytes", { group: "copy 1 MiB" }, () => {
  shm.bytes.set(src);
});

const Point = struct({ id: i32, x: f64, y: f64 });
const dv = new DataView(new ArrayBuffer(Point.size));
const rec = shm.struct(Point, 0);
Deno.bench("DataView getFloat64/setFloat64 (hand-written offsets)", {
  group: "struct field",
  baseline: true,
}, () => {
  dv.setFloat64(8, dv.getFloat64(8, true) + 1, true);
});
Deno.bench("struct accessor rec.x += 1", { group: "struct field" }, () => {
  rec.x += 1;
});

globalThis.addEventListener("unload", () => {
  shm.close();
  SharedMemory.unlink(name);
  Deno.removeSync(file);
});
