// Issuers and their ceilings ("caps as code"), parsed once for every place they are declared: the component's
// `issuers` arg, the root program's `keybrake:issuers` stack config, and the issuer Lambda's KEYBRAKE_ISSUERS
// (`{"<name>": {"token_sha256": "<hex>", "vendors": [...], "max_daily_usd_cap": 500, ...}}`). An omitted
// ceiling means none beyond the request limits; an unknown field is an error naming it, so a typo fails closed.
import {
  type CapMode,
  type CapSpec,
  capMode,
  capParts,
  DEFAULT_CONFIG_PARTS,
  perVendorUsd,
  type SpendCaps,
} from "../core/caps";
import { parseDurationSeconds } from "../core/duration";
import { type EndpointPattern, parseEndpointPattern } from "../core/endpoints";
import { fieldsOf, isPlainObject, refuseUnknownFields } from "../core/fields";
import { usdNumberToMicro } from "../core/money";
import { isVendor, VENDORS, type Vendor } from "../core/vendors";
import { isLabelText, LIMITS } from "./validate";

/**
 * Ceilings of one issuer, as declared: what keys it may grant. Field names are snake_case because they match
 * the HTTP API's and the stack config's.
 */
export interface IssuerCeilingsInput {
  /** Vendors it may issue keys for. Default: every enabled vendor. */
  vendors?: Vendor[];
  /** Largest `daily_usd_cap` it may grant, in USD. */
  max_daily_usd_cap?: number;
  /** Largest `max_request_usd` it may grant; its keys must then set one. */
  max_request_usd?: number;
  /** Longest `expires_in` it may grant: "30s", "5m", "2h", "1d" or seconds. */
  max_expires_in?: string | number;
  /** Endpoints it may grant ("POST /v1/payment_intents", `*` = one segment); each granted one must fall within one. */
  allowed_endpoints?: string[];
  /** Prefix every `agent_run_label` it grants must start with, e.g. "modal-billing/". */
  label_prefix?: string;
  /**
   * Vendor → USD: a daily budget every key of this issuer for that vendor draws from, enforced in the same atomic
   * decision as the key's own cap (docs/guarantees.md#9-caps-stack), e.g. `{ stripe: 2000 }`.
   */
  daily_usd_budget?: Partial<Record<Vendor, number>>;
  /** Ledger items each of those budgets is split across (1–16, default 4): more parts, more calls per second. */
  budget_parts?: number;
  /** `"shadow"`: the budgets never refuse; calls they would refuse are forwarded and recorded. Default `"enforce"`. */
  budget_mode?: CapMode;
  /** Every key it grants must carry a `counterparty` lock (docs/guarantees.md#counterparty-lock). */
  require_counterparty?: boolean;
}

export const CEILING_FIELDS = fieldsOf<IssuerCeilingsInput>()([
  "vendors",
  "max_daily_usd_cap",
  "max_request_usd",
  "max_expires_in",
  "allowed_endpoints",
  "label_prefix",
  "daily_usd_budget",
  "budget_parts",
  "budget_mode",
  "require_counterparty",
]);

export interface Ceilings {
  vendors?: Vendor[];
  maxDailyCapMicro?: number;
  maxRequestMicro?: number;
  maxExpiresInSeconds?: number;
  allowedEndpoints?: EndpointPattern[];
  labelPrefix?: string;
  /** The issuer's daily budget per vendor (not a ceiling on what it grants: a level its keys draw from). */
  budget?: Partial<Record<Vendor, CapSpec>>;
  requireCounterparty?: boolean;
}

export interface Issuer {
  name: string;
  tokenSha256: string;
  ceilings: Ceilings;
}

/** Issuer names: they become resource names and metric dimension values. */
const ISSUER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function isIssuerName(name: string): boolean {
  return ISSUER_NAME.test(name);
}

