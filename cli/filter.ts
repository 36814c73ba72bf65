import type { AuditRecord, CallRecord, ReservationSweptRecord } from "../lambda/audit/record";
import { parseDurationSeconds } from "../lambda/core/duration";
import type { Vendor } from "../lambda/core/vendors";

/**
 * Which audit records `keybrake audit` and `keybrake spend` look at. One model for both sources: local mode
 * applies it with `matchesFilter`, the AWS path turns it into Logs Insights filters (insights-queries.ts)
 * and a StartQuery time range, so both answer the same question.
 */
export const SPEND_EVENTS = ["call", "reservation_swept"] as const;
/** The records that carry `spent_usd`: summing it over them gives what the ledger kept. */
export type SpendRecord = CallRecord | ReservationSweptRecord;

/** `--label`: exact without `*`; with it, a glob where `*` matches any run of characters, `/` included. */
export type LabelMatch = { kind: "exact"; label: string } | { kind: "glob"; glob: string; regex: string };

export interface AuditFilter {
  vendor?: Vendor;
  label?: LabelMatch;
  keyId?: string;
  /** The time range, epoch ms, both ends inclusive and whole seconds (StartQuery takes seconds). */
  since: number;
  until: number;
}

/** `--since`: a duration back from now, or a point in time. */
export type Since = { seconds: number } | { at: number };

// An ISO 8601 date or date-time; Date.parse alone would also take "Nov 22" or "1".
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export function parseSince(text: string): Since | undefined {
  const seconds = parseDurationSeconds(text);
  if (seconds !== undefined) return { seconds };
  const iso = ISO_TIME.exec(text);
  if (!iso) return undefined;
  // Audit times are UTC, so a time without an offset is read as UTC (not as this machine's zone).
  const at = Date.parse(text.includes("T") && !iso[1] ? `${text}Z` : text);
  return Number.isNaN(at) ? undefined : { at };
}

/** The window `since` names, ending now (rounded up to a whole second, so a 24h window is exactly 86,400 s). */
export function timeWindow(since: Since, now: number): { since: number; until: number } {
  const until = Math.ceil(now / 1000) * 1000;
  return { since: "seconds" in since ? until - since.seconds * 1000 : Math.floor(since.at / 1000) * 1000, until };
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
  if (filter.label && !matchesLabel(filter.label, record.agent_run_label)) return false;
  const time = Date.parse(record.time);
  return time >= filter.since && time <= filter.until;
}
