import { assert, assertEquals, assertFalse, assertMatch, assertNotMatch } from "@std/assert";
import { fromFileUrl } from "@std/path";
import { spy } from "@std/testing/mock";
import { main, mainAsync } from "../cli.ts";
import { type IpcObject, KINDS, type Listing } from "../cli/_objects.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Semaphore } from "../posix/semaphore.ts";
import { Segment } from "../sysv/segment.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { MessageQueue } from "../sysv/message_queue.ts";
import { Channel } from "../channel/mod.ts";
import { Mutex, RwLock, Semaphore as Permits } from "../sync/mod.ts";
import { test, uniqueName } from "./_helpers.ts";

const CLI = fromFileUrl(new URL("../cli.ts", import.meta.url));
const HOLDER = fromFileUrl(new URL("./fixtures/cli_holder.ts", import.meta.url));
const decoder = new TextDecoder();

/** Runs the CLI in-process; its two output sinks are spies, so every line is kept. */
async function run(...args: string[]) {
  const out = spy((_s: string) => {});
  const err = spy((_s: string) => {});
  const code = await mainAsync(args, out, err);
  const text = (s: typeof out) => s.calls.map((c) => c.args[0] + "\n").join("");
  return { code, out: text(out), err: text(err), outCalls: out.calls.length };
}

async function json(...args: string[]): Promise<Listing> {
  const r = await run(...args, "--json");
  assertEquals(r.code, 0, r.err);
  return JSON.parse(r.out);
}

async function statJson(target: string, ...args: string[]): Promise<IpcObject> {
  const r = await run("stat", target, "--json", ...args);
  assertEquals(r.code, 0, r.err);
  return JSON.parse(r.out);
}

/** Best-effort removal of everything a test made. */
function cleanup(...fns: (() => void)[]): void {
  for (const f of fns) {
    try {
      f();
    } catch { /* removed by the test itself */ }
  }
}

/** A child process holding a Channel (3 queued), a locked Mutex, an attached segment and a queue. */
async function holder(prefix: string, queued = 3) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-ffi", HOLDER, prefix, `${queued}`],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("holder exited before it was ready");
    line += decoder.decode(value);
  }
  await reader.cancel();
  const ids = JSON.parse(line) as { segment: number; queue: number };
  return {
    pid: child.pid,
    ...ids,
    /** Lets it finish normally. */
    async release() {
      await child.stdin.close();
      await child.status;
    },
    /** Kills it, leaving its objects behind with a dead holder. */
    async kill() {
      child.kill("SIGKILL");
      await child.status;
      await child.stdin.close().catch(() => {});
    },
    removeAll() {
      cleanup(
        () => SharedMemory.unlink(`${prefix}-chan`),
        () => SharedMemory.unlink(`${prefix}-mutex`),
        () => Segment.fromId(ids.segment).remove(),
        () => MessageQueue.fromId(ids.queue).remove(),
      );
    },
  };
}

function ipcs(flag: string, id: number): string[] | undefined {
  try {
    const r = new Deno.Command("ipcs", { args: [flag], stdout: "piped" }).outputSync();
    const line = decoder.decode(r.stdout).split("\n").find((l) => l.split(/\s+/)[1] === `${id}`);
    return line?.trim().split(/\s+/);
  } catch {
    return undefined; // no ipcs here
  }
}

