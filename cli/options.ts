// Flag value parsers. Each throws commander's InvalidArgumentError, so a bad value is reported as
// "option '--cap <usd>' argument '-1' is invalid. …" (naming the flag) and exits 2.
import { InvalidArgumentError } from "commander";
import { type LabelMatch, labelMatch } from "../lambda/audit/filter";
import { MAX_ROWS } from "../lambda/audit/queries";
import { parseDurationSeconds } from "../lambda/core/duration";
import { parseEndpointPattern } from "../lambda/core/endpoints";
import { usdNumberToMicro } from "../lambda/core/money";
import { hasControlCharacters } from "../lambda/core/text";
import { isVendor, VENDORS, type Vendor } from "../lambda/core/vendors";
import { parseSince, type Since } from "./since";

export function parseVendor(value: string): Vendor {
  if (!isVendor(value)) throw new InvalidArgumentError(`expected one of ${VENDORS.join(", ")}`);
  return value;
}

/** A USD amount as keybrake takes it: > 0, at most 6 decimals. */
export function parseUsd(value: string): number {
  const usd = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(usd > 0) || usdNumberToMicro(usd) === undefined)
    throw new InvalidArgumentError("expected a USD amount > 0 with at most 6 decimals");
  return usd;
}

/** `--expires-in`: passed on as written ("5m", "300"), once it reads as a duration. */
export function parseExpiresIn(value: string): string {
  if (parseDurationSeconds(value) === undefined)
    throw new InvalidArgumentError('expected a duration such as "30s", "5m", "2h", "1d" or seconds');
  return value;
}

/** `--endpoint "POST /v1/payment_intents"`, repeatable. */
export function collectEndpoint(value: string, previous: string[] = []): string[] {
  if (!parseEndpointPattern(value))
    throw new InvalidArgumentError('expected "METHOD /path", e.g. "POST /v1/payment_intents" (* matches one segment)');
  return [...previous, value];
}

export function parseSinceOption(value: string): Since {
  const since = parseSince(value);
  if (!since)
    throw new InvalidArgumentError(
      'expected a duration ("30s", "5m", "24h", "7d") or an ISO 8601 time ("2026-11-22T09:00:00Z")',
    );
  return since;
}

export function parseLabel(value: string): LabelMatch {
  return labelMatch(parseText(value, "a label or a glob such as 'modal-billing/*'"));
}

/** Free text (a key id, a label prefix): non-empty, no control characters. */
export function parseText(value: string, expected = "a non-empty value without control characters"): string {
  if (!value || hasControlCharacters(value)) throw new InvalidArgumentError(`expected ${expected}`);
  return value;
}

export function parseLimit(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_ROWS)) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_ROWS}`);
  return n;
}

export function parseLogGroups(value: string): string[] {
  const groups = value
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean);
  if (!groups.length || groups.some((g) => hasControlCharacters(g)))
    throw new InvalidArgumentError("expected a comma-separated list of log group names");
  return groups;
}
