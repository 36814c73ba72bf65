// Human output: USD amounts and aligned plain-text tables. `--json` output never goes through here.
import { MICRO_PER_USD } from "../lambda/core/money";

/** 50 → "50.00", 29.99 → "29.99", 0.0083 → "0.0083": cents always, sub-cent digits only when present. */
export function formatUsd(value: number): string {
  const micro = Math.round(Math.abs(value) * MICRO_PER_USD); // audit amounts have at most 6 decimals
  const whole = Math.floor(micro / MICRO_PER_USD);
  const fraction = String(micro % MICRO_PER_USD)
    .padStart(6, "0")
    .replace(/0{1,4}$/, "");
  return `${value < 0 && micro > 0 ? "-" : ""}${whole}.${fraction}`;
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: "left" | "right";
}

export function renderTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (columns[i]?.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return `${[line(columns.map((c) => c.header)), ...rows.map(line)].join("\n")}\n`;
}

/** A key/value block (`keys show`, `keys issue`). */
export function renderFields(fields: [string, string][]): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return `${fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")}\n`;
}

export const dash = (value: unknown): string =>
  value === undefined || value === null || value === "" ? "-" : String(value);

/** `--json` output: keybrake's answer or the CLI's result, pretty-printed. */
export const toJson = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** ISO 8601 without the milliseconds, for tables. */
export const shortTime = (iso: string | null | undefined): string => (iso ? iso.replace(/\.\d+Z$/, "Z") : "-");