test("cli ls names each kind and shows a child's pids and command, as ipcs and /proc show them", async () => {
  const prefix = uniqueName("clils");
  const h = await holder(prefix);
  try {
    const listing = await json("ls");
    const find = (f: (o: IpcObject) => boolean) => {
      const o = listing.objects.find(f);
      assert(o, "listed");
      return o;
    };
    const chan = find((o) => o.name === `${prefix}-chan`);
    const mutex = find((o) => o.name === `${prefix}-mutex`);
    const seg = find((o) => o.kind === "sysv-segment" && o.id === h.segment);
    const queue = find((o) => o.kind === "sysv-message-queue" && o.id === h.queue);
    assertEquals([chan.kind, mutex.kind], ["channel", "mutex"]);
    for (const o of [chan, mutex, seg]) {
      assertEquals(o.pids, [{ pid: h.pid, command: "deno" }], `${o.kind} is mapped by the holder`);
    }
    // The pids come from /proc/<pid>/maps: check that file directly.
    const maps = Deno.readTextFileSync(`/proc/${h.pid}/maps`);
    assert(maps.includes(`/dev/shm${prefix}-chan`));
    assert(maps.includes(`/SYSV${seg.key!.slice(2)}`));
    assertEquals((queue.state as { messages: number }).messages, 2);
    const ipcsSeg = ipcs("-m", h.segment);
    if (ipcsSeg) {
      // key shmid owner perms bytes nattch
      assertEquals(ipcsSeg.slice(0, 6), [
        seg.key,
        `${seg.id}`,
        seg.user ?? `${seg.uid}`,
        seg.mode.slice(1),
        `${seg.size}`,
        "1",
      ]);
      // key msqid owner perms used-bytes messages
      assertEquals(ipcs("-q", h.queue)!.slice(0, 6), [
        queue.key,
        `${queue.id}`,
        queue.user ?? `${queue.uid}`,
        queue.mode.slice(1),
        "7",
        "2",
      ]);
    }
    const table = await run("ls", `${prefix}*`);
    assertEquals(table.code, 0, table.err);
    assertMatch(
      table.out,
      new RegExp(
        `channel\\s+${prefix}-chan\\s+-\\s+\\S+\\s+600\\s+\\S+\\s+${h.pid}\\(deno\\)\\s+spsc 3/8 queued, 1 sender`,
      ),
    );
    assertMatch(table.out, new RegExp(`mutex\\s+${prefix}-mutex\\s.*held by ${h.pid}`));
  } finally {
    await h.release();
    h.removeAll();
  }
});

test("cli stat decodes another process's Channel (queued, sender) and Mutex (holder)", async () => {
  const prefix = uniqueName("clistat");
  const h = await holder(prefix, 5);
  try {
    const chan = await statJson(`${prefix}-chan`);
    assertEquals(chan.kind, "channel");
    const c = chan.state as Record<string, unknown>;
    assertEquals(
      [c.topology, c.capacity, c.maxMessageSize, c.queued, c.sent, c.received, c.ended, c.dropped],
      ["spsc", 8, 32, 5, 5, 0, false, 0],
    );
    assertEquals(c.senders, [{ pid: h.pid, command: "deno", alive: true, ended: false }]);
    assertEquals(c.receiver, null, "nobody has received yet");
    const m = (await statJson(`${prefix}-mutex`)).state as Record<string, unknown>;
    assertEquals(m.holder, { pid: h.pid, command: "deno", alive: true });
    assertEquals([m.contended, m.waiters, m.recoveries], [false, 0, 0]);
    const text = await run("stat", `${prefix}-chan`);
    assertMatch(text.out, /queued\s+5\n/);
    assertMatch(text.out, new RegExp(`senders\\s+${h.pid} \\(deno\\)\\n`));
    const seg = await statJson(`${h.segment}`, "--shm");
    assertEquals((seg.state as { attached: number }).attached, 1);
  } finally {
    await h.release();
    h.removeAll();
  }
});

test("cli reading state changes no byte of the objects it reads", async () => {
  const prefix = uniqueName("cliro");
  const h = await holder(prefix, 2);
  const name = uniqueName("cliro");
  using rw = RwLock.create(name);
  using _r = rw.tryRead();
  try {
    const paths = [`${prefix}-chan`, `${prefix}-mutex`, name].map((n) => `/dev/shm${n}`);
    const before = paths.map((p) => Deno.readFileSync(p));
    for (const args of [["ls"], ["ls", "--json"], ["stat", `${prefix}-chan`], ["stat", name]]) {
      assertEquals((await run(...args)).code, 0);
    }
    const watched = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-ffi", CLI, "watch", `${prefix}*`, "--count", "2", "--interval", "0.1"],
      stdout: "piped",
    }).output();
    assertEquals(watched.code, 0);
    assertEquals(paths.map((p) => Deno.readFileSync(p)), before);
  } finally {
    await h.release();
    h.removeAll();
    RwLock.unlink(name);
  }
});

