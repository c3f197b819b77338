import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { main } from "../cli.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Semaphore } from "../posix/semaphore.ts";
import { Segment } from "../sysv/segment.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { test, uniqueName } from "./_helpers.ts";
import { fromFileUrl } from "@std/path";
import { spy } from "@std/testing/mock";

/** Runs the CLI in-process; its two output sinks are spies, so every line is kept. */
function run(...args: string[]) {
  const out = spy((_s: string) => {});
  const err = spy((_s: string) => {});
  const code = main(args, out, err);
  const text = (s: typeof out) => s.calls.map((c) => c.args[0] + "\n").join("");
  return { code, out: text(out), err: text(err), outCalls: out.calls.length };
}

test("cli ls lists POSIX objects, segments and sets with attached pids, as a table or JSON", () => {
  const name = uniqueName("cli");
  using shm = SharedMemory.create(name, { size: 4096 });
  const seg = Segment.private(8192);
  const set = SemaphoreSet.private(2);
  try {
    using _at = seg.attach();
    const t = run("ls");
    assertEquals(t.code, 0, t.err);
    assertMatch(t.out, new RegExp(`${name}\\s+shared-memory\\s+0\\s+600\\s+4096\\s+${Deno.pid}`));
    assertMatch(
      t.out,
      new RegExp(`0x00000000\\s+${seg.id}\\s+0\\s+600\\s+8192\\s+1\\s+${Deno.pid}`),
    );
    assertMatch(t.out, new RegExp(`0x00000000\\s+${set.id}\\s+0\\s+600\\s+2`));
    const j = run("ls", "--json");
    const parsed = JSON.parse(j.out);
    assertEquals(parsed.posix.find((o: { name: string }) => o.name === name).size, 4096);
    assertEquals(
      parsed.segments.find((s: { id: number }) => s.id === seg.id).attached.map((
        p: { pid: number },
      ) => p.pid),
      [
        Deno.pid,
      ],
    );
    assertEquals(parsed.semaphoreSets.find((s: { id: number }) => s.id === set.id).count, 2);
  } finally {
    shm.unlink();
    seg.remove();
    set.remove();
  }
});

test("cli rm removes by name, id and key, and refuses ambiguous targets", () => {
  const name = uniqueName("clirm");
  SharedMemory.create(name, { size: 64 }).close();
  Semaphore.create(name).close(); // same name: a semaphore too
  const key = 0x5c1e0000 + (Deno.pid & 0xffff);
  const seg = Segment.create(key, { size: 64 });
  const set = SemaphoreSet.create(key, { count: 1 });
  try {
    const amb = run("rm", name);
    assertEquals(amb.code, 2);
    assertMatch(amb.err, /ambiguous/);
    assertEquals(run("rm", name, "--sem").code, 0);
    assertThrows(() => Semaphore.open(name), Deno.errors.NotFound);
    const byName = run("rm", name);
    assertEquals(byName.code, 0, byName.err);
    assertMatch(byName.out, /removed shared memory/);
    assertThrows(() => SharedMemory.open(name), Deno.errors.NotFound);

    const hex = `0x${key.toString(16)}`;
    assertEquals(run("rm", hex).code, 2, "a key with a segment and a set is ambiguous");
    const st = run("stat", hex, "--shm");
    assertEquals(st.code, 0, st.err);
    assertMatch(st.out, new RegExp(`segment ${seg.id}`));
    assertEquals(run("rm", hex, "--shm").code, 0);
    assertThrows(() => Segment.open(key), Deno.errors.NotFound);
    const byId = run("rm", `${set.id}`);
    assertEquals(byId.code, 0, byId.err);
    assertThrows(() => SemaphoreSet.open(key), Deno.errors.NotFound);

    assertEquals(run("rm", name).code, 1, "already gone");
    assertEquals(run("rm").code, 2);
    assertEquals(run("rm", "not-a-target").code, 2);
    assertEquals(run("ls", "extra").code, 2);
    assertEquals(run("--nope").code, 2);
    assertEquals(run().code, 2);
    assertMatch(run("--help").out, /Usage:/);
  } finally {
    for (
      const f of [
        () => SharedMemory.unlink(name),
        () => Semaphore.unlink(name),
        () => seg.remove(),
        () => set.remove(),
      ]
    ) {
      try {
        f();
      } catch { /* already removed by the test */ }
    }
  }
});

test("cli runs as a program with --allow-ffi only, with exit codes", async () => {
  const cli = fromFileUrl(new URL("../cli.ts", import.meta.url));
  const ok = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", cli, "ls", "--json"],
    stdout: "piped",
  }).output();
  assertEquals(ok.code, 0);
  assert("segments" in JSON.parse(new TextDecoder().decode(ok.stdout)));
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", cli, "stat", "/t-none-really"],
    stderr: "piped",
  }).output();
  assertEquals(bad.code, 1);
  assertMatch(new TextDecoder().decode(bad.stderr), /nothing matches/);
});

test("cli refuses unknown options with exit 2 and one usage line on stderr", () => {
  for (const bad of ["--jsn", "-x", "--semaphore"]) {
    const r = run("ls", bad);
    assertEquals(r.code, 2, bad);
    assertMatch(r.err, new RegExp(`unknown option "${bad}"`));
    assertEquals(r.outCalls, 0, "nothing is printed on stdout for a usage error");
  }
});

test("cli keeps a hex key as a key: 0x7a2f is not read as the id 31279", () => {
  const r = run("stat", "0x7a2f", "--json");
  // Nothing has key 0x7a2f here; a parser that turned it into a number would report the id.
  assertEquals(r.code, 1, r.err);
  assertMatch(r.err, /nothing matches 0x7a2f/);
});
