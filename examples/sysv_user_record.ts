/**
 * Seed 002's System V program in Deno: get (or create) the segment for key
 * 0x7A2F sized for `struct shared_user_record`, print what it holds, write new
 * values, detach, and remove it. Its output matches the seed's C++ program.
 *
 *     deno run --allow-ffi examples/sysv_user_record.ts <user_id> <username>
 *
 * @module
 */

import { char, i32, struct, sysv } from "../mod.ts";

// struct shared_user_record { int user_id; char username[64]; };
const SharedUserRecord = struct({ user_id: i32, username: char(64) });

if (Deno.args.length < 2) {
  console.error("Usage: sysv_user_record.ts <user_id> <username>");
  Deno.exit(1);
}

const segment = sysv.Segment.openOrCreate(0x7a2f, { size: SharedUserRecord.size, mode: 0o640 });
console.log(`Successfully obtained shared memory segment, ID: ${segment.id}`);
{
  using attachment = segment.attach();
  const record = attachment.struct(SharedUserRecord);
  console.log(
    `Existing values in shared memory: user_id = ${record.user_id}, username = ${record.username}`,
  );

  // atoi() and strncpy(…, sizeof - 1) semantics, as in the C++ original.
  record.user_id = Number.parseInt(Deno.args[0]!, 10) | 0;
  const bytes = new TextEncoder().encode(Deno.args[1]!).subarray(0, 63);
  record.username = new TextDecoder().decode(bytes);
  console.log(
    `Updated values in shared memory: user_id = ${record.user_id}, username = ${record.username}`,
  );
} // detached here (shmdt)
segment.remove(); // IPC_RMID: run this only when no process needs the segment any more
