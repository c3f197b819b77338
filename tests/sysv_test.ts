import { fromFileUrl, join } from "@std/path";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { char, i32, struct } from "../memory/layout.ts";
import { ftok, IPC_PRIVATE } from "../sysv/key.ts";
import { Segment } from "../sysv/segment.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { attachedProcesses, listSegments, listSemaphoreSets } from "../sysv/list.ts";
import { Mutex, MUTEX_SIZE } from "../sync/mutex.ts";
import { compileC, findCXX, hasCC, runExe, test } from "./_helpers.ts";

const cxx = findCXX();

const sysvUrl = new URL("../sysv/mod.ts", import.meta.url).href;
const syncUrl = new URL("../sync/mod.ts", import.meta.url).href;
const decoder = new TextDecoder();

function denoEval(script: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  });
}

/** Segments and sets this file creates; the last test checks none is left. */
const createdSegments = new Set<number>();
const createdSets = new Set<number>();
function track<T extends Segment | SemaphoreSet>(x: T): T {
  (x instanceof Segment ? createdSegments : createdSets).add(x.id);
  return x;
}

test("ftok derives stable keys, rejects bad project ids, and a missing path is NotFound", async () => {
  const file = await Deno.makeTempFile();
  try {
    assertEquals(ftok(file, 1), ftok(file, 1));
    assertNotEquals(ftok(file, 1), ftok(file, 2));
    for (const bad of [0, 256, -1, 1.5]) assertThrows(() => ftok(file, bad), RangeError);
    assertThrows(() => ftok(file, "1" as never), TypeError);
    assertThrows(() => ftok("", 1), TypeError);
    assertThrows(() => ftok(`${file}.missing`, 1), Deno.errors.NotFound);
    assertEquals(IPC_PRIVATE, 0);
  } finally {
    await Deno.remove(file);
  }
});

test("Segment: create/open/openOrCreate by key, AlreadyExists, NotFound, and bad keys, sizes and ids", async () => {
  const file = await Deno.makeTempFile();
  const key = ftok(file, 7);
  try {
    const seg = track(Segment.create(key, { size: 1000 }));
    assertThrows(() => Segment.create(key, { size: 1000 }), Deno.errors.AlreadyExists);
    assertEquals(Segment.open(key).id, seg.id);
    assertEquals(Segment.openOrCreate(key, { size: 10 }).id, seg.id);
    const st = seg.stat();
    assertEquals(st.key, key);
    assertEquals(st.size, 1000);
    assertEquals(st.mode & 0o777, 0o600);
    assertEquals(st.cpid, Deno.pid);
    assertEquals(st.nattch, 0);
    assertEquals(st.atime, null);
    seg.remove();
    assertThrows(() => Segment.open(key), Deno.errors.NotFound);
    const gone = assertThrows(() => seg.stat(), Error) as Error & { code?: string };
    assertEquals(typeof gone.code, "string");
  } finally {
    await Deno.remove(file);
  }
  for (const bad of [1.5, 2 ** 33, -(2 ** 32), NaN]) {
    assertThrows(() => Segment.open(bad), RangeError);
  }
  assertThrows(() => Segment.open("1" as never), TypeError);
  assertThrows(() => Segment.open(IPC_PRIVATE), TypeError);
  for (const bad of [0, -1, 1.5, NaN]) assertThrows(() => Segment.private(bad), RangeError);
  const huge = assertThrows(() => Segment.private(Number.MAX_SAFE_INTEGER), Error) as Error & {
    code?: string;
  };
  assert(["EINVAL", "ENOMEM", "ENOSPC"].includes(huge.code ?? ""), huge.code);
  assertThrows(() => Segment.fromId(-1), RangeError);
  assertThrows(() => Segment.fromId(2 ** 31 - 2), Deno.errors.NotFound);
  assertThrows(() => Segment.create(0x12345, { size: 10, mode: 0o1000 }), RangeError);
});

