// `keybrake audit`: the spend records themselves, newest first, then a total per run label.
import type { Command } from "commander";
import type { SpendRecord } from "../../lambda/audit/filter";
import { type CliContext, openAuditSource } from "../config";
import { dash, formatUsd, renderTable, shortTime, toJson } from "../format";
import { parseLimit, parseText } from "../options";
import { parseSince, timeWindow } from "../since";
import type { LabelTotals } from "../totals";
import { type FilterFlags, withFilterFlags } from "./source-flags";

const DEFAULT_SINCE = "24h";
const DEFAULT_LIMIT = 1000;

export function registerAudit(program: Command, ctx: CliContext): void {
  withFilterFlags(
    program.command("audit").description("calls and swept reservations, newest first, with totals per label"),
    DEFAULT_SINCE,
  )
    .option("--key <key_id>", "only this key", (v: string) => parseText(v, "a key id"))
    .option("--budget <budget_id>", "only the reservations that charged this budget", (v: string) =>
      parseText(v, "a budget id"),
    )
    .option("--limit <n>", `show at most n records (default: ${DEFAULT_LIMIT}; totals always cover all)`, parseLimit)
    .action(async (flags: FilterFlags & { key?: string; budget?: string; limit?: number }) => {
      const window = timeWindow(flags.since ?? parseSince(DEFAULT_SINCE)!, ctx.now());
      const filter = { vendor: flags.vendor, label: flags.label, keyId: flags.key, budgetId: flags.budget, ...window };
      const limit = flags.limit ?? DEFAULT_LIMIT;
      const result = await openAuditSource(flags, ctx).audit(filter, limit);
      if (flags.json) {
        const totals = result.totals.map(({ last_at: _, ...t }) => t);
        return void ctx.stdout.write(toJson({ records: result.records, totals }));
      }
      if (!result.records.length) {
        return void ctx.stdout.write(`no calls since ${new Date(window.since).toISOString()} match\n`);
      }
      ctx.stdout.write(`${recordsTable(result.records)}\n${labelTotalsTable(result.totals)}`);
      if (result.truncated)
        ctx.stderr.write(`keybrake: showing the newest ${limit} records (--limit); the totals cover every match\n`);
    });
}

function outcome(record: SpendRecord): string {
  if (record.event === "reservation_swept") return "swept";
  if (record.decision === "refused") return `refused: ${record.reason ?? "?"}`;
  return record.upstream_error ? `forwarded (${record.upstream_error})` : "forwarded";
}

function recordsTable(records: SpendRecord[]): string {
  return renderTable(
    [
      { header: "time" },
      { header: "key_id" },
      { header: "label" },
      { header: "vendor" },
      { header: "call" },
      { header: "outcome" },
      { header: "settlement" },
      { header: "spent_usd", align: "right" },
      { header: "status", align: "right" },
      { header: "vendor_object_id" },
    ],
    records.map((r) => [
      shortTime(r.time),
      dash(r.key_id),
      dash(r.agent_run_label),
      r.vendor,
      r.event === "call" ? `${r.method} ${r.endpoint}` : "-",
      outcome(r),
      r.event === "call" ? r.settlement : "unsettled",
      formatUsd(r.spent_usd ?? 0),
      r.event === "call" ? dash(r.upstream_status) : "-",
      r.event === "call" ? dash(r.vendor_object_id) : "-",
    ]),
  );
}

function labelTotalsTable(totals: LabelTotals[]): string {
  return renderTable(
    [
      { header: "label" },
      { header: "calls", align: "right" },
      { header: "refused", align: "right" },
      { header: "spent_usd", align: "right" },
      { header: "unsettled_usd", align: "right" },
    ],
    totals.map((t) => [
      t.agent_run_label ?? "(none)",
      String(t.calls),
      String(t.refused),
      formatUsd(t.spent_usd),
      formatUsd(t.unsettled_usd),
    ]),
  );
}
