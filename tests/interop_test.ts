import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { compileC, hasCC, runExe, uniqueName } from "./_helpers.ts";
import { fromFileUrl } from "@std/path";

const C_PEER = `
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
/* peer read NAME | peer write NAME TEXT: the seed 000 programs, parameterised */
int main(int argc, char **argv) {
  int writing = strcmp(argv[1], "write") == 0;
  int fd = shm_open(argv[2], writing ? O_CREAT | O_EXCL | O_RDWR : O_RDONLY, 0600);
  if (fd < 0) { perror("shm_open"); return 2; }
  if (writing && ftruncate(fd, 4096) != 0) { perror("ftruncate"); return 3; }
  char *p = mmap(0, 4096, writing ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) { perror("mmap"); return 4; }
  if (writing) strcpy(p, argv[3]); else printf("Received: %s\\n", p);
  munmap(p, 4096);
  close(fd);
  return 0;
}`;

Deno.test({
  name: "a C program reads what Deno wrote, and Deno reads what C wrote",
  ignore: !hasCC,
  async fn() {
    const exe = await compileC(C_PEER);
    const a = uniqueName("c2");
    const b = uniqueName("c2");
    try {
      {
        using shm = SharedMemory.create(a, { size: 4096 });
        shm.writeCString(0, "Hello from Deno!");
      }
      const r = await runExe(exe, ["read", a]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "Received: Hello from Deno!\n");

      const w = await runExe(exe, ["write", b, "Hello from C!"]);
      assertEquals(w.code, 0, w.stderr);
      using shm = SharedMemory.open(b, { readOnly: true });
      assertEquals(shm.size, 4096);
      assertEquals(shm.readCString(0), "Hello from C!");
    } finally {
      for (const n of [a, b]) {
        try {
          SharedMemory.unlink(n);
        } catch { /* not created */ }
      }
    }
  },
});

const hasPython = (() => {
  try {
    return new Deno.Command("python3", { args: ["-c", "import multiprocessing.shared_memory"] })
      .outputSync()
      .success;
  } catch {
    return false;
  }
})();

async function python(code: string, ...args: string[]) {
  const out = await new Deno.Command("python3", {
    args: ["-c", code, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

// Python 3.8–3.12 registers even attached segments with its resource tracker,
// which would unlink them when the script exits: unregister what we don't own.
const PY_READ = `
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1], create=False)
resource_tracker.unregister(shm._name, "shared_memory")
print(bytes(shm.buf[:shm.buf.tobytes().index(0)]).decode())
print(shm.size)
shm.close()
`;
const PY_WRITE = `
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=4096)
resource_tracker.unregister(shm._name, "shared_memory")
data = sys.argv[2].encode() + b"\\0"
shm.buf[:len(data)] = data
shm.buf[4095] = 0x5a
shm.close()
`;

Deno.test({
  name: "Python's multiprocessing.shared_memory sees what Deno wrote, and the other way round",
  ignore: !hasPython,
  async fn() {
    const a = uniqueName("py");
    const b = uniqueName("py");
    try {
      {
        using shm = SharedMemory.create(a, { size: 8192 });
        shm.writeCString(0, "Hello, Python");
      }
      const r = await python(PY_READ, a.slice(1));
      assertEquals(r.code, 0, r.stderr);
      const [text, size] = r.stdout.trim().split("\n");
      assertEquals(text, "Hello, Python");
      assert(Number(size) >= 8192);

      const w = await python(PY_WRITE, b.slice(1), "Hello, Deno");
      assertEquals(w.code, 0, w.stderr);
      using shm = SharedMemory.open(b);
      assertEquals(shm.readCString(0), "Hello, Deno");
      assertEquals(shm.bytes[4095], 0x5a);
    } finally {
      for (const n of [a, b]) {
        try {
          SharedMemory.unlink(n);
        } catch { /* not created */ }
      }
    }
  },
});

Deno.test("the demo runs seed 000's writer and reader as two processes and the message crosses", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-run",
      "--allow-read",
      fromFileUrl(new URL("../examples/posix_demo.ts", import.meta.url)),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const wrote = text.match(/\[writer pid (\d+)\] Wrote: (.*)/);
  const got = text.match(/\[reader pid (\d+)\] Received: (.*)/);
  assert(wrote && got, text);
  assertNotEquals(wrote[1], got[1]);
  assertEquals(got[2], wrote[2]);
});