test("cli JSON has one spelling per kind, listed in KINDS, and says when mqueue is unmounted", async () => {
  const p = uniqueName("clikind");
  const made = {
    "shared-memory": `${p}-shm`,
    channel: `${p}-chan`,
    mutex: `${p}-mutex`,
    rwlock: `${p}-rw`,
    "permit-semaphore": `${p}-permits`,
    semaphore: `${p}-sem`,
  };
  SharedMemory.create(made["shared-memory"], { size: 100 }).close();
  Channel.create(made.channel, { capacity: 4, maxMessageSize: 8 }).close();
  Mutex.create(made.mutex).close();
  RwLock.create(made.rwlock).close();
  Permits.create(made["permit-semaphore"], { permits: 2 }).close();
  Semaphore.create(made.semaphore, { value: 3 }).close();
  const seg = Segment.private(64);
  const set = SemaphoreSet.private(2);
  const queue = MessageQueue.private();
  try {
    const listing = await json("ls");
    assertEquals(listing.schema, 1);
    for (const o of listing.objects) assert(KINDS.includes(o.kind), o.kind);
    for (const [kind, name] of Object.entries(made)) {
      assertEquals(listing.objects.find((o) => o.name === name)?.kind, kind, name);
    }
    const byId = (kind: string, id: number) =>
      listing.objects.find((o) => o.kind === kind && o.id === id);
    assert(byId("sysv-segment", seg.id));
    assertEquals(
      (byId("sysv-semaphore-set", set.id)?.state as { semaphores: unknown[] }).semaphores.length,
      2,
    );
    assert(byId("sysv-message-queue", queue.id));
    const sem = listing.objects.find((o) => o.name === made.semaphore)!;
    assertEquals(sem.state, { value: 3, waiters: 0 });
    const permits = listing.objects.find((o) => o.name === made["permit-semaphore"])!;
    assertEquals(permits.state, { permits: 2, available: 2, holders: [], sleepers: 0 });
    if (!listing.posixMessageQueues.mounted) {
      assertMatch(listing.posixMessageQueues.hint!, /mount -t mqueue/);
      assertMatch((await run("ls", `${p}*`)).out, /note: No mqueue filesystem is mounted/);
    }
  } finally {
    for (const name of Object.values(made)) {
      cleanup(() => name === made.semaphore ? Semaphore.unlink(name) : SharedMemory.unlink(name));
    }
    seg.remove();
    set.remove();
    queue.remove();
  }
});

