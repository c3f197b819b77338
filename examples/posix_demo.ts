/**
 * Runs seed 000's writer and reader as two separate processes and shows the
 * message crossing from one to the other through shared memory.
 *
 *     deno task demo
 *
 * @module
 */

const name = `/ipc-shm-demo-${Deno.pid}`;
const here = new URL(".", import.meta.url);

async function run(script: string, ...args: string[]): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", new URL(script, here).pathname, ...args],
    stdout: "inherit",
    stderr: "inherit",
  });
  const { code } = await child.output();
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
}

console.log(`Two processes share "${name}":`);
try {
  await run(
    "posix_writer.ts",
    name,
    `Hello from shared memory! (sent by a process started at ${new Date().toISOString()})`,
  );
  await run("posix_reader.ts", name);
} finally {
  // The reader unlinks; this only matters if it failed first.
  try {
    const { SharedMemory } = await import("../mod.ts");
    SharedMemory.unlink(name);
  } catch { /* already gone */ }
}
