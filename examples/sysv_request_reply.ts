/**
 * Typed request/reply on one System V message queue: a server answers
 * requests sent as type 1 and replies with type = the client's pid, so any
 * number of clients share the queue and each receives only its own replies
 * (the classic `msgrcv(..., pid, ...)` pattern).
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/sysv_request_reply.ts [clients]
 *
 * @module
 */

import { sysv } from "../mod.ts";

const REQUEST = 1;
const enc = new TextEncoder();
const dec = new TextDecoder();
const [role, idArg, clientsArg] = Deno.args;

/** A request is "pid n"; the reply is n squared, sent as type pid. */
async function server(q: sysv.MessageQueue, requests: number): Promise<void> {
  for (let i = 0; i < requests; i++) {
    const req = await q.receive({ type: REQUEST, timeout: 10_000 });
    const [pid, n] = dec.decode(req.data).split(" ").map(Number);
    await q.send(enc.encode(String(n! * n!)), { type: pid!, timeout: 10_000 });
  }
}

async function client(q: sysv.MessageQueue, asks: number): Promise<void> {
  for (let n = 1; n <= asks; n++) {
    await q.send(enc.encode(`${Deno.pid} ${n}`), { type: REQUEST, timeout: 10_000 });
    const reply = await q.receive({ type: Deno.pid, timeout: 10_000 });
    if (Number(dec.decode(reply.data)) !== n * n) throw new Error(`wrong reply for ${n}`);
  }
  console.log(`client ${Deno.pid}: ${asks} replies, all mine and all right`);
}

const ASKS = 20;
if (role === "client") {
  await client(sysv.MessageQueue.fromId(Number(idArg)), ASKS);
} else {
  const clients = Number(clientsArg ?? 3);
  const q = sysv.MessageQueue.private();
  try {
    const self = new URL(import.meta.url).pathname;
    const children = Array.from({ length: clients }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-ffi", self, "client", String(q.id)],
        stdout: "inherit",
      }).spawn());
    await server(q, clients * ASKS);
    for (const c of children) {
      if (!(await c.status).success) throw new Error("a client failed");
    }
    console.log(
      `server: answered ${clients * ASKS} requests; ${q.stat().messages} left in the queue`,
    );
  } finally {
    q.remove();
  }
}