test("cli ls filters: --shm, --sem, --queues, --kind, --user, --pid and a name glob", async () => {
  const p = uniqueName("clifilter");
  using chan = Channel.create(`${p}-chan`, { capacity: 4, maxMessageSize: 8 });
  SharedMemory.create(`${p}-plain`, { size: 10 }).close();
  Semaphore.create(`${p}-sem`).close();
  const queue = MessageQueue.private();
  const other = uniqueName("clifilter-other");
  SharedMemory.create(other, { size: 10 }).close();
  try {
    const names = async (...args: string[]) =>
      (await json("ls", ...args)).objects.map((o) => o.name ?? `${o.kind} ${o.id}`).sort();
    assertEquals(await names(`${p}*`), [`${p}-chan`, `${p}-plain`, `${p}-sem`]);
    assertEquals(await names(`${p}-[cp]*`), [`${p}-chan`, `${p}-plain`]);
    assertEquals(await names(`${p}-???`), [`${p}-sem`]);
    assertEquals(await names(`${p}*`, "--shm"), [`${p}-chan`, `${p}-plain`]);
    assertEquals(await names(`${p}*`, "--sem"), [`${p}-sem`]);
    assertEquals(await names(`${p}*`, "--sem", "--shm"), [`${p}-chan`, `${p}-plain`, `${p}-sem`]);
    assertEquals(await names(`${p}*`, "--kind", "channel"), [`${p}-chan`]);
    assertEquals(await names(`${queue.id}`, "--queues"), [`sysv-message-queue ${queue.id}`]);
    assertEquals(await names(`${p}*`, "--queues"), []);
    const me = Deno.uid() ?? 0;
    const user = (await json("ls", `${p}-chan`)).objects[0]!.user;
    assertEquals((await names(`${p}*`, "--user", `${me}`)).length, 3);
    if (user !== null) assertEquals((await names(`${p}*`, "--user", user)).length, 3);
    assertEquals(await names(`${p}*`, "--user", "4000000000"), []);
    // Only the channel is mapped (by this process): --pid finds it and nothing else of ours.
    assertEquals(await names(`${p}*`, "--pid", `${Deno.pid}`), [`${p}-chan`]);
    assertEquals(await names(`${p}*`, "--pid", "1"), []);
    assertEquals((await run("ls", "--user", "no-such-user-really")).code, 2);
    assertEquals((await run("ls", "--pid", "x")).code, 2);
    assertEquals((await run("ls", "--kind", "posix-shm")).code, 2, "the old spelling is gone");
    assert(chan.topology === "mpmc");
  } finally {
    cleanup(
      () => SharedMemory.unlink(`${p}-chan`),
      () => SharedMemory.unlink(`${p}-plain`),
      () => Semaphore.unlink(`${p}-sem`),
      () => SharedMemory.unlink(other),
      () => queue.remove(),
    );
  }
});

test("cli rm takes several targets and globs and says what happened to each", async () => {
  const p = uniqueName("clirm");
  for (const s of ["a1", "a2", "b", "keep"]) SharedMemory.create(`${p}-${s}`, { size: 8 }).close();
  const h = await holder(`${p}-h`, 0);
  try {
    const r = await run("rm", `${p}-b`, `${p}-a*`);
    assertEquals(r.code, 0, r.err);
    assertEquals(r.out.trim().split("\n").sort(), [
      `unlinked ${p}-a1 (shared-memory)`,
      `unlinked ${p}-a2 (shared-memory)`,
      `unlinked ${p}-b (shared-memory)`,
    ]);
    assertEquals((await json("ls", `${p}-*`)).objects.map((o) => o.name).sort(), [
      `${p}-h-chan`,
      `${p}-h-mutex`,
      `${p}-keep`,
    ]);
    const mapped = await run("rm", `${p}-h-chan`);
    assertEquals(
      mapped.out.trim(),
      `unlinked ${p}-h-chan (channel); 1 process still maps it until exit or close: ${h.pid}(deno)`,
    );
    const seg = await run("rm", `${h.segment}`);
    assertEquals(seg.code, 0, seg.err);
    assertEquals(
      seg.out.trim(),
      `marked System V segment ${h.segment} for removal; 1 process still attached: ${h.pid}(deno)`,
    );
    const q = await run("rm", `${h.queue}`);
    assertMatch(
      q.out,
      new RegExp(`^removed System V message queue ${h.queue} \\(key 0x00000000\\)`),
    );
    assertEquals((await run("rm", `${p}-gone`)).code, 1, "nothing matches");
    assertEquals((await run("rm", "/x", "not-a-target")).code, 2);
    assertEquals((await run("rm")).code, 2);
  } finally {
    await h.release();
    h.removeAll();
    cleanup(() => SharedMemory.unlink(`${p}-keep`));
  }
});

