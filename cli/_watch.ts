/**
 * `watch`: the listing again and again, like `top`. On a terminal it redraws
 * in place (clear + home), marks what changed since the last refresh in
 * reverse video, and quits on `q` read from stdin in raw mode; anywhere else
 * it prints a plain timestamped listing per refresh, so it can be piped or
 * logged.
 *
 * @module
 */

import type { ChannelState } from "./_decode.ts";
import type { IpcObject, Listing } from "./_objects.ts";
import { human, label, pidList, summary, table } from "./_table.ts";

/** How to watch. */
export interface WatchOptions {
  /** Seconds between refreshes. */
  interval: number;
  /** Refreshes before returning (Infinity: until q). */
  count: number;
  /** Where plain output goes when stdout is not a terminal. */
  out: (s: string) => void;
  /** Force terminal mode on or off (default: whether stdout is a terminal). */
  terminal?: boolean;
}

interface Sample {
  at: number;
  sent: number;
  received: number;
  depth: number;
}

const CLEAR = "\x1b[H\x1b[2J";
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";
const mark = (s: string) => `\x1b[7m${s}\x1b[27m`;
const encoder = new TextEncoder();

/** Runs the view until `q`, Ctrl-C or `count` refreshes; resolves to the exit code. */
export async function watch(
  list: () => Listing,
  keep: (o: IpcObject) => boolean,
  options: WatchOptions,
): Promise<number> {
  const terminal = options.terminal ?? Deno.stdout.isTerminal();
  const keys = terminal && Deno.stdin.isTerminal();
  let quit = false;
  let wake = () => {};
  if (keys) {
    Deno.stdin.setRaw(true);
    (async () => {
      const buf = new Uint8Array(16);
      while (!quit) {
        const n = await Deno.stdin.read(buf);
        // q, Q, Ctrl-C (raw mode delivers it as a byte), Ctrl-D, or stdin closed.
        if (
          n === null ||
          buf.subarray(0, n).some((b) => b === 0x71 || b === 0x51 || b === 3 || b === 4)
        ) {
          quit = true;
          wake();
        }
      }
    })();
  }
  const write = (s: string) => Deno.stdout.writeSync(encoder.encode(s));
  let previous = new Map<string, { cells: string[]; sample: Sample }>();
  try {
    if (terminal) write(HIDE_CURSOR);
    for (let n = 0; n < options.count && !quit; n++) {
      const now = performance.now();
      const listing = list();
      const objects = listing.objects.filter(keep);
      const next = new Map<string, { cells: string[]; sample: Sample }>();
      const rows: string[][] = [];
      const changed: boolean[][] = [];
      for (const o of objects) {
        const id = `${o.kind} ${label(o)}`;
        const sample = sampleOf(o, now);
        const before = previous.get(id);
        const cells = [
          o.kind,
          o.name ?? `${o.id}`,
          o.user ?? `${o.uid}`,
          human(o.size),
          depthOf(o),
          before ? rate(o, before.sample, sample) : "",
          pidList(o.pids),
          summary(o),
        ];
        next.set(id, { cells, sample });
        rows.push(cells);
        // A new object is all new; the rate column changes by nature, so it never flashes.
        changed.push(
          cells.map((c, i) => before === undefined ? n > 0 : i !== 5 && before.cells[i] !== c),
        );
      }
      previous = next;
      const header = ["kind", "name/id", "owner", "size", "depth", "rate/s", "pids", "state"];
      const time = new Date().toISOString().slice(11, 19);
      if (terminal) {
        const { columns, rows: height } = consoleSize();
        const lines = render([header, ...rows], [header.map(() => false), ...changed]);
        write(
          CLEAR +
            fit(
              `ipc-shm watch  ${time}  ${objects.length} objects  every ${options.interval}s  q quits`,
              columns,
            ) +
            "\n\n" + lines.slice(0, Math.max(height - 3, 1)).map((l) =>
              fit(l, columns, true)
            ).join("\n") +
            (listing.posixMessageQueues.mounted
              ? ""
              : `\n${fit("(POSIX message queues: no mqueue filesystem mounted)", columns)}`),
        );
      } else {
        options.out(
          `--- ${new Date().toISOString()} ${objects.length} objects ---\n${
            table([header, ...rows])
          }`,
        );
      }
      if (n + 1 >= options.count) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.interval * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    quit = true;
    if (terminal) write(`${SHOW_CURSOR}\n`);
    if (keys) Deno.stdin.setRaw(false);
  }
  return 0;
}

function consoleSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 120, rows: 40 };
  }
}

/** Pads columns like `table`, wrapping changed cells in reverse video (after padding, so widths hold). */
function render(rows: string[][], changed: boolean[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r, y) =>
    r.map((c, i) => {
      const padded = c.padEnd(widths[i]!);
      return changed[y]![i] && c !== "" ? mark(padded) : padded;
    }).join("  ").trimEnd()
  );
}

/** Cuts a line to the terminal width, counting only visible characters. */
function fit(line: string, columns: number, ansi = false): string {
  if (!ansi) return line.slice(0, columns);
  let visible = 0;
  let out = "";
  for (let i = 0; i < line.length; i++) {
    if (line[i] === "\x1b") {
      const end = line.indexOf("m", i);
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= columns) continue;
    out += line[i];
    visible++;
  }
  return out + "\x1b[0m";
}

function sampleOf(o: IpcObject, at: number): Sample {
  if (o.kind === "channel" && o.state !== null) {
    const c = o.state as ChannelState;
    return { at, sent: c.sent, received: c.received, depth: c.queued };
  }
  const m = (o.state as { messages?: number | null } | null)?.messages;
  return { at, sent: 0, received: 0, depth: typeof m === "number" ? m : 0 };
}

function depthOf(o: IpcObject): string {
  if (o.kind === "channel" && o.state !== null) {
    const c = o.state as ChannelState;
    return `${c.queued}/${c.capacity}`;
  }
  if (o.kind === "message-queue" || o.kind === "sysv-message-queue") {
    const m = (o.state as { messages?: number | null } | null)?.messages;
    return m === null || m === undefined ? "?" : `${m}`;
  }
  return "";
}

function rate(o: IpcObject, a: Sample, b: Sample): string {
  const dt = (b.at - a.at) / 1000;
  if (dt <= 0) return "";
  if (o.kind === "channel") {
    // Positions are 32-bit and wrap: the unsigned difference is the count.
    const tx = ((b.sent - a.sent) >>> 0) / dt;
    const rx = ((b.received - a.received) >>> 0) / dt;
    return `tx ${compact(tx)} rx ${compact(rx)}`;
  }
  if (o.kind === "message-queue" || o.kind === "sysv-message-queue") {
    const d = (b.depth - a.depth) / dt;
    return `${d >= 0 ? "+" : ""}${compact(d)}`;
  }
  return "";
}

function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return a >= 100 || n === Math.round(n) ? `${Math.round(n)}` : n.toFixed(1);
}
