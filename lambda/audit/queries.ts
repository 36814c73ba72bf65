// The CloudWatch Logs Insights queries behind `keybrake audit` and `keybrake spend`, as exact strings (the docs
// print them for pasting into the console, and the component saves them). On Lambda each audit record is the
// `audit` field of a Powertools JSON log line, so Logs Insights discovers its fields as `audit.<name>`. The time
// range is not in the query: it goes in StartQuery's startTime/endTime.
//
// User-supplied values never reach the query unquoted: strings are double-quoted with `\` and `"` escaped
// (`"\"..."` as AWS's own parse examples write it), a label glob becomes a `/regex/` literal with every regex
// metacharacter, `/` and `"` backslash-escaped, and control characters (a newline would start a new command
// line, `#` a comment) are refused outright.
import { hasControlCharacters } from "../core/text";
import { type AuditFilter, SPEND_EVENTS } from "./filter";

export const RECORD_FIELDS = [
  "event",
  "key_id",
  "issuer",
  "agent_run_label",
  "vendor",
  "method",
  "endpoint",
  "decision",
  "reason",
  "settlement",
  "reservation_id",
  "reserved_usd",
  "settled_usd",
  "unsettled_usd",
  "spent_usd",
  "upstream_status",
  "upstream_error",
  "vendor_object_id",
  "vendor_request_id",
  "idempotency_key",
  "budget_id",
  "latency_ms",
] as const;

/** Logs Insights caps `limit` at 10,000 rows; a totals query asks for all of them (one row per label). */
export const MAX_ROWS = 10_000;

function refuseControl(value: string): string {
  if (hasControlCharacters(value))
    throw new Error(`a query value may not contain control characters: ${JSON.stringify(value)}`);
  return value;
}

/** A Logs Insights string literal. */
export function quoteString(value: string): string {
  return `"${refuseControl(value).replace(/[\\"]/g, "\\$&")}"`;
}

/** What a query filters on; the time range is StartQuery's (or the console's), not the query's. */
export type QueryFilter = Omit<AuditFilter, "since" | "until">;

function filterLines(filter: QueryFilter): string[] {
  const lines = [`filter audit.event in [${SPEND_EVENTS.map((e) => `"${e}"`).join(", ")}]`];
  if (filter.vendor) lines.push(`filter audit.vendor = ${quoteString(filter.vendor)}`);
  if (filter.label?.kind === "exact") lines.push(`filter audit.agent_run_label = ${quoteString(filter.label.label)}`);
  if (filter.label?.kind === "glob")
    lines.push(`filter audit.agent_run_label like /${refuseControl(filter.label.regex)}/`);
  if (filter.keyId) lines.push(`filter audit.key_id = ${quoteString(filter.keyId)}`);
  if (filter.budgetId) lines.push(`filter audit.budget_id = ${quoteString(filter.budgetId)}`);
  return lines;
}

/** The records, newest first, at most `limit` of them. */
export function recordsQuery(filter: QueryFilter, limit: number): string {
  const fields = `fields @timestamp, ${RECORD_FIELDS.map((f) => `audit.${f}`).join(", ")}`;
  return [fields, ...filterLines(filter), "sort @timestamp desc", `limit ${limit}`].join("\n| ");
}

/**
 * Totals per label (`audit`) or per vendor and label (`spend`), in two `stats`: the first per reservation (its
 * spend is the largest `spent_usd` among its records, lambda/audit/accounting.ts; records naming no reservation,
 * refusals and retries, carry 0 and fall in one group per label), the second sums those per label. Only refused
 * calls carry `reason` and swept records carry no `decision`, so counting those fields counts refusals and calls.
 */
export function totalsQuery(filter: QueryFilter, by: "label" | "vendor_label"): string {
  const groups = by === "label" ? "audit.agent_run_label" : "audit.vendor, audit.agent_run_label";
  const perReservation =
    "stats count(audit.decision) as n_calls, count(audit.reason) as n_refused, max(audit.spent_usd) as r_spent, " +
    `max(audit.unsettled_usd) as r_unsettled, max(@timestamp) as r_last by audit.reservation_id, ${groups}`;
  const perLabel =
    "stats sum(n_calls) as calls, sum(n_refused) as refused, sum(r_spent) as spent_usd, " +
    `sum(r_unsettled) as unsettled_usd, max(r_last) as last_at by ${groups}`;
  return [...filterLines(filter), perReservation, perLabel, "sort spent_usd desc", `limit ${MAX_ROWS}`].join("\n| ");
}