test("cli rm refuses an ambiguous target (exit 2) and then removes nothing", async () => {
  const name = uniqueName("cliamb");
  const lone = uniqueName("cliamb");
  SharedMemory.create(name, { size: 64 }).close();
  Semaphore.create(name).close(); // same name: a semaphore too
  SharedMemory.create(lone, { size: 64 }).close();
  const key = 0x5c1e0000 + (Deno.pid & 0xffff);
  const seg = Segment.create(key, { size: 64 });
  const set = SemaphoreSet.create(key, { count: 1 });
  try {
    const amb = await run("rm", lone, name);
    assertEquals(amb.code, 2);
    assertMatch(
      amb.err,
      /ambiguous: (semaphore .* and shared-memory|shared-memory .* and semaphore) .*; add --shm, --sem/,
    );
    assertEquals((await json("ls", lone)).objects.length, 1, "the unambiguous target stayed too");
    assertEquals((await run("rm", name, "--sem")).out.trim(), `unlinked ${name} (semaphore)`);
    assertEquals((await run("rm", name)).out.trim(), `unlinked ${name} (shared-memory)`);
    const hex = `0x${key.toString(16)}`;
    assertEquals((await run("rm", hex)).code, 2, "a key with a segment and a set is ambiguous");
    assertMatch((await run("stat", hex, "--shm")).out, new RegExp(`sysv-segment ${seg.id}`));
    assertEquals(
      (await run("rm", hex, "--shm")).out.trim(),
      `removed System V segment ${seg.id} (key 0x${key.toString(16).padStart(8, "0")})`,
    );
    assertEquals((await run("rm", `${set.id}`, "--sem")).code, 0);
    assertEquals((await json("ls", `${set.id}`)).objects, []);
  } finally {
    cleanup(
      () => SharedMemory.unlink(name),
      () => SharedMemory.unlink(lone),
      () => Semaphore.unlink(name),
      () => seg.remove(),
      () => set.remove(),
    );
  }
});

test("cli rm --stale --dry-run, then rm --stale, removes objects whose holder was killed", async () => {
  const p = uniqueName("clistale");
  const h = await holder(p, 1);
  SharedMemory.create(`${p}-plain`, { size: 8 }).close();
  try {
    assertEquals((await run("rm", "--stale", `${p}*`)).out.trim(), "nothing is stale");
    await h.kill();
    const dry = await run("rm", "--stale", "--dry-run", `${p}*`);
    assertEquals(dry.code, 0, dry.err);
    assertEquals(dry.out.trim().split("\n").sort(), [
      `would unlink ${p}-chan (channel)`,
      `would unlink ${p}-mutex (mutex)`,
    ]);
    assertEquals((await json("ls", `${p}*`)).objects.length, 3, "a dry run removes nothing");
    const m = (await statJson(`${p}-mutex`)).state as { holder: { alive: boolean } };
    assertFalse(m.holder.alive, "the killed holder is shown dead");
    const real = await run("rm", "--stale", `${p}*`);
    assertEquals(real.out.trim().split("\n").sort(), [
      `unlinked ${p}-chan (channel)`,
      `unlinked ${p}-mutex (mutex)`,
    ]);
    assertEquals((await json("ls", `${p}*`)).objects.map((o) => o.name), [`${p}-plain`]);
  } finally {
    h.removeAll();
    cleanup(() => SharedMemory.unlink(`${p}-plain`));
  }
});

test("cli --help of every subcommand is complete, and says how to install", async () => {
  for (const cmd of ["", "ls", "stat", "rm", "watch"]) {
    const r = await run(...(cmd ? [cmd] : []), "--help");
    assertEquals(r.code, 0);
    if (cmd) assertMatch(r.out, new RegExp(`^ipc-shm ${cmd} `));
    for (
      const flag of cmd === "" || cmd === "ls"
        ? ["--shm", "--sem", "--queues", "--user", "--pid", "--kind"]
        : []
    ) {
      assert(r.out.includes(flag), `${cmd} --help mentions ${flag}`);
    }
  }
  assertMatch(
    (await run("--help")).out,
    /deno install -g --allow-ffi -n ipc-shm jsr:@ipc\/shm\/cli/,
  );
  assertMatch((await run("rm", "--help")).out, /--stale[\s\S]*--dry-run/);
  assertMatch((await run("watch", "--help")).out, /--interval/);
  assertEquals((await run("help", "stat")).out, (await run("stat", "--help")).out);
});

test("cli runs as a program with --allow-ffi only, with exit codes", async () => {
  const ok = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", CLI, "ls", "--json"],
    stdout: "piped",
  }).output();
  assertEquals(ok.code, 0);
  assert(Array.isArray(JSON.parse(decoder.decode(ok.stdout)).objects));
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", CLI, "stat", "/t-none-really"],
    stderr: "piped",
  }).output();
  assertEquals(bad.code, 1);
  assertMatch(decoder.decode(bad.stderr), /nothing matches/);
});

