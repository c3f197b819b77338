/**
 * `stat` as text: the object's facts, then its decoded state, one per line.
 *
 * @module
 */

import type { ChannelState, PidRef } from "./_decode.ts";
import type { IpcObject } from "./_objects.ts";
import { human, label, pidList } from "./_table.ts";

const who = (p: PidRef | null) =>
  p === null ? "-" : `${p.pid}${p.command ? ` (${p.command})` : ""}${p.alive ? "" : " dead"}`;

/** Multi-line text for `stat`. */
export function describe(o: IpcObject): string {
  const lines: [string, string][] = [
    ["kind", o.kind],
    ...(o.name === null ? [] : [["name", o.name] as [string, string]]),
    ...(o.id === null
      ? []
      : [["id", `${o.id}`] as [string, string], ["key", o.key ?? "-"] as [string, string]]),
    ["owner", `${o.user ?? o.uid} (uid ${o.uid}, gid ${o.gid})`],
    ["mode", o.mode],
    ...(o.size === null
      ? []
      : [["size", `${human(o.size)} (${o.size} bytes)`] as [string, string]]),
    ["pids", pidList(o.pids)],
  ];
  const s = o.state as Record<string, unknown> | null;
  if (s !== null) {
    if (o.kind === "channel") {
      const c = o.state as ChannelState;
      lines.push(
        ["version", `${c.version}`],
        ["topology", c.topology],
        ["capacity", `${c.capacity} messages of up to ${c.maxMessageSize} bytes`],
        ["queued", `${c.queued}`],
        ["sent", `${c.sent}`],
        ["received", `${c.received}`],
        [
          "senders",
          c.senders.map((x) => `${who(x)}${x.ended ? " ended" : ""}`).join(", ") || "-",
        ],
        ["receiver", c.topology === "spsc" ? who(c.receiver) : "not recorded (mpmc); see pids"],
        ["waiting", `${c.sendersWaiting} sender(s), ${c.receiversWaiting} receiver(s)`],
        ["ended", c.ended ? "yes" : "no"],
        ["dropped", `${c.dropped}`],
      );
    } else {
      for (const [k, v] of Object.entries(s)) lines.push([k, show(v)]);
    }
  }
  const width = Math.max(...lines.map(([k]) => k.length));
  return [`${o.kind} ${label(o)}`, ...lines.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join(
    "\n",
  );
}

function show(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.map(show).join(", ") || "-";
  if (typeof v === "object") {
    const r = v as Record<string, unknown>;
    if (typeof r.pid === "number" && typeof r.alive === "boolean") {
      const base = who(r as unknown as PidRef);
      return typeof r.count === "number" ? `${base} ×${r.count}` : base;
    }
    return Object.entries(r).map(([k, x]) => `${k} ${show(x)}`).join(" ");
  }
  return String(v);
}
