// The issuer's request bodies (`POST /vault/keys`, `/vault/budgets`, `/vault/revoke`), checked field by field
// before anything reaches the ledger: every 400 names its field.
import { CAP_MODES, type CapMode, MAX_PARTS } from "../core/caps";
import { type CounterpartyLock, parseCounterparty } from "../core/counterparty";
import { parseDurationSeconds } from "../core/duration";
import { type EndpointPattern, parseEndpointPattern } from "../core/endpoints";
import { InvalidRequestError } from "../core/errors";
import { MICRO_PER_USD, usdNumberToMicro } from "../core/money";
import { hasControlCharacters } from "../core/text";
import { isKeyId } from "../core/vault-key";
import { isVendor, VENDORS, type Vendor } from "../core/vendors";

/** `POST /vault/keys` bodies, checked field by field; every 400 names its field. */
export interface KeyRequest {
  vendor: Vendor;
  capMicro: number;
  allowedEndpoints: EndpointPattern[];
  expiresInSeconds: number;
  label: string;
  maxRequestMicro?: number;
  /** Draw from this user budget too (docs/guarantees.md#9-caps-stack). */
  budgetId?: string;
  /** `shadow`: the key's own caps never refuse (a call they would refuse is forwarded and recorded). */
  mode?: CapMode;
  /** Whom its priced calls may act on (docs/guarantees.md#counterparty-lock). */
  counterparty?: CounterpartyLock;
}

/** `POST /vault/budgets` bodies. */
export interface BudgetRequest {
  vendor: Vendor;
  capMicro: number;
  expiresInSeconds: number;
  label: string;
  parts: number;
  mode: CapMode;
}

export const LIMITS = {
  maxDailyCapUsd: 1_000_000,
  maxExpiresInSeconds: 30 * 86_400,
  maxLabelLength: 256,
  maxEndpoints: 100,
};
const FIELDS = new Set([
  "vendor",
  "daily_usd_cap",
  "allowed_endpoints",
  "expires_in",
  "agent_run_label",
  "max_request_usd",
  "budget_id",
  "mode",
  "counterparty",
]);
const BUDGET_FIELDS = new Set(["vendor", "daily_usd_cap", "expires_in", "agent_run_label", "parts", "mode"]);
const REVOKE_FIELDS = new Set(["agent_run_label_prefix"]);

function objectBody(body: unknown, fields: ReadonlySet<string>): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidRequestError("the body must be a JSON object", "body");
  }
  const input = body as Record<string, unknown>;
  const unknown = Object.keys(input).find((k) => !fields.has(k));
  if (unknown !== undefined) throw new InvalidRequestError(`unknown field ${unknown}`, unknown);
  return input;
}

function vendorOf(input: Record<string, unknown>): Vendor {
  if (!isVendor(input.vendor)) throw new InvalidRequestError(`vendor must be one of ${VENDORS.join(", ")}`, "vendor");
  return input.vendor;
}

function expiresInOf(input: Record<string, unknown>): number {
  const expiresInSeconds = parseDurationSeconds(input.expires_in);
  if (expiresInSeconds === undefined || expiresInSeconds > LIMITS.maxExpiresInSeconds) {
    throw new InvalidRequestError(
      `expires_in must be "30s", "5m", "2h", "1d" or whole seconds, at most ${LIMITS.maxExpiresInSeconds / 86_400} days`,
      "expires_in",
    );
  }
  return expiresInSeconds;
}

function labelOf(input: Record<string, unknown>): string {
  const label = input.agent_run_label;
  if (!isLabelText(label)) {
    throw new InvalidRequestError(
      `agent_run_label must be 1 to ${LIMITS.maxLabelLength} characters with no control characters`,
      "agent_run_label",
    );
  }
  return label;
}

function modeOf(input: Record<string, unknown>): CapMode | undefined {
  if (input.mode === undefined) return undefined;
  if (!CAP_MODES.includes(input.mode as CapMode))
    throw new InvalidRequestError(`mode must be "enforce" or "shadow"`, "mode");
  return input.mode as CapMode;
}