/** Parses one issuer's declared ceilings; every error names the field (`at` is its path, e.g. `issuers.billing`). */
export function parseCeilings(raw: unknown, at: string): Ceilings {
  if (!isPlainObject(raw)) throw new Error(`${at} must be an object`);
  refuseUnknownFields(raw, CEILING_FIELDS, at);
  const input = raw as Record<(typeof CEILING_FIELDS)[number], unknown>;
  const ceilings: Ceilings = {};
  if (input.vendors !== undefined) {
    if (!Array.isArray(input.vendors)) throw new Error(`${at}.vendors must be a list of ${VENDORS.join(", ")}`);
    const bad = input.vendors.find((v) => !isVendor(v));
    if (bad !== undefined) throw new Error(`${at}.vendors: unknown vendor ${String(bad)} (${VENDORS.join(", ")})`);
    ceilings.vendors = input.vendors as Vendor[];
  }
  if (input.max_daily_usd_cap !== undefined) {
    ceilings.maxDailyCapMicro = ceilingUsd(input.max_daily_usd_cap, `${at}.max_daily_usd_cap`);
  }
  if (input.max_request_usd !== undefined) {
    ceilings.maxRequestMicro = ceilingUsd(input.max_request_usd, `${at}.max_request_usd`);
  }
  if (input.max_expires_in !== undefined) {
    const seconds = parseDurationSeconds(input.max_expires_in);
    if (seconds === undefined || seconds > LIMITS.maxExpiresInSeconds) {
      throw new Error(
        `${at}.max_expires_in must be a duration like "1d" or seconds, at most 30 days, got ${String(input.max_expires_in)}`,
      );
    }
    ceilings.maxExpiresInSeconds = seconds;
  }
  if (input.allowed_endpoints !== undefined) {
    if (!Array.isArray(input.allowed_endpoints)) throw new Error(`${at}.allowed_endpoints must be a list`);
    ceilings.allowedEndpoints = input.allowed_endpoints.map((text, i) => {
      const pattern = parseEndpointPattern(text);
      if (!pattern) {
        throw new Error(`${at}.allowed_endpoints[${i}] must look like "POST /v1/payment_intents", got ${String(text)}`);
      }
      return pattern;
    });
  }
  if (input.label_prefix !== undefined) {
    if (!isLabelText(input.label_prefix)) {
      throw new Error(`${at}.label_prefix must be 1 to ${LIMITS.maxLabelLength} characters with no control characters`);
    }
    ceilings.labelPrefix = input.label_prefix;
  }
  if (input.daily_usd_budget !== undefined) {
    const parts =
      input.budget_parts === undefined ? DEFAULT_CONFIG_PARTS : capParts(input.budget_parts, `${at}.budget_parts`);
    const mode = input.budget_mode === undefined ? "enforce" : capMode(input.budget_mode, `${at}.budget_mode`);
    const budget: Partial<Record<Vendor, CapSpec>> = {};
    for (const [vendor, capMicro] of Object.entries(perVendorUsd(input.daily_usd_budget, `${at}.daily_usd_budget`))) {
      if (ceilings.vendors && !ceilings.vendors.includes(vendor as Vendor)) {
        throw new Error(`${at}.daily_usd_budget.${vendor}: this issuer may not issue ${vendor} keys (vendors)`);
      }
      budget[vendor as Vendor] = { capMicro: capMicro!, parts, mode };
    }
    ceilings.budget = budget;
  } else if (input.budget_parts !== undefined || input.budget_mode !== undefined) {
    throw new Error(`${at}.budget_parts and budget_mode go with daily_usd_budget`);
  }
  if (input.require_counterparty !== undefined) {
    if (typeof input.require_counterparty !== "boolean")
      throw new Error(`${at}.require_counterparty must be true or false`);
    ceilings.requireCounterparty = input.require_counterparty;
  }
  return ceilings;
}

/**
 * The spend caps declared as code: the deployment's cap per vendor and each issuer's budgets, as the issuer and
 * proxy functions receive them (KEYBRAKE_SPEND_CAPS).
 */
export function spendCapsOf(
  issuers: ReadonlyArray<{ name: string; ceilings: Ceilings }>,
  deployment: SpendCaps["deployment"],
): SpendCaps {
  const byIssuer: SpendCaps["issuers"] = {};
  for (const issuer of issuers) if (issuer.ceilings.budget) byIssuer[issuer.name] = issuer.ceilings.budget;
  return { deployment, issuers: byIssuer };
}

function ceilingUsd(value: unknown, field: string): number {
  const micro = typeof value === "number" ? usdNumberToMicro(value) : undefined;
  if (micro === undefined || micro <= 0 || micro > LIMITS.maxDailyCapUsd * 1_000_000) {
    const got = typeof value === "string" ? `the string ${JSON.stringify(value)} (write a number)` : String(value);
    throw new Error(
      `${field} must be > 0 and at most ${LIMITS.maxDailyCapUsd} USD, a number with at most 6 decimals, got ${got}`,
    );
  }
  return micro;
}

/** The issuer Lambda's KEYBRAKE_ISSUERS: each issuer's token hash and ceilings. */
export function parseIssuers(input: unknown): Issuer[] {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw new Error("issuers must be an object");
  const tokens = new Set<string>();
  return Object.entries(input).map(([name, raw]) => {
    const at = `issuers.${name}`;
    if (!isIssuerName(name)) throw new Error(`${at}: issuer names are 1-64 letters, digits, - or _`);
    const { token_sha256: tokenSha256, ...ceilings } = (raw ?? {}) as { token_sha256?: unknown };
    if (typeof tokenSha256 !== "string" || !/^[0-9a-f]{64}$/.test(tokenSha256)) {
      throw new Error(`${at}.token_sha256 must be a hex SHA-256`);
    }
    // One token, one issuer: otherwise which issuer's ceilings a request gets would depend on the order.
    if (tokens.has(tokenSha256)) throw new Error(`${at}.token_sha256 is another issuer's token too`);
    tokens.add(tokenSha256);
    return { name, tokenSha256, ceilings: parseCeilings(ceilings, at) };
  });
}
