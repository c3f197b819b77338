import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { SharedMemory } from "../posix/shared_memory.ts";
import { Semaphore } from "../posix/semaphore.ts";
import { Segment } from "../sysv/segment.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { test, uniqueName } from "./_helpers.ts";

function run(...args: string[]) {
  let out = "";
  let err = "";
  const code = main(args, (s) => (out += s + "\n"), (s) => (err += s + "\n"));
  return { code, out, err };
}

test("cli ls lists POSIX objects, segments and sets with attached pids, as a table or JSON", () => {
  const name = uniqueName("cli");
  using shm = SharedMemory.create(name, { size: 4096 });
  const seg = Segment.private(8192);
  const set = SemaphoreSet.private(2);
  try {
    using _at = seg.attach();
    const t = run("ls");
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, new RegExp(`${name}\\s+shared-memory\\s+0\\s+600\\s+4096\\s+${Deno.pid}`));
    assert.match(
      t.out,
      new RegExp(`0x00000000\\s+${seg.id}\\s+0\\s+600\\s+8192\\s+1\\s+${Deno.pid}`),
    );
    assert.match(t.out, new RegExp(`0x00000000\\s+${set.id}\\s+0\\s+600\\s+2`));
    const j = run("ls", "--json");
    const parsed = JSON.parse(j.out);
    assert.equal(parsed.posix.find((o: { name: string }) => o.name === name).size, 4096);
    assert.deepEqual(
      parsed.segments.find((s: { id: number }) => s.id === seg.id).attached.map((
        p: { pid: number },
      ) => p.pid),
      [
        Deno.pid,
      ],
    );
    assert.equal(parsed.semaphoreSets.find((s: { id: number }) => s.id === set.id).count, 2);
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
    assert.equal(amb.code, 2);
    assert.match(amb.err, /ambiguous/);
    assert.equal(run("rm", name, "--sem").code, 0);
    assert.throws(() => Semaphore.open(name), Deno.errors.NotFound);
    const byName = run("rm", name);
    assert.equal(byName.code, 0, byName.err);
    assert.match(byName.out, /removed shared memory/);
    assert.throws(() => SharedMemory.open(name), Deno.errors.NotFound);

    const hex = `0x${key.toString(16)}`;
    assert.equal(run("rm", hex).code, 2, "a key with a segment and a set is ambiguous");
    const st = run("stat", hex, "--shm");
    assert.equal(st.code, 0, st.err);
    assert.match(st.out, new RegExp(`segment ${seg.id}`));
    assert.equal(run("rm", hex, "--shm").code, 0);
    assert.throws(() => Segment.open(key), Deno.errors.NotFound);
    const byId = run("rm", `${set.id}`);
    assert.equal(byId.code, 0, byId.err);
    assert.throws(() => SemaphoreSet.open(key), Deno.errors.NotFound);

    assert.equal(run("rm", name).code, 1, "already gone");
    assert.equal(run("rm").code, 2);
    assert.equal(run("rm", "not-a-target").code, 2);
    assert.equal(run("ls", "extra").code, 2);
    assert.equal(run("--nope").code, 2);
    assert.equal(run().code, 2);
    assert.match(run("--help").out, /Usage:/);
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
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const ok = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", cli, "ls", "--json"],
    stdout: "piped",
  }).output();
  assert.equal(ok.code, 0);
  assert.ok("segments" in JSON.parse(new TextDecoder().decode(ok.stdout)));
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", cli, "stat", "/t-none-really"],
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 1);
  assert.match(new TextDecoder().decode(bad.stderr), /nothing matches/);
});
