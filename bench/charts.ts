// SVG charts of the bench results, drawn by this file alone (no dependency):
//   deno run --allow-read --allow-write bench/charts.ts [results.json ...] [--out docs/charts]
// Reads what `bench/channel.ts --json` and `bench/semaphore_pingpong.ts --json`
// save (default: bench/results/channel.json and bench/results/semaphore.json)
// and writes docs/charts/throughput.svg and docs/charts/latency.svg.
// `deno task charts` reruns the benches (--quick) and then this.
import { parseArgs } from "@std/cli/parse-args";

interface Row {
  label: string;
  value: number | null;
  c?: boolean;
}

interface Results {
  bench: string;
  date: string;
  deno: string;
  arch: string;
  cpus: number;
  quick?: boolean;
  loadAverage?: number[];
  throughput?: { unit: "bytes/s"; sizes: number[]; series: Record<string, (number | null)[]> };
  roundTrip?: { unit: "µs"; rows: Row[] };
}

const values = parseArgs(Deno.args, { string: ["_", "out"], default: { out: "docs/charts" } });
const files = values._.length > 0
  ? values._.map(String)
  : ["bench/results/channel.json", "bench/results/semaphore.json"];
const results: Results[] = [];
for (const f of files) {
  try {
    results.push(JSON.parse(await Deno.readTextFile(f)));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.error(`charts: ${f} is missing; run its bench with --json ${f}`);
  }
}

// ---------------------------------------------------------------- drawing
const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', sans-serif"`;
const PALETTE = ["#4c566a", "#2e86de", "#10ac84", "#ee5253", "#ff9f43", "#8854d0"];
const C_COLOR = "#4c566a";
const DENO_COLOR = "#2e86de";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function text(
  x: number,
  y: number,
  s: string,
  attrs: Record<string, string | number> = {},
): string {
  const a = Object.entries(attrs).map(([k, v]) => ` ${k}="${v}"`).join("");
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${a}>${esc(s)}</text>`;
}

function svg(width: number, height: number, body: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n${body.join("\n")}\n</svg>\n`;
}

/** A log10 scale over [lo, hi] (rounded out to powers of ten) onto [a, b]. */
function logScale(lo: number, hi: number, a: number, b: number) {
  const l0 = Math.floor(Math.log10(lo));
  const l1 = Math.ceil(Math.log10(hi));
  const at = (v: number) => a + ((Math.log10(v) - l0) / (l1 - l0)) * (b - a);
  const ticks: number[] = [];
  for (let e = l0; e <= l1; e++) ticks.push(10 ** e);
  return { at, ticks };
}

const tickLabel = (v: number, unit: string) =>
  `${v >= 1 ? v.toLocaleString("en-US") : v.toPrecision(1)}${unit}`;
const short = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(2));
const sizeLabel = (
  n: number,
) => (n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

function subtitle(r: Results): string {
  const load = r.loadAverage ? ` · load ${r.loadAverage[0]!.toFixed(1)}` : "";
  return `Deno ${r.deno} · ${r.arch} · ${r.cpus} CPUs${load} · ${
    r.quick ? "--quick run" : "full run"
  } · ${r.date.slice(0, 10)}`;
}

/** Grouped bars, one group per message size, on a log scale of GB/s. */
function throughputChart(r: Results): string {
  const t = r.throughput!;
  const series = Object.entries(t.series);
  const W = 820, H = 440, left = 70, right = 20, top = 70, bottom = 90;
  const all = series.flatMap(([, v]) => v).filter((v): v is number => v !== null && v > 0);
  const y = logScale(Math.min(...all) / 1e9, Math.max(...all) / 1e9, H - bottom, top);
  const body: string[] = [
    text(left, 26, "One-way throughput between two processes", {
      "font-size": 17,
      "font-weight": 600,
    }),
    text(left, 46, `GB/s, log scale, higher is better · ${subtitle(r)}`, { fill: "#555" }),
  ];
  for (const v of y.ticks) {
    const py = y.at(v);
    body.push(
      `<line x1="${left}" x2="${W - right}" y1="${py.toFixed(1)}" y2="${
        py.toFixed(1)
      }" stroke="#e5e5e5"/>`,
      text(left - 8, py + 4, tickLabel(v, ""), { "text-anchor": "end", fill: "#555" }),
    );
  }
  const groupW = (W - left - right) / t.sizes.length;
  const barW = Math.min(28, (groupW - 30) / series.length);
  t.sizes.forEach((size, g) => {
    const x0 = left + g * groupW + (groupW - barW * series.length) / 2;
    series.forEach(([, vals], k) => {
      const v = vals[g];
      const x = x0 + k * barW;
      if (v === null || v === undefined || v <= 0) {
        body.push(
          text(x + barW / 2, H - bottom - 4, "n/a", {
            "text-anchor": "middle",
            "font-size": 10,
            fill: "#999",
          }),
        );
        return;
      }
      const py = y.at(v / 1e9);
      body.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${py.toFixed(1)}" width="${(barW - 2).toFixed(1)}" ` +
          `height="${(H - bottom - py).toFixed(1)}" fill="${PALETTE[k % PALETTE.length]}">` +
          `<title>${
            esc(`${series[k]![0]}, ${sizeLabel(size)}: ${short(v / 1e9)} GB/s`)
          }</title></rect>`,
        text(x + barW / 2, py - 4, short(v / 1e9), { "text-anchor": "middle", "font-size": 10 }),
      );
    });
    body.push(
      text(left + g * groupW + groupW / 2, H - bottom + 18, `${sizeLabel(size)} messages`, {
        "text-anchor": "middle",
        "font-weight": 600,
      }),
    );
  });
  body.push(
    `<line x1="${left}" x2="${W - right}" y1="${H - bottom}" y2="${H - bottom}" stroke="#333"/>`,
  );
  // Legend, two rows under the axis.
  series.forEach(([name], k) => {
    const col = k % 3, row = Math.floor(k / 3);
    const lx = left + col * 250, ly = H - bottom + 44 + row * 20;
    body.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${
        PALETTE[k % PALETTE.length]
      }"/>`,
      text(lx + 18, ly, name),
    );
  });
  return svg(W, H, body);
}

