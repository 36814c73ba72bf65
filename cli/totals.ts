// Totals of spend records for `audit` and `spend`, the same numbers the Logs Insights stats query computes, so
// local mode's answers match the AWS path's: each reservation is counted once at its largest amount
// (lambda/audit/accounting.ts).
import { reservationTotals } from "../lambda/audit/accounting";
import type { SpendRecord } from "../lambda/audit/filter";
import { sumUsd } from "../lambda/core/money";

/** `calls` counts call records, `refused` the refused ones; money is summed exactly (through micro-USD); `last_at` is the newest. */
export interface Totals {
  calls: number;
  refused: number;
  spent_usd: number;
  unsettled_usd: number;
  last_at: string | null;
}

export interface LabelTotals extends Totals {
  /** null for records with no label (calls refused before their key was known). */
  agent_run_label: string | null;
}

export interface VendorLabelTotals extends LabelTotals {
  vendor: string;
}

export interface VendorTotals extends Totals {
  vendor: string;
}

function combine(parts: Totals[]): Totals {
  const times = parts.map((p) => p.last_at).filter((t): t is string => t !== null);
  return {
    calls: parts.reduce((n, p) => n + p.calls, 0),
    refused: parts.reduce((n, p) => n + p.refused, 0),
    spent_usd: sumUsd(parts.map((p) => p.spent_usd)),
    unsettled_usd: sumUsd(parts.map((p) => p.unsettled_usd)),
    last_at: times.sort().at(-1) ?? null, // ISO 8601 UTC strings sort as times do
  };
}

function group<T, K extends object>(items: T[], keyOf: (item: T) => K, partOf: (item: T) => Totals): (K & Totals)[] {
  const groups = new Map<string, { key: K; parts: Totals[] }>();
  for (const item of items) {
    const key = keyOf(item);
    const id = JSON.stringify(key);
    const entry = groups.get(id) ?? { key, parts: [] };
    entry.parts.push(partOf(item));
    groups.set(id, entry);
  }
  return [...groups.values()].map(({ key, parts }) => ({ ...key, ...combine(parts) }));
}

/** One group's records: counted one by one, their money per reservation. */
function recordsTotals(records: SpendRecord[]): Totals {
  const times = records.map((r) => r.time).filter((t): t is string => typeof t === "string");
  return {
    calls: records.filter((r) => r.event === "call").length,
    refused: records.filter((r) => r.event === "call" && r.decision === "refused").length,
    ...reservationTotals(records),
    last_at: times.sort().at(-1) ?? null,
  };
}

function groupRecords<K extends object>(records: SpendRecord[], keyOf: (r: SpendRecord) => K): (K & Totals)[] {
  const groups = new Map<string, { key: K; records: SpendRecord[] }>();
  for (const record of records) {
    const key = keyOf(record);
    const id = JSON.stringify(key);
    const entry = groups.get(id) ?? { key, records: [] };
    entry.records.push(record);
    groups.set(id, entry);
  }
  return [...groups.values()].map(({ key, records }) => ({ ...key, ...recordsTotals(records) }));
}

/** Most spent first; ties by label, so the output is stable. */
export function bySpend<T extends Totals & { agent_run_label?: string | null; vendor?: string }>(rows: T[]): T[] {
  return rows.sort(
    (a, b) =>
      b.spent_usd - a.spent_usd ||
      (a.vendor ?? "").localeCompare(b.vendor ?? "") ||
      (a.agent_run_label ?? "").localeCompare(b.agent_run_label ?? ""),
  );
}

export function totalsByLabel(records: SpendRecord[]): LabelTotals[] {
  return bySpend(groupRecords(records, (r) => ({ agent_run_label: r.agent_run_label ?? null })));
}

export function totalsByVendorLabel(records: SpendRecord[]): VendorLabelTotals[] {
  return bySpend(groupRecords(records, (r) => ({ vendor: r.vendor, agent_run_label: r.agent_run_label ?? null })));
}

/** The per-vendor lines under `keybrake spend`, from its per-label rows (either source). */
export function totalsByVendor(rows: VendorLabelTotals[]): VendorTotals[] {
  return group(
    rows,
    (r) => ({ vendor: r.vendor }),
    (r) => r,
  ).sort((a, b) => a.vendor.localeCompare(b.vendor));
}
