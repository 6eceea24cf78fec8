// Text formatting for the CLI: sizes, modes, times and aligned columns.

const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** `1536` → `1.5 KiB` (progress bars, summaries). */
export function iecBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < IEC.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${IEC[i]}`;
}

/** `1536` → `1.5K`, like `du -h`/`ls -lh` (powers of 1024, one decimal below 10). */
export function shortBytes(n: number): string {
  const units = ["", "K", "M", "G", "T", "P"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return String(v);
  return `${v < 10 ? (Math.ceil(v * 10) / 10).toFixed(1) : Math.ceil(v)}${units[i]}`;
}

export type Kind = "file" | "directory" | "symlink";

/** `("directory", 0o40755)` → `drwxr-xr-x`. */
export function modeString(kind: Kind, mode: number): string {
  const type = kind === "directory" ? "d" : kind === "symlink" ? "l" : "-";
  let s = type;
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7;
    s += (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (bits & 1 ? "x" : "-");
  }
  return s;
}

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** Local time, minutes: `2025-01-02 03:04`. */
export function shortTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** Local time, seconds, with the UTC offset: `2025-01-02 03:04:05 +0100`. */
export function longTime(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${shortTime(ms)}:${pad2(d.getSeconds())} ${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

/** `1234` ms → `1.2 s`, `95000` → `1m35s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
}

/** Rows as aligned columns; `right` lists the columns aligned to the right. */
export function columns(rows: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        if (i === row.length - 1 && !right.has(i)) return cell;
        const w = widths[i] ?? 0;
        return right.has(i) ? cell.padStart(w) : cell.padEnd(w);
      })
      .join("  "),
  );
}

/** `"1"`/`"1.5"` with units: `512`, `64K`, `1.5M`, `2G`, `1GiB` → bytes. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? "").toLowerCase();
  const power = unit === "" ? 0 : "kmgt".indexOf(unit) + 1;
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/** `600000`, `500ms`, `30s`, `10m`, `1h`, `0` → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? "ms").toLowerCase();
  const scale: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Math.round(Number(m[1]) * (scale[unit] ?? 1));
}
