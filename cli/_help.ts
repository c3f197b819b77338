/**
 * The `--help` texts, one per subcommand.
 *
 * @module
 */

import { KINDS } from "./_objects.ts";

/** Words of `text` in lines of at most `width` columns, each indented by `indent`. */
function wrap(text: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.map((l) => " ".repeat(indent) + l).join("\n");
}

const INSTALL = `Install as a command:
  deno install -g --allow-ffi -n ipc-shm jsr:@ipc/shm/cli
Or run without installing:
  deno run --allow-ffi jsr:@ipc/shm/cli <command> ...
Needs --allow-ffi (unscoped): libc calls run outside Deno's sandbox.`;

const FILTERS = `Filters (combine freely; --shm/--sem/--queues add up):
  --shm             shared memory: /dev/shm objects (and the library's Channels and
                    locks in them) and System V segments
  --sem             semaphores: POSIX named semaphores and System V semaphore sets
  --queues          POSIX and System V message queues
  --kind <k,...>    exact kinds, comma-separated:
${wrap(KINDS.join(", "), 20, 84)}
  --user <name|uid> objects owned by this user
  --pid <pid>       objects this process maps, is attached to, holds or sends on`;

const TARGETS = `Targets:
  /name     a POSIX object (shared memory, Channel, lock, named semaphore, message queue)
  '/jobs*'  a glob over POSIX names (* ? [a-z]); quote it from the shell
  123       a System V id
  0x7a2f    a System V key
A plain target that matches several objects is refused (exit 2) until a filter
(--shm, --sem, --queues, --kind) narrows it.`;

/** Help per subcommand; `""` is the overview. */
export const HELP: Record<string, string> = {
  "": `ipc-shm — POSIX and System V IPC objects, what state they are in, and who uses them

Usage:
  ipc-shm ls [filters] [glob] [--json]     list objects, with kinds, owners, sizes and pids
  ipc-shm stat <target> [filters] [--json] decode one object's state
  ipc-shm rm <target>... [filters]         remove objects; says what the kernel did
  ipc-shm rm --stale [--dry-run]           remove the library's objects nobody uses any more
  ipc-shm watch [filters] [glob]           a live view, refreshed in place (q quits)
  ipc-shm <command> --help                 the details of one command

${TARGETS}

${FILTERS}

Exit codes: 0 ok, 1 failed (not found, permission denied…), 2 usage error or ambiguous target.
JSON output (--json) follows one schema, described in docs/cli.md.

${INSTALL}`,

  ls: `ipc-shm ls [filters] [glob] [--json]

Lists every IPC object this user can see, like ipcs plus POSIX objects:
  kind   shared-memory, or what the library's header says it is (channel, mutex,
         rwlock, permit-semaphore), semaphore, message-queue, sysv-*
  owner  user name (the uid when the password database has none)
  size   in K/M/G (bytes in JSON)
  pids   processes mapping or attached to it, with their command names
  state  one line of decoded state (queued messages, holder, value…)
POSIX message queues are listed only when an mqueue filesystem is mounted;
otherwise ls says so (and how to mount one).

  glob     only POSIX names matching it ('/jobs*'), or a System V id or 0x key
  --json   one JSON document: { schema, objects: [...], posixMessageQueues }

${FILTERS}

Examples:
  ipc-shm ls --shm --user alice
  ipc-shm ls '/jobs*' --json
  ipc-shm ls --pid 4242`,

  stat: `ipc-shm stat <target> [filters] [--json]

Decodes one object's state without changing it (a read-only open and read:
no lock taken, nothing written):
  channel           topology, capacity, messages queued, senders and the spsc
                    receiver (pids, alive or not), ended, messages dropped
  mutex             holder pid, waiters, recoveries from dead holders
  rwlock            writer, readers, waiting writer
  permit-semaphore  permits free of the total, holders
  semaphore         value and waiters (POSIX named semaphore)
  sysv-semaphore-set  each value, GETNCNT and GETZCNT waiters, last pid
  message-queue, sysv-message-queue  messages queued, bytes
  sysv-segment      attach count, creator, marked for removal
and for every object the processes mapping it, with command names.

${TARGETS}

  --json   the object as one entry of \`ls --json\`'s objects`,

  rm: `ipc-shm rm <target>... [filters]
ipc-shm rm --stale [--dry-run] [filters] [glob]

Removes each target and prints what happened, one line per object:
  unlinked /jobs (channel)
  marked System V segment 123 for removal; 2 processes still attached
A POSIX name goes at once (processes that map it keep their memory until they
unmap it). An attached System V segment is only marked; it goes at the last detach.
A glob removes everything it matches. Every target is resolved before anything
is removed: one ambiguous target removes nothing (exit 2).

  --stale    remove the library's objects (channel, mutex, rwlock, permit-semaphore)
             whose every user is gone: no process maps them and every pid their
             header records (senders, receiver, holders) is dead. Plain shared
             memory is never stale: nothing in it says who it is for.
  --dry-run  print what would be removed ("would unlink ..."), remove nothing

${TARGETS}

${FILTERS}`,

  watch: `ipc-shm watch [filters] [glob] [--interval <seconds>] [--count <n>]

A live view like top: one line per object, refreshed in place; what changed since
the last refresh is highlighted, and Channels and queues show their depth and
rates (messages/s sent and received for Channels, change in depth for queues).
Press q (or Ctrl-C) to quit. When stdout is not a terminal, prints a plain
timestamped listing every interval instead (no escape codes).

  --interval <s>  seconds between refreshes (default 1; fractions allowed)
  --count <n>     stop after n refreshes (default: until q)

${FILTERS}`,
};
