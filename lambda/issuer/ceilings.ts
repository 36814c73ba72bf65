import { parseDurationSeconds } from "../core/duration";
import { type EndpointPattern, parseEndpointPattern } from "../core/endpoints";
import { usdNumberToMicro } from "../core/money";
import { isVendor, type Vendor } from "../core/vendors";

/**
 * Issuers and their ceilings ("caps as code"), as the Pulumi component hands them to the issuer Lambda in
 * KEYBRAKE_ISSUERS: `{ "<name>": { "token_sha256": "<hex>", "vendors": [...], "max_daily_usd_cap": 500, ... } }`.
 * An omitted ceiling means none beyond the global limits of request validation.
 */
export interface Ceilings {
  vendors?: Vendor[];
  maxDailyCapMicro?: number;
  maxRequestMicro?: number;
  maxExpiresInSeconds?: number;
  allowedEndpoints?: EndpointPattern[];
  labelPrefix?: string;
}

export interface Issuer {
  name: string;
  tokenSha256: string;
  ceilings: Ceilings;
}

export interface IssuerInput {
  token_sha256: string;
  vendors?: string[];
  max_daily_usd_cap?: number;
  max_request_usd?: number;
  max_expires_in?: string | number;
  allowed_endpoints?: string[];
  label_prefix?: string;
}

export function parseIssuers(input: Record<string, IssuerInput>): Issuer[] {
  return Object.entries(input).map(([name, raw]) => {
    const where = `issuers.${name}`;
    if (!/^[0-9a-f]{64}$/.test(raw.token_sha256 ?? "")) throw new Error(`${where}.token_sha256 must be a hex SHA-256`);
    const ceilings: Ceilings = {};
    if (raw.vendors !== undefined) {
      const bad = raw.vendors.find((v) => !isVendor(v));
      if (bad !== undefined) throw new Error(`${where}.vendors has an unknown vendor: ${bad}`);
      ceilings.vendors = raw.vendors as Vendor[];
    }
    if (raw.max_daily_usd_cap !== undefined)
      ceilings.maxDailyCapMicro = positiveUsd(raw.max_daily_usd_cap, `${where}.max_daily_usd_cap`);
    if (raw.max_request_usd !== undefined)
      ceilings.maxRequestMicro = positiveUsd(raw.max_request_usd, `${where}.max_request_usd`);
    if (raw.max_expires_in !== undefined) {
      const seconds = parseDurationSeconds(raw.max_expires_in);
      if (seconds === undefined) throw new Error(`${where}.max_expires_in must be a duration like "1d" or seconds`);
      ceilings.maxExpiresInSeconds = seconds;
    }
    if (raw.allowed_endpoints !== undefined) {
      ceilings.allowedEndpoints = raw.allowed_endpoints.map((text, i) => {
        const pattern = parseEndpointPattern(text);
        if (!pattern) throw new Error(`${where}.allowed_endpoints[${i}] must look like "POST /v1/payment_intents"`);
        return pattern;
      });
    }
    if (raw.label_prefix !== undefined) ceilings.labelPrefix = raw.label_prefix;
    return { name, tokenSha256: raw.token_sha256, ceilings };
  });
}

function positiveUsd(value: number, field: string): number {
  const micro = typeof value === "number" ? usdNumberToMicro(value) : undefined;
  if (micro === undefined || micro <= 0) throw new Error(`${field} must be a positive USD amount`);
  return micro;
}
