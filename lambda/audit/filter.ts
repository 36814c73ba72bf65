// Which audit records a spend question looks at, as one model for both sources: local mode applies it with
// `matchesFilter` to the audit file, the AWS path turns it into Logs Insights filters (`queries.ts`) and a
// StartQuery time range, so both answer the same question.
import type { Vendor } from "../core/vendors";
import type { AuditRecord, CallRecord, ReservationSweptRecord } from "./record";

export const SPEND_EVENTS = ["call", "reservation_swept"] as const;
/** The records that carry `spent_usd`: summing it over them gives what the ledger kept. */
export type SpendRecord = CallRecord | ReservationSweptRecord;

/** A label filter: exact without `*`; with it, a glob where `*` matches any run of characters, `/` included. */
export type LabelMatch = { kind: "exact"; label: string } | { kind: "glob"; glob: string; regex: string };

export interface AuditFilter {
  vendor?: Vendor;
  label?: LabelMatch;
  keyId?: string;
  /** Only the records of reservations that charged this user budget (docs/audit.md#budgets). */
  budgetId?: string;
  /** The time range, epoch ms, both ends inclusive and whole seconds (StartQuery takes seconds). */
  since: number;
  until: number;
}

// Regex metacharacters, plus `/` (it ends a Logs Insights regex literal) and `"` (a string delimiter there).
const REGEX_SPECIAL = /[\\^$.|?*+()[\]{}/"]/g;

/** The anchored regex source a label glob stands for, e.g. `a.b/*` → `^a\.b\/.*$`. */
export function globRegexSource(glob: string): string {
  return `^${glob
    .split("*")
    .map((part) => part.replace(REGEX_SPECIAL, "\\$&"))
    .join(".*")}$`;
}

export function labelMatch(pattern: string): LabelMatch {
  return pattern.includes("*")
    ? { kind: "glob", glob: pattern, regex: globRegexSource(pattern) }
    : { kind: "exact", label: pattern };
}

const compiled = new Map<string, RegExp>();
export function matchesLabel(match: LabelMatch, label: string | undefined): boolean {
  if (label === undefined) return false;
  if (match.kind === "exact") return label === match.label;
  let regex = compiled.get(match.regex);
  if (!regex) {
    regex = new RegExp(match.regex);
    compiled.set(match.regex, regex);
  }
  return regex.test(label);
}

export function isSpendRecord(record: AuditRecord): record is SpendRecord {
  return (SPEND_EVENTS as readonly string[]).includes(record.event);
}

export function matchesFilter(filter: AuditFilter, record: AuditRecord): record is SpendRecord {
  if (!isSpendRecord(record)) return false;
  if (filter.vendor && record.vendor !== filter.vendor) return false;
  if (filter.keyId && record.key_id !== filter.keyId) return false;
  if (filter.budgetId && record.budget_id !== filter.budgetId) return false;
  if (filter.label && !matchesLabel(filter.label, record.agent_run_label)) return false;
  const time = Date.parse(record.time);
  return time >= filter.since && time <= filter.until;
}
