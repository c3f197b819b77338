/**
 * A priority queue of jobs between processes on a POSIX message queue: the
 * parent queues jobs with priorities and starts two workers; each worker
 * takes the most urgent job first and reports on a second queue. Stop jobs
 * (priority 0, sent last) tell the workers to finish.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/mq_jobs.ts [jobs] [workers]
 *
 * With one worker the reports arrive in the order the jobs were taken, so the
 * first ones show the priorities at work (9, 8, 8, 7, …).
 *
 * @module
 */

import { posix } from "../mod.ts";

const [role, jobsName, doneName] = Deno.args;
const enc = new TextEncoder();
const dec = new TextDecoder();
const STOP = "stop";

if (role === "worker") {
  using jobs = posix.MessageQueue.open(jobsName!);
  using done = posix.MessageQueue.open(doneName!);
  for await (const job of jobs) {
    const what = dec.decode(job.data);
    if (what === STOP) break;
    // The "work": report which job ran, at which priority, in which process.
    await done.send(enc.encode(`${what} ${job.priority} ${Deno.pid}`), { timeout: 60_000 });
  }
} else {
  const count = Number(Deno.args[0] ?? 30);
  const WORKERS = Number(Deno.args[1] ?? 2);
  const tag = `${Deno.pid}-${Math.random().toString(36).slice(2)}`;
  const jobsQueue = `/mq-jobs-${tag}`;
  const doneQueue = `/mq-done-${tag}`;
  using jobs = posix.MessageQueue.create(jobsQueue, { maxMessages: 10, maxMessageSize: 64 });
  using done = posix.MessageQueue.create(doneQueue, { maxMessages: 10, maxMessageSize: 64 });
  try {
    // Queue the first jobs before any worker runs: the most urgent must go first.
    const urgency = (i: number) => 1 + (i * 7) % 9; // 1 (routine) … 9 (urgent)
    let sent = 0;
    while (sent < count && jobs.trySend(enc.encode(`job-${sent}`), { priority: urgency(sent) })) {
      sent++;
    }
    const self = new URL(import.meta.url).pathname;
    const workers = Array.from({ length: WORKERS }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-ffi", self, "worker", jobsQueue, doneQueue],
      }).spawn());
    const results: string[] = [];
    const collect = (async () => {
      while (results.length < count) {
        results.push(dec.decode((await done.receive({ timeout: 60_000 })).data));
      }
    })();
    for (; sent < count; sent++) {
      await jobs.send(enc.encode(`job-${sent}`), { priority: urgency(sent), timeout: 60_000 });
    }
    for (let w = 0; w < WORKERS; w++) {
      await jobs.send(enc.encode(STOP), { priority: 0, timeout: 60_000 });
    }
    await collect;
    for (const w of workers) {
      if (!(await w.status).success) throw new Error("a worker failed");
    }
    const byPid = new Map<string, number>();
    for (const r of results) {
      const pid = r.split(" ")[2]!;
      byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
    }
    const unique = new Set(results.map((r) => r.split(" ")[0]));
    console.log(`first five done: ${results.slice(0, 5).join(", ")}`);
    console.log(
      `${unique.size} of ${count} jobs done once each, by ${byPid.size} worker process(es)`,
    );
    if (unique.size !== count) Deno.exit(1);
  } finally {
    posix.MessageQueue.unlink(jobsQueue);
    posix.MessageQueue.unlink(doneQueue);
  }
}
