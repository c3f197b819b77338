// Statistics and Markdown tables for the bench scripts. Private to bench/.

/** The `q` quantile (0–1) of `values` (nearest rank; sorts a copy). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/** Median, 90th percentile and mean of round-trip samples. */
export interface Stats {
  median: number;
  p90: number;
  mean: number;
}

/** Median, p90 and mean of `values`. */
export function stats(values: ArrayLike<number>): Stats {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return { median: quantile(values, 0.5), p90: quantile(values, 0.9), mean: sum / values.length };
}

/** Prints a Markdown table: a header row, then each row's cells. */
export function printTable(header: string[], rows: string[][]): void {
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
}

/** `v` with `digits` decimals, or "n/a". */
export function num(v: number | undefined | null, digits = 1): string {
  return v === undefined || v === null || !Number.isFinite(v) ? "n/a" : v.toFixed(digits);
}

/** `a ÷ b` as "1.23×", or "n/a". */
export function ratio(a: number | undefined | null, b: number | undefined | null): string {
  if (a === undefined || a === null || b === undefined || b === null || !(b > 0)) return "n/a";
  return `${(a / b).toFixed(2)}×`;
}