/** One horizontal bar per primitive, C beside Deno, on a log scale of µs. */
function latencyChart(sources: Results[]): string {
  const rows = sources.flatMap((r) => r.roundTrip?.rows ?? []).filter((row) =>
    row.value !== null && row.value > 0
  );
  // Room for the longest label at about 6.6 px a character of 12 px text.
  const longest = Math.max(...rows.map((row) => row.label.length));
  const rowH = 26, left = 30 + Math.ceil(longest * 6.6), right = 70, top = 70;
  const W = Math.max(860, left + 560);
  const H = top + rows.length * rowH + 70;
  const vals = rows.map((row) => row.value!);
  const x = logScale(Math.min(...vals), Math.max(...vals), left, W - right);
  const base = sources[0]!;
  const body: string[] = [
    text(20, 26, "Round-trip latency between two processes", {
      "font-size": 17,
      "font-weight": 600,
    }),
    text(20, 46, `µs per round trip, log scale, lower is better · ${subtitle(base)}`, {
      fill: "#555",
    }),
  ];
  const axisY = top + rows.length * rowH + 6;
  for (const v of x.ticks) {
    const px = x.at(v);
    body.push(
      `<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${
        top - 6
      }" y2="${axisY}" stroke="#e5e5e5"/>`,
      text(px, axisY + 16, tickLabel(v, " µs"), { "text-anchor": "middle", fill: "#555" }),
    );
  }
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const px = x.at(row.value!);
    const color = row.c ? C_COLOR : DENO_COLOR;
    body.push(
      text(left - 10, y + rowH / 2 + 4, row.label, { "text-anchor": "end" }),
      `<rect x="${left}" y="${y + 4}" width="${Math.max(px - left, 1).toFixed(1)}" height="${
        rowH - 8
      }" fill="${color}">` +
        `<title>${esc(`${row.label}: ${short(row.value!)} µs`)}</title></rect>`,
      text(px + 6, y + rowH / 2 + 4, `${short(row.value!)} µs`, { "font-size": 11 }),
    );
  });
  const ly = axisY + 40;
  body.push(
    `<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${C_COLOR}"/>`,
    text(left + 18, ly, "C, same run (the baseline)"),
    `<rect x="${left + 220}" y="${ly - 10}" width="12" height="12" fill="${DENO_COLOR}"/>`,
    text(left + 238, ly, "Deno (@ipc/shm, or Deno's own socket)"),
  );
  return svg(W, H, body);
}

await Deno.mkdir(values.out, { recursive: true });
const withThroughput = results.find((r) => r.throughput !== undefined);
if (withThroughput) {
  await Deno.writeTextFile(`${values.out}/throughput.svg`, throughputChart(withThroughput));
  console.log(`wrote ${values.out}/throughput.svg`);
}
if (results.some((r) => r.roundTrip !== undefined)) {
  await Deno.writeTextFile(
    `${values.out}/latency.svg`,
    latencyChart(results.filter((r) => r.roundTrip)),
  );
  console.log(`wrote ${values.out}/latency.svg`);
}
if (results.length === 0) Deno.exit(1);
