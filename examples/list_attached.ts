/**
 * Seed 001's listing program: every System V shared memory segment, and the
 * processes attached to each (from /proc, through libc).
 *
 *     deno run --allow-ffi examples/list_attached.ts
 *
 * @module
 */

import { sysv } from "../mod.ts";

const segments = sysv.listSegments();
if (segments.length === 0) console.log("No System V shared memory segments.");
for (const s of segments) {
  const key = `0x${(s.key >>> 0).toString(16).padStart(8, "0")}`;
  console.log(
    `Segment ${s.id} (key ${key}, ${s.size} bytes, nattch ${s.nattch}${
      s.removed ? ", removed" : ""
    }):`,
  );
  if (s.attached.length === 0) console.log("  no attached processes visible");
  for (const p of s.attached) console.log(`  pid ${p.pid} (${p.command})`);
}
