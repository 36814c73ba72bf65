// `--since` for `keybrake audit` and `keybrake spend`: a duration back from now, or a point in time. The
// filter model itself (vendor, label, key, time range) is the audit format's: lambda/audit/filter.ts.
import { parseDurationSeconds } from "../lambda/core/duration";

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
