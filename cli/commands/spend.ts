// `keybrake spend`: what each run label spent per vendor, and each vendor's total.
import type { Command } from "commander";
import { type CliContext, openAuditSource } from "../config";
import { formatUsd, renderTable, shortTime, toJson } from "../format";
import { parseSince, timeWindow } from "../since";
import { totalsByVendor, type VendorLabelTotals, type VendorTotals } from "../totals";
import { type FilterFlags, withFilterFlags } from "./source-flags";

const DEFAULT_SINCE = "7d";

export function registerSpend(program: Command, ctx: CliContext): void {
  withFilterFlags(
    program.command("spend").description("spend per vendor and run label, with a total per vendor"),
    DEFAULT_SINCE,
  ).action(async (flags: FilterFlags) => {
    const window = timeWindow(flags.since ?? parseSince(DEFAULT_SINCE)!, ctx.now());
    const rows = await openAuditSource(flags, ctx).spend({ vendor: flags.vendor, label: flags.label, ...window });
    const vendors = totalsByVendor(rows);
    if (flags.json) return void ctx.stdout.write(toJson({ by_label: rows, by_vendor: vendors }));
    if (!rows.length) return void ctx.stdout.write(`no calls since ${new Date(window.since).toISOString()} match\n`);
    ctx.stdout.write(`${labelTable(rows)}\n${vendorTable(vendors)}`);
  });
}

const money = [
  { header: "calls", align: "right" as const },
  { header: "refused", align: "right" as const },
  { header: "spent_usd", align: "right" as const },
  { header: "unsettled_usd", align: "right" as const },
];
const moneyCells = (t: VendorTotals | VendorLabelTotals) => [
  String(t.calls),
  String(t.refused),
  formatUsd(t.spent_usd),
  formatUsd(t.unsettled_usd),
];

function labelTable(rows: VendorLabelTotals[]): string {
  return renderTable(
    [{ header: "vendor" }, { header: "label" }, ...money, { header: "last_call" }],
    rows.map((r) => [r.vendor, r.agent_run_label ?? "(none)", ...moneyCells(r), shortTime(r.last_at)]),
  );
}

function vendorTable(vendors: VendorTotals[]): string {
  return renderTable(
    [{ header: "vendor" }, ...money],
    vendors.map((v) => [v.vendor, ...moneyCells(v)]),
  );
}
