/**
 * Text output: aligned columns, sizes in human units, pids with commands.
 *
 * @module
 */

import type { ChannelState, MutexState, PermitSemaphoreState, RwLockState } from "./_decode.ts";
import type { IpcObject } from "./_objects.ts";

/** Left-aligned columns two spaces apart; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** Bytes the way `ls -h` shows them: 512, 4.0K, 1.5M. */
export function human(bytes: number | null): string {
  if (bytes === null) return "-";
  if (bytes < 1024) return `${bytes}`;
  const units = ["K", "M", "G", "T"];
  let n = bytes / 1024;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)}${units[u]}`;
}

/** `123(deno),456(cat)`, or `-`. */
export function pidList(pids: readonly { pid: number; command: string }[]): string {
  return pids.map((p) => (p.command ? `${p.pid}(${p.command})` : `${p.pid}`)).join(",") || "-";
}

/** How an object is named in messages: `/jobs` or `sysv-segment 123 (key 0x…)`. */
export function label(o: IpcObject): string {
  return o.name ?? `${o.id} (key ${o.key})`;
}

/** One line of state for the table's last column. */
export function summary(o: IpcObject): string {
  const s = o.state as Record<string, unknown> | null;
  if (s === null) return "";
  switch (o.kind) {
    case "channel": {
      const c = o.state as ChannelState;
      const live = c.senders.filter((x) => x.alive && !x.ended).length;
      return `${c.topology} ${c.queued}/${c.capacity} queued, ${live} sender${
        live === 1 ? "" : "s"
      }${c.ended ? ", ended" : ""}${c.dropped ? `, ${c.dropped} dropped` : ""}`;
    }
    case "mutex": {
      const m = o.state as MutexState;
      return m.holder ? `held by ${m.holder.pid}${m.holder.alive ? "" : " (dead)"}` : "free";
    }
    case "rwlock": {
      const r = o.state as RwLockState;
      if (r.writer) return `write-locked by ${r.writer.pid}`;
      return r.readers.length ? `${r.readers.length} reader process(es)` : "free";
    }
    case "permit-semaphore": {
      const p = o.state as PermitSemaphoreState;
      return `${p.available}/${p.permits} permits free`;
    }
    case "semaphore":
      return `value ${s.value}${s.waiters ? `, ${s.waiters} waiting` : ""}`;
    case "sysv-semaphore-set":
      return `values ${(s.semaphores as { value: number }[]).map((x) => x.value).join(",")}`;
    case "message-queue":
    case "sysv-message-queue":
      return `${s.messages ?? "?"} message(s)`;
    case "sysv-segment":
      return `${s.attached} attached${s.markedForRemoval ? ", marked for removal" : ""}`;
    default:
      return "";
  }
}