/** `POST /vault/budgets`: the same rules as a key's vendor, cap, lifetime and label, and its parts and mode. */
export function validateBudgetRequest(body: unknown): BudgetRequest {
  const input = objectBody(body, BUDGET_FIELDS);
  const vendor = vendorOf(input);
  const capMicro = usd(input.daily_usd_cap, "daily_usd_cap", LIMITS.maxDailyCapUsd);
  const expiresInSeconds = expiresInOf(input);
  const label = labelOf(input);
  const parts = input.parts ?? 1;
  if (!(typeof parts === "number" && Number.isInteger(parts) && parts >= 1 && parts <= MAX_PARTS)) {
    throw new InvalidRequestError(`parts must be a whole number from 1 to ${MAX_PARTS}`, "parts");
  }
  // Every part must be able to hold something: at least one micro-USD of share each.
  if (parts > capMicro) throw new InvalidRequestError("parts may not exceed the cap in micro-USD", "parts");
  return { vendor, capMicro, expiresInSeconds, label, parts, mode: modeOf(input) ?? "enforce" };
}

export function validateKeyRequest(body: unknown): KeyRequest {
  const input = objectBody(body, FIELDS);
  const vendor = vendorOf(input);
  const capMicro = usd(input.daily_usd_cap, "daily_usd_cap", LIMITS.maxDailyCapUsd);
  const maxRequestMicro =
    input.max_request_usd === undefined
      ? undefined
      : usd(input.max_request_usd, "max_request_usd", LIMITS.maxDailyCapUsd);
  if (maxRequestMicro !== undefined && maxRequestMicro > capMicro) {
    throw new InvalidRequestError("max_request_usd may not exceed daily_usd_cap", "max_request_usd");
  }

  const endpoints = input.allowed_endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.length > LIMITS.maxEndpoints) {
    throw new InvalidRequestError(
      `allowed_endpoints must be a list of 1 to ${LIMITS.maxEndpoints} entries`,
      "allowed_endpoints",
    );
  }
  const allowedEndpoints = endpoints.map((text, i) => {
    const pattern = parseEndpointPattern(text);
    if (!pattern) {
      throw new InvalidRequestError(
        `allowed_endpoints[${i}] must look like "POST /v1/payment_intents" (method, one space, a path; * matches one segment)`,
        "allowed_endpoints",
      );
    }
    return pattern;
  });

  const expiresInSeconds = expiresInOf(input);
  const label = labelOf(input);
  const budgetId = input.budget_id;
  if (budgetId !== undefined && !(typeof budgetId === "string" && isKeyId(budgetId))) {
    throw new InvalidRequestError("budget_id must be a budget id as POST /vault/budgets returned it", "budget_id");
  }
  const mode = modeOf(input);
  const counterparty = input.counterparty === undefined ? undefined : parseCounterparty(input.counterparty, vendor);
  return {
    vendor,
    capMicro,
    allowedEndpoints,
    expiresInSeconds,
    label,
    maxRequestMicro,
    counterparty,
    ...(budgetId !== undefined ? { budgetId: budgetId as string } : {}),
    ...(mode === "shadow" ? { mode } : {}),
  };
}

/**
 * A run label, or a prefix of one: 1 to 256 characters, none of them a control character (C0, DEL or C1: U+0085
 * or an 8-bit CSI in a terminal showing the audit trail) nor half a surrogate pair (no character at all, and no
 * valid UTF-8 for DynamoDB or a log line).
 */
export function isLabelText(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length > 0 &&
    value.length <= LIMITS.maxLabelLength &&
    !hasControlCharacters(value) &&
    !NOT_LABEL_TEXT.test(value)
  );
}
/** C1 controls and lone surrogates (with the `u` flag, a well-formed pair is one code point, never `\p{Cs}`). */
const NOT_LABEL_TEXT = /[\u0080-\u009f]|\p{Cs}/u;

/** `POST /vault/revoke`'s body: `{"agent_run_label_prefix": "..."}` and nothing else. */
export function validateRevokeRequest(body: unknown): string {
  const prefix = objectBody(body, REVOKE_FIELDS).agent_run_label_prefix;
  if (!isLabelText(prefix)) {
    throw new InvalidRequestError(
      `agent_run_label_prefix must be 1 to ${LIMITS.maxLabelLength} characters with no control characters`,
      "agent_run_label_prefix",
    );
  }
  return prefix;
}

function usd(value: unknown, field: string, max: number): number {
  const micro = typeof value === "number" ? usdNumberToMicro(value) : undefined;
  if (micro === undefined || micro <= 0 || micro > max * MICRO_PER_USD) {
    throw new InvalidRequestError(
      `${field} must be a number of USD above 0 and at most ${max}, with at most 6 decimals`,
      field,
    );
  }
  return micro;
}
