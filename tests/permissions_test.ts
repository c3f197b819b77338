import { assertEquals } from "@std/assert";
import { SharedMemory } from "../posix/shared_memory.ts";
import { uniqueName } from "./_helpers.ts";
import { fromFileUrl, join } from "@std/path";

const root = fromFileUrl(new URL("../", import.meta.url));
const decoder = new TextDecoder();

/**
 * A sandbox another user can run: a copy of the deno binary and of the
 * library's sources in a world-readable temp dir, with a private DENO_DIR.
 */
async function sandbox(): Promise<
  { dir: string; deno: string; [Symbol.asyncDispose](): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "ipc-shm-perm-" });
  await Deno.chmod(dir, 0o755);
  const deno = join(dir, "deno");
  await Deno.copyFile(Deno.execPath(), deno);
  await Deno.chmod(deno, 0o755);
  for (const sub of ["ffi", "memory", "posix"]) {
    await Deno.mkdir(join(dir, sub));
    for (const e of Deno.readDirSync(join(root, sub))) {
      if (e.isFile) await Deno.copyFile(join(root, sub, e.name), join(dir, sub, e.name));
    }
    await new Deno.Command("chmod", { args: ["-R", "a+rX", join(dir, sub)] }).output();
  }
  await Deno.mkdir(join(dir, "cache"), { mode: 0o777 });
  await Deno.chmod(join(dir, "cache"), 0o777);
  return { dir, deno, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

async function runAs(
  box: { dir: string; deno: string },
  user: string | undefined,
  wrap: string[],
  code: string,
) {
  const script = join(box.dir, `child-${crypto.randomUUID()}.ts`);
  await Deno.writeTextFile(script, code);
  await Deno.chmod(script, 0o644);
  const denoArgs = [
    box.deno,
    "run",
    "--quiet",
    "--no-config",
    "--allow-ffi",
    "--allow-sys=uid",
    script,
  ];
  const cmd = user === undefined
    ? denoArgs
    : ["setpriv", `--reuid=${user}`, "--regid=nogroup", "--clear-groups", ...denoArgs];
  const all = [...wrap, ...cmd];
  const out = await new Deno.Command(all[0]!, {
    args: all.slice(1),
    env: { DENO_DIR: join(box.dir, "cache"), HOME: box.dir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const isRoot = Deno.uid() === 0;

Deno.test({
  name:
    "a 0o600 object is refused to another user (nobody) with PermissionDenied; 0o644 is readable",
  ignore: !isRoot,
  async fn() {
    await using box = await sandbox();
    const secret = uniqueName("perm");
    const shared = uniqueName("perm");
    using s = SharedMemory.create(secret, { size: 64 }); // default mode 0o600
    using p = SharedMemory.create(shared, { size: 64, mode: 0o644 });
    try {
      p.writeCString(0, "for everyone");
      const r = await runAs(
        box,
        "nobody",
        [],
        `
        import { SharedMemory } from "./posix/shared_memory.ts";
        try {
          SharedMemory.open(${JSON.stringify(secret)}, { readOnly: true });
          console.log("opened");
        } catch (e) {
          console.log(e.constructor.name, e.code, e.syscall);
        }
        using pub = SharedMemory.open(${JSON.stringify(shared)}, { readOnly: true });
        console.log(pub.readCString(0));
        try { SharedMemory.open(${
          JSON.stringify(shared)
        }); } catch (e) { console.log(e.constructor.name); }
        console.log(Deno.uid());
      `,
      );
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim().split("\n"), [
        "PermissionDenied EACCES shm_open",
        "for everyone",
        "PermissionDenied",
        "65534",
      ]);
    } finally {
      s.unlink();
      p.unlink();
    }
  },
});

Deno.test({
  name: "a full /dev/shm is ENOSPC at create() time, not SIGBUS later, and leaves nothing behind",
  ignore: !isRoot,
  async fn() {
    const probe = new Deno.Command("unshare", { args: ["-m", "true"] }).outputSync();
    if (!probe.success) return; // no mount namespaces here: nothing to test with
    await using box = await sandbox();
    const r = await runAs(
      box,
      undefined,
      ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "$0" "$@"'],
      `
      import { SharedMemory } from "./posix/shared_memory.ts";
      try {
        SharedMemory.create("/too-big", { size: 2 * 1024 * 1024 });
        console.log("created");
      } catch (e) {
        console.log(e.name, e.code, e.syscall);
      }
      const small = SharedMemory.create("/fits", { size: 512 * 1024 });
      small.bytes.fill(1); // touching reserved memory is safe
      small.close();
      SharedMemory.unlink("/fits");
      const left = [];
      for (const f of ["/too-big", "/fits"]) { try { SharedMemory.open(f).close(); left.push(f); } catch {} }
      console.log("left:" + left.join(","));
    `,
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout.trim().split("\n"), ["SystemError ENOSPC posix_fallocate", "left:"]);
  },
});