test("cli refuses unknown options and misplaced ones with exit 2 and one usage line on stderr", async () => {
  for (
    const args of [["ls", "--jsn"], ["ls", "-x"], ["ls", "--semaphore"], ["ls", "--stale"], [
      "stat",
      "/x",
      "--interval",
      "1",
    ]]
  ) {
    const r = await run(...args);
    assertEquals(r.code, 2, args.join(" "));
    assertMatch(r.err, /^ipc-shm: /);
    assertEquals(r.outCalls, 0, "nothing is printed on stdout for a usage error");
  }
  assertEquals((await run()).code, 2);
  assertEquals((await run("frob")).code, 2);
});

test("cli keeps a hex key as a key: 0x7a2f is not read as the id 31279", async () => {
  const r = await run("stat", "0x7a2f", "--json");
  // Nothing has key 0x7a2f here; a parser that turned it into a number would report the id.
  assertEquals(r.code, 1, r.err);
  assertMatch(r.err, /nothing matches 0x7a2f/);
});

test("cli watch prints plain timestamped listings when stdout is not a terminal", async () => {
  const name = uniqueName("cliwatchplain");
  using _ch = Channel.create(name, { capacity: 4, maxMessageSize: 8 });
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-ffi", CLI, "watch", name, "--count", "3", "--interval", "0.1"],
      stdout: "piped",
    }).output();
    assertEquals(r.code, 0);
    const text = decoder.decode(r.stdout);
    assertEquals(text.match(/^--- \d{4}-\d\d-\d\dT[\d:.]+Z 1 objects ---$/gm)?.length, 3);
    assertFalse(text.includes("\x1b"), "no escape codes in a pipe");
    assertMatch(text, new RegExp(`channel\\s+${name}\\s.*0/4\\s+tx 0 rx 0`));
  } finally {
    Channel.unlink(name);
  }
});

function tmuxAvailable(): boolean {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "cli watch redraws in place under a real terminal, highlights changes, and quits on q",
  ignore: !tmuxAvailable(),
  fn: async () => {
    const name = uniqueName("cliwatch");
    const socket = `ipcshm-${Deno.pid}`;
    const tmux = (...args: string[]) =>
      new Deno.Command("tmux", { args: ["-L", socket, ...args], stdout: "piped", stderr: "piped" })
        .outputSync();
    const screen = (escapes = false) =>
      decoder.decode(tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", "w").stdout);
    using ch = Channel.create(name, { capacity: 16, maxMessageSize: 8 });
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      const started = tmux(
        "new-session",
        "-d",
        "-s",
        "w",
        "-x",
        "120",
        "-y",
        "30",
        `${Deno.execPath()} run --allow-ffi ${CLI} watch '${name}' --interval 0.2`,
      );
      assert(started.success, decoder.decode(started.stderr));
      let shown = "";
      for (let i = 0; i < 100 && !shown.includes(name); i++) {
        await wait(100);
        shown = screen();
      }
      assertMatch(shown, /^ipc-shm watch {2}\d\d:\d\d:\d\d {2}1 objects {2}every 0.2s {2}q quits/);
      assertEquals(shown.match(/ipc-shm watch/g)?.length, 1, "redrawn in place, not scrolled");
      for (let i = 0; i < 3; i++) ch.trySend(new Uint8Array([i]));
      let after = "";
      for (let i = 0; i < 50 && !after.includes("3/16"); i++) {
        await wait(100);
        after = screen(true);
      }
      assert(after.includes("\x1b[7m3/16"), "the new depth is shown in reverse video");
      tmux("send-keys", "-t", "w", "q");
      let alive = true;
      for (let i = 0; i < 50 && alive; i++) {
        await wait(100);
        alive = tmux("has-session", "-t", "w").success;
      }
      assertFalse(alive, "q quits (the session ends with its only command)");
    } finally {
      tmux("kill-server");
      Channel.unlink(name);
    }
  },
});