Deno.test({
  name: "a C program attached by key reads what Deno wrote, and Deno reads what it wrote",
  ignore: !hasCC,
  async fn() {
    const exe = await compileC(`
      #include <stdio.h>
      #include <stdlib.h>
      #include <string.h>
      #include <sys/shm.h>
      int main(int argc, char **argv) {
        int id = shmget((key_t)strtol(argv[1], 0, 0), 0, 0);
        if (id < 0) { perror("shmget"); return 2; }
        char *p = shmat(id, 0, 0);
        if (p == (void *)-1) { perror("shmat"); return 3; }
        printf("%s\\n", p);
        strcpy(p + 100, "written by C");
        shmdt(p);
        return 0;
      }`);
    const seg = track(Segment.create(0x5e6d0000 + (Deno.pid & 0xffff), { size: 4096 }));
    try {
      using at = seg.attach();
      at.writeCString(0, "written by Deno");
      const r = await runExe(exe, [`${seg.key}`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "written by Deno\n");
      assertEquals(at.readCString(100), "written by C");
      assertEquals(seg.stat().lpid !== Deno.pid, true);
    } finally {
      seg.remove();
    }
  },
});

test("attachedProcesses() finds a child's pid while it is attached, and not after it detaches", async () => {
  const seg = track(Segment.private(4096));
  try {
    using self = seg.attach();
    const child = denoEval(`
      import { Segment } from ${
      JSON.stringify(new URL("../sysv/segment.ts", import.meta.url).href)
    };
      const at = Segment.fromId(${seg.id}).attach();
      console.log("attached");
      // Wait for the parent to look, then detach and say so.
      const flag = at.view(Int32Array, 0, 1);
      while (Atomics.load(flag, 0) === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      at.detach();
      console.log("detached");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    `).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertMatch((await lines.read()).value ?? "", /attached/);
    const pids = attachedProcesses(seg.id).map((p) => p.pid).sort();
    assertEquals(pids, [Deno.pid, child.pid].sort());
    assertEquals(attachedProcesses(seg.id).find((p) => p.pid === child.pid)?.command, "deno");
    assertEquals(seg.stat().nattch, 2);
    Atomics.store(self.view(Int32Array, 0, 1), 0, 1);
    assertMatch((await lines.read()).value ?? "", /detached/);
    assertEquals(attachedProcesses(seg.id).map((p) => p.pid), [Deno.pid]);
    child.kill("SIGKILL");
    await lines.cancel();
    await child.stderr.cancel();
    await child.status;
  } finally {
    seg.remove();
  }
});

test("listSegments() agrees with ipcs -m for this process's segments", async () => {
  const a = track(Segment.private(12345, { mode: 0o640 }));
  const b = track(Segment.create(0x5e6e0000 + (Deno.pid & 0xffff), { size: 777 }));
  try {
    using _at = b.attach();
    const out = decoder.decode((await new Deno.Command("ipcs", { args: ["-m"] }).output()).stdout);
    const ipcs = new Map<number, { key: number; perms: number; bytes: number; nattch: number }>();
    for (const line of out.split("\n")) {
      const m = line.match(/^(0x[0-9a-f]+)\s+(\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/);
      if (m) {
        ipcs.set(Number(m[2]), {
          key: Number(m[1]) | 0,
          perms: parseInt(m[3]!, 8),
          bytes: Number(m[4]),
          nattch: Number(m[5]),
        });
      }
    }
    const listed = new Map(listSegments().map((s) => [s.id, s]));
    for (const seg of [a, b]) {
      const i = ipcs.get(seg.id);
      const l = listed.get(seg.id);
      assert(i && l, `segment ${seg.id} listed by both`);
      assertEquals(l.key, i.key);
      assertEquals(l.mode, i.perms);
      assertEquals(l.size, i.bytes);
      assertEquals(l.nattch, i.nattch);
    }
    assertEquals(listed.get(b.id)?.attached[0]?.pid, Deno.pid);
  } finally {
    a.remove();
    b.remove();
  }
});

test("Segment.setPermissions() changes the mode, and read-only attachments never crash or write through", () => {
  const seg = track(Segment.private(8192));
  try {
    seg.setPermissions({ mode: 0o604 });
    assertEquals(seg.stat().mode & 0o777, 0o604);
    assertThrows(() => seg.setPermissions({ mode: 0o7777 }), RangeError);
    using rw = seg.attach();
    rw.writeCString(0, "live");
    using ro = seg.attach({ readOnly: true });
    assertEquals(ro.readOnly, true);
    assertEquals(ro.readCString(0), "live");
    ro.bytes.fill(0x41); // a private copy: no SIGSEGV, no write-through
    assertEquals(rw.readCString(0), "live");
    rw.writeCString(0, "newer");
    ro.refresh();
    assertEquals(ro.readCString(0), "newer");
    const old = ro.view(Int32Array);
    ro.detach();
    ro.detach();
    assertEquals(old.length, 0);
    assertThrows(() => ro.refresh(), Deno.errors.BadResource);
  } finally {
    seg.remove();
  }
});

test("a Mutex can live inside a System V segment next to its data, across processes", async () => {
  const seg = track(Segment.private(MUTEX_SIZE + 8));
  try {
    using at = seg.attach();
    using _m = Mutex.init(at, 0);
    const script = `
      import { Segment } from ${JSON.stringify(sysvUrl)};
      import { Mutex, MUTEX_SIZE } from ${JSON.stringify(syncUrl)};
      using at = Segment.fromId(${seg.id}).attach();
      using m = Mutex.attach(at, 0);
      const c = at.view(Int32Array, MUTEX_SIZE, 1);
      for (let i = 0; i < 20000; i++) { const g = m.lockSync({ timeout: 10000 }); c[0] = c[0] + 1; g.release(); }
    `;
    const outs = await Promise.all([0, 1].map(() => denoEval(script).output()));
    for (const o of outs) assertEquals(o.code, 0, decoder.decode(o.stderr));
    assertEquals(at.view(Int32Array, MUTEX_SIZE, 1)[0], 40000);
  } finally {
    seg.remove();
  }
});

test("SemaphoreSet: values, counts, pids, stat, atomic multi-op and typed errors", () => {
  const set = track(SemaphoreSet.private(3, { value: 1 }));
  try {
    assertEquals(set.getAll(), [1, 1, 1]);
    set.setValue(2, 5);
    assertEquals(set.getValue(2), 5);
    set.setAll([0, 2, 4]);
    // All or none: index 0 cannot go below zero, so nothing changes.
    assertThrows(
      () => set.opSync([{ index: 1, delta: -1 }, { index: 0, delta: -1 }], { timeout: 0 }),
      Deno.errors.TimedOut,
    );
    assertEquals(set.getAll(), [0, 2, 4]);
    set.opSync([{ index: 1, delta: -2 }, { index: 2, delta: 3 }]);
    assertEquals(set.getAll(), [0, 0, 7]);
    assertEquals(set.lastPid(1), Deno.pid);
    assertEquals(set.waitingForIncrease(0), 0);
    assertEquals(set.waitingForZero(0), 0);
    const st = set.stat();
    assertEquals(st.count, 3);
    assertEquals(st.mode & 0o777, 0o600);
    assert(st.otime instanceof Date);
    assertThrows(() => set.opSync([{ index: 0, delta: -1, noWait: true }]), Deno.errors.WouldBlock);
    assertThrows(() => set.opSync([{ index: 3, delta: 1 }]), RangeError);
    assertThrows(() => set.opSync([{ index: 0, delta: 40000 }]), RangeError);
    assertThrows(() => set.opSync([]), TypeError);
    assertThrows(() => set.setValue(0, -1), RangeError);
    assertThrows(() => set.setAll([1]), RangeError);
    assertThrows(() => set.getValue(9), RangeError);
    assertThrows(() => SemaphoreSet.private(0), RangeError);
    assertThrows(() => SemaphoreSet.fromId(2 ** 31 - 2), Deno.errors.NotFound);
    assertThrows(
      () => set.opSync([{ index: 0, delta: -1 }], { timeout: 20 }),
      Deno.errors.TimedOut,
    );
  } finally {
    set.remove();
  }
  assertThrows(() => set.getValue(0), Deno.errors.NotFound);
});

test("SemaphoreSet.op() waits without blocking the event loop, times out, aborts, and wakes on a child's post", async () => {
  const set = track(SemaphoreSet.private(1));
  try {
    await assertRejects(
      () => set.op([{ index: 0, delta: -1 }], { timeout: 30 }),
      Deno.errors.TimedOut,
    );
    const reason = new Error("stop");
    const ac = new AbortController();
    const p = set.op([{ index: 0, delta: -1 }], { signal: ac.signal });
    let ticks = 0;
    const tick = setInterval(() => ticks++, 1);
    await new Promise((r) => setTimeout(r, 30));
    ac.abort(reason);
    assertStrictEquals(await assertRejects(() => p), reason);
    clearInterval(tick);
    assert(ticks >= 2, "the event loop kept running while op() waited");
    assertEquals(set.getValue(0), 0, "an aborted op applied nothing");
    const waiting = set.op([{ index: 0, delta: -1 }], { timeout: 10000 });
    const out = await denoEval(`
      import { SemaphoreSet } from ${
      JSON.stringify(new URL("../sysv/semaphore_set.ts", import.meta.url).href)
    };
      SemaphoreSet.fromId(${set.id}).opSync([{ index: 0, delta: 1 }]);
    `).output();
    assertEquals(out.code, 0, decoder.decode(out.stderr));
    await waiting;
    assertEquals(set.getValue(0), 0);
  } finally {
    set.remove();
  }
});

test("SEM_UNDO gives back what a child held when it exits without releasing (and when killed)", async () => {
  const set = track(SemaphoreSet.private(1, { value: 2 }));
  try {
    const url = JSON.stringify(new URL("../sysv/semaphore_set.ts", import.meta.url).href);
    const out = await denoEval(`
      import { SemaphoreSet } from ${url};
      SemaphoreSet.fromId(${set.id}).opSync([{ index: 0, delta: -2, undo: true }]);
      console.log("took 2");
    `).output();
    assertEquals(decoder.decode(out.stdout).trim(), "took 2");
    assertEquals(set.getValue(0), 2);
    const child = denoEval(`
      import { SemaphoreSet } from ${url};
      SemaphoreSet.fromId(${set.id}).opSync([{ index: 0, delta: -1, undo: true }]);
      console.log("holding");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    `).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertMatch((await reader.read()).value ?? "", /holding/);
    assertEquals(set.getValue(0), 1);
    child.kill("SIGKILL");
    await reader.cancel();
    await child.stderr.cancel();
    await child.status;
    assertEquals(set.getValue(0), 2);
  } finally {
    set.remove();
  }
});

test("SemaphoreSet.openOrCreate(): racing processes initialise exactly once", async () => {
  const file = await Deno.makeTempFile();
  const key = ftok(file, 9);
  try {
    const url = JSON.stringify(new URL("../sysv/semaphore_set.ts", import.meta.url).href);
    const outs = await Promise.all([0, 1, 2, 3].map(() =>
      denoEval(`
        import { SemaphoreSet } from ${url};
        const s = SemaphoreSet.openOrCreate(${key}, { count: 2, value: 5 });
        s.opSync([{ index: 0, delta: -1 }], { timeout: 5000 });
        console.log(s.id);
      `).output()
    ));
    for (const o of outs) assertEquals(o.code, 0, decoder.decode(o.stderr));
    const ids = new Set(outs.map((o) => decoder.decode(o.stdout).trim()));
    assertEquals(ids.size, 1);
    const set = track(SemaphoreSet.open(key));
    try {
      // Initialised to 5 once; four processes took one each → a re-initialisation would show more.
      assertEquals(set.getAll(), [1, 5]);
    } finally {
      set.remove();
    }
    assertEquals(listSemaphoreSets().some((s) => s.id === set.id), false);
  } finally {
    try {
      SemaphoreSet.open(key).remove();
    } catch { /* removed above */ }
    await Deno.remove(file);
  }
});

Deno.test({
  name:
    "examples/sysv_user_record.ts prints what seed 002's C++ program prints for the same segment",
  ignore: cxx === undefined,
  async fn() {
    const Rec = struct({ user_id: i32, username: char(64) });
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(join(dir, "seed.cpp"), SEED_002);
      const built = await new Deno.Command(cxx!, {
        args: ["-O2", "-o", join(dir, "seed"), join(dir, "seed.cpp")],
      }).output();
      assertEquals(built.code, 0, decoder.decode(built.stderr));
      assertThrows(
        () => Segment.open(0x7a2f),
        Deno.errors.NotFound,
        undefined,
        "key 0x7A2F must be free for this test",
      );
      const run = async (cmd: string[]) => {
        // The same starting segment for both programs: created here, holding (5, "carol").
        const seg = track(Segment.create(0x7a2f, { size: Rec.size, mode: 0o640 }));
        using at = seg.attach();
        at.struct(Rec).set({ user_id: 5, username: "carol" });
        const r = await new Deno.Command(cmd[0]!, {
          args: cmd.slice(1),
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(r.code, 0, decoder.decode(r.stderr));
        assertEquals(at.struct(Rec).toJSON(), { user_id: 7, username: "bob" });
        assertThrows(
          () => Segment.open(0x7a2f),
          Deno.errors.NotFound,
          undefined,
          "the program removed it",
        );
        return decoder.decode(r.stdout).replace(/ID: \d+/, "ID: <id>");
      };
      const cpp = await run([join(dir, "seed"), "7", "bob"]);
      const deno = await run([
        Deno.execPath(),
        "run",
        "--allow-ffi",
        fromFileUrl(new URL("../examples/sysv_user_record.ts", import.meta.url)),
        "7",
        "bob",
      ]);
      assertEquals(deno, cpp);
      assertMatch(cpp, /Existing values in shared memory: user_id = 5, username = carol/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

test("the System V tests leave ipcs as they found it", () => {
  const segs = new Set(listSegments().map((s) => s.id));
  const sets = new Set(listSemaphoreSets().map((s) => s.id));
  for (const id of createdSegments) assertEquals(segs.has(id), false, `segment ${id} left behind`);
  for (const id of createdSets) {
    assertEquals(sets.has(id), false, `semaphore set ${id} left behind`);
  }
  assert(createdSegments.size > 0 && createdSets.size > 0);
});

// Seed 002's program (shared/seeds/002_*.txt), the peer the example must match.
const SEED_002 = `
#include <iostream>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/shm.h>
using namespace std;
struct shared_user_record { int user_id; char username[64]; };
int main(int argc, char *argv[]) {
  if (argc < 3) { cerr << "Usage: " << argv[0] << " <user_id> <username>\\n"; return EXIT_FAILURE; }
  int shm_identifier = shmget(0x7A2F, sizeof(struct shared_user_record), 0640 | IPC_CREAT);
  if (shm_identifier == -1) { perror("Failed to get shared memory segment"); return EXIT_FAILURE; }
  cout << "Successfully obtained shared memory segment, ID: " << shm_identifier << "\\n";
  struct shared_user_record *shared_data = static_cast<struct shared_user_record*>(shmat(shm_identifier, nullptr, 0));
  if (shared_data == reinterpret_cast<void*>(-1)) { perror("Failed to attach shared memory segment"); return EXIT_FAILURE; }
  cout << "Existing values in shared memory: user_id = " << shared_data->user_id
       << ", username = " << shared_data->username << "\\n";
  shared_data->user_id = atoi(argv[1]);
  strncpy(shared_data->username, argv[2], sizeof(shared_data->username) - 1);
  shared_data->username[sizeof(shared_data->username) - 1] = '\\0';
  cout << "Updated values in shared memory: user_id = " << shared_data->user_id
       << ", username = " << shared_data->username << "\\n";
  if (shmdt(shared_data) == -1) { perror("Failed to detach shared memory segment"); return EXIT_FAILURE; }
  if (shmctl(shm_identifier, IPC_RMID, nullptr) == -1) { perror("Failed to delete shared memory segment"); return EXIT_FAILURE; }
  return EXIT_SUCCESS;
}
`;