test("cli main() runs ls/stat/rm synchronously and sends watch to mainAsync()", () => {
  let text = "";
  assertEquals(main(["ls", "--json"], (s) => (text += s)), 0);
  assert(Array.isArray(JSON.parse(text).objects));
  let err = "";
  assertEquals(main(["watch"], () => {}, (s) => (err += s)), 2);
  assertMatch(err, /mainAsync\(\)/);
});

function canMountMqueue(): boolean {
  try {
    return new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", "mount -t mqueue none /dev/mqueue"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "cli lists, decodes and unlinks a POSIX message queue where mqueue is mounted",
  // Needs root for a private mount namespace (unshare -m) with its own mqueue mount.
  ignore: !canMountMqueue(),
  fn: async () => {
    const name = uniqueName("climq");
    const fixture = fromFileUrl(new URL("./fixtures/cli_mqueue.ts", import.meta.url));
    const r = await new Deno.Command("unshare", {
      args: [
        "-m",
        "sh",
        "-c",
        'mount -t mqueue none /dev/mqueue && exec "$0" run --quiet --allow-ffi "$1" "$2"',
        Deno.execPath(),
        fixture,
        name,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(r.code, 0, decoder.decode(r.stderr));
    const got = JSON.parse(decoder.decode(r.stdout));
    const listing = JSON.parse(got.ls.out) as Listing;
    assertEquals(listing.posixMessageQueues.mounted, true);
    assertEquals(listing.objects.map((o) => [o.kind, o.name]), [["message-queue", name]]);
    assertEquals(listing.objects[0]!.state, {
      messages: 2,
      maxMessages: 4,
      maxMessageSize: 16,
      bytes: 8,
    });
    assertMatch(got.table.out, new RegExp(`message-queue\\s+${name}\\s.*2 message\\(s\\)`));
    assertNotMatch(got.table.out, /note: No mqueue/);
    assertMatch(got.stat.out, /messages\s+2\n/);
    assertEquals(got.rm.out.trim(), `unlinked ${name} (message-queue)`);
    assertEquals(JSON.parse(got.after.out).objects, []);
  },
});

test("cli stat counts waiters: GETNCNT/GETZCNT of a System V set, a contended Mutex", async () => {
  const set = SemaphoreSet.private(2);
  set.setValue(1, 1);
  const prefix = uniqueName("cliwait");
  const h = await holder(prefix, 0);
  // Two children blocked in semop: one taking semaphore 0 (value 0), one waiting for 1 to be zero.
  const blockOn = (op: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { SemaphoreSet } from "${new URL("../sysv/semaphore_set.ts", import.meta.url)}";
         SemaphoreSet.fromId(${set.id}).opSync([${op}], { timeout: 10000 });`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
  const children = [blockOn("{ index: 0, delta: -1 }"), blockOn("{ index: 1, delta: 0 }")];
  using mutex = Mutex.open(`${prefix}-mutex`);
  const waiting = mutex.lock({ timeout: 10_000 });
  try {
    const poll = async <T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> => {
      let v = await get();
      for (let i = 0; i < 100 && !ok(v); i++) {
        await new Promise((r) => setTimeout(r, 50));
        v = await get();
      }
      return v;
    };
    type Sems = {
      semaphores: { value: number; waitingForIncrease: number; waitingForZero: number }[];
    };
    const sems = await poll(
      async () => ((await statJson(`${set.id}`)).state as Sems).semaphores,
      (s) => s[0]!.waitingForIncrease === 1 && s[1]!.waitingForZero === 1,
    );
    assertEquals(sems.map((s) => [s.value, s.waitingForIncrease, s.waitingForZero]), [
      [0, 1, 0],
      [1, 0, 1],
    ]);
    type M = { holder: { pid: number }; contended: boolean; waiters: number };
    const m = await poll(
      async () => (await statJson(`${prefix}-mutex`)).state as M,
      (s) => s.contended && s.waiters === 1,
    );
    assertEquals([m.holder.pid, m.contended, m.waiters], [h.pid, true, 1]);
  } finally {
    set.setAll([1, 0]); // lets both blocked children finish
    for (const c of children) await c.status;
    await h.release(); // the holder unlocks, so our wait gets the lock
    (await waiting).release();
    h.removeAll();
    set.remove();
  }
});

test("cli calls a short or garbled header plain shared memory, and a garbled sem_t undecoded", async () => {
  const p = uniqueName("cligarble");
  const write = (name: string, size: number, words: Record<number, number>) => {
    using shm = SharedMemory.create(name, { size });
    const v = shm.view(Int32Array, 0, size >> 2);
    for (const [i, w] of Object.entries(words)) v[Number(i)] = w;
  };
  const CHAN = 0x4368616e, MUTX = 0x4d757478, RWLK = 0x52774c6b;
  write(`${p}-short-chan`, 64, { 0: CHAN, 1: 4 }); // too short for a channel header
  write(`${p}-old-chan`, 4096, { 0: CHAN, 1: 3, 2: 1, 3: 8, 4: 64, 5: 64 }); // another version
  write(`${p}-bad-cap`, 1 << 16, { 0: CHAN, 1: 4, 2: 1, 3: 6, 4: 64, 5: 64 }); // capacity not 2^n
  write(`${p}-huge-cap`, 4096, { 0: CHAN, 1: 4, 2: 0, 3: 1 << 20, 4: 64, 5: 64 }); // file too small
  write(`${p}-big-mutex`, 128, { 1: MUTX }); // a Mutex is exactly 64 bytes
  write(`${p}-bad-slots`, 256, { 16: RWLK, 21: 1_000_000 }); // holder table larger than the file
  write(`${p}-ok-chan`, 4096, {}); // replaced below by a real one
  SharedMemory.unlink(`${p}-ok-chan`);
  Channel.create(`${p}-ok-chan`, { capacity: 4, maxMessageSize: 8 }).close();
  Deno.writeFileSync(`/dev/shm/sem.${p.slice(1)}-sem`, new Uint8Array(32).fill(0xff));
  try {
    const kinds = Object.fromEntries(
      (await json("ls", `${p}*`)).objects.map((
        o,
      ) => [o.name!.slice(p.length + 1), [o.kind, o.state === null]]),
    );
    assertEquals(kinds, {
      "short-chan": ["shared-memory", true],
      "old-chan": ["shared-memory", true],
      "bad-cap": ["shared-memory", true],
      "huge-cap": ["shared-memory", true],
      "big-mutex": ["shared-memory", true],
      "bad-slots": ["shared-memory", true],
      "ok-chan": ["channel", false],
      sem: ["semaphore", true],
    });
  } finally {
    for (
      const s of [
        "short-chan",
        "old-chan",
        "bad-cap",
        "huge-cap",
        "big-mutex",
        "bad-slots",
        "ok-chan",
      ]
    ) {
      cleanup(() => SharedMemory.unlink(`${p}-${s}`));
    }
    cleanup(() => Semaphore.unlink(`${p}-sem`));
  }
});

test("cli counts a Channel's queued messages across the ring's wrap, in both topologies", async () => {
  for (const topology of ["spsc", "mpmc"] as const) {
    const name = uniqueName(`cliwrap-${topology}`);
    using ch = Channel.create(name, { capacity: 4, maxMessageSize: 8, topology });
    try {
      for (let i = 0; i < 3; i++) assert(ch.trySend(new Uint8Array([i])));
      for (let i = 0; i < 3; i++) assert(ch.tryReceive());
      for (let i = 0; i < 3; i++) assert(ch.trySend(new Uint8Array([i])));
      // Positions 3, 4, 5 sit in slots 3, 0, 1.
      const c = (await statJson(name)).state as { queued: number; sent: number; received: number };
      assertEquals([c.queued, c.sent, c.received], [3, 6, 3], topology);
      assert(ch.tryReceive());
      assertEquals(((await statJson(name)).state as { queued: number }).queued, 2, topology);
    } finally {
      Channel.unlink(name);
    }
  }
});
