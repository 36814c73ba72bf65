// Caps that stack (docs/guarantees.md#9-caps-stack): besides its own daily cap, a key may draw from a user
// budget (`POST /vault/budgets`), from its issuer's daily budget for its vendor and from the deployment's daily
// cap for its vendor. The last two are declared as code (component args, stack config) and reach the functions
// as KEYBRAKE_SPEND_CAPS, parsed here; every level is split across `parts` ledger items so that a level shared by
// thousands of concurrent calls is not one hot DynamoDB item.
import { isPlainObject, refuseUnknownFields } from "./fields";
import { usdNumberToMicro } from "./money";
import { isVendor, VENDORS, type Vendor } from "./vendors";

/** `enforce`: a call that does not fit is refused (429); `shadow`: it is forwarded and recorded `would_refuse`. */
export type CapMode = "enforce" | "shadow";
export const CAP_MODES: readonly CapMode[] = ["enforce", "shadow"];

/** Most ledger items one level may be split across (a reservation's transaction stays far below 100 items). */
export const MAX_PARTS = 16;
/** Parts of an issuer budget or deployment cap when the config does not say: every call of a vendor hits them. */
export const DEFAULT_CONFIG_PARTS = 4;
/** The largest cap any level may have, in USD (the same bound as a key's `daily_usd_cap`). */
export const MAX_CAP_USD = 1_000_000;

/** One declared daily cap: the amount, how many ledger items share it, and whether it refuses. */
export interface CapSpec {
  capMicro: number;
  parts: number;
  mode: CapMode;
}

/** KEYBRAKE_SPEND_CAPS, parsed: the deployment's cap per vendor, and each issuer's budget per vendor. */
export interface SpendCaps {
  deployment: Partial<Record<Vendor, CapSpec>>;
  issuers: Record<string, Partial<Record<Vendor, CapSpec>>>;
}

export const NO_SPEND_CAPS: SpendCaps = { deployment: {}, issuers: {} };

/** The JSON shape of one cap in KEYBRAKE_SPEND_CAPS (snake_case like the HTTP API). */
export interface CapSpecInput {
  daily_usd_cap: number;
  parts?: number;
  mode?: CapMode;
}

export interface SpendCapsInput {
  deployment?: Partial<Record<Vendor, CapSpecInput>>;
  issuers?: Record<string, Partial<Record<Vendor, CapSpecInput>>>;
}

/** A declared USD cap as micro-USD; every error names the field (`at`). */
export function capUsd(value: unknown, at: string): number {
  const micro = typeof value === "number" ? usdNumberToMicro(value) : undefined;
  if (micro === undefined || micro <= 0 || micro > MAX_CAP_USD * 1_000_000) {
    const got = typeof value === "string" ? `the string ${JSON.stringify(value)} (write a number)` : String(value);
    throw new Error(`${at} must be > 0 and at most ${MAX_CAP_USD} USD, a number with at most 6 decimals, got ${got}`);
  }
  return micro;
}

export function capParts(value: unknown, at: string): number {
  if (!(typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_PARTS)) {
    throw new Error(`${at} must be a whole number from 1 to ${MAX_PARTS}, got ${String(value)}`);
  }
  return value;
}

export function capMode(value: unknown, at: string): CapMode {
  if (!CAP_MODES.includes(value as CapMode))
    throw new Error(`${at} must be "enforce" or "shadow", got ${String(value)}`);
  return value as CapMode;
}

/** `{stripe: 2000, twilio: 20}` → per-vendor micro-USD, vendors checked. */
export function perVendorUsd(raw: unknown, at: string): Partial<Record<Vendor, number>> {
  if (!isPlainObject(raw)) throw new Error(`${at} must map vendors to USD, e.g. { stripe: 2000 }`);
  const out: Partial<Record<Vendor, number>> = {};
  for (const [vendor, usd] of Object.entries(raw)) {
    if (!isVendor(vendor)) throw new Error(`${at}.${vendor}: unknown vendor (${VENDORS.join(", ")})`);
    out[vendor] = capUsd(usd, `${at}.${vendor}`);
  }
  return out;
}

function parseSpec(raw: unknown, at: string): CapSpec {
  if (!isPlainObject(raw)) throw new Error(`${at} must be an object`);
  refuseUnknownFields(raw, ["daily_usd_cap", "parts", "mode"], at);
  const input = raw as Record<string, unknown>;
  return {
    capMicro: capUsd(input.daily_usd_cap, `${at}.daily_usd_cap`),
    parts: input.parts === undefined ? DEFAULT_CONFIG_PARTS : capParts(input.parts, `${at}.parts`),
    mode: input.mode === undefined ? "enforce" : capMode(input.mode, `${at}.mode`),
  };
}

function parseVendorSpecs(raw: unknown, at: string): Partial<Record<Vendor, CapSpec>> {
  if (!isPlainObject(raw)) throw new Error(`${at} must be an object`);
  const out: Partial<Record<Vendor, CapSpec>> = {};
  for (const [vendor, spec] of Object.entries(raw)) {
    if (!isVendor(vendor)) throw new Error(`${at}.${vendor}: unknown vendor (${VENDORS.join(", ")})`);
    out[vendor] = parseSpec(spec, `${at}.${vendor}`);
  }
  return out;
}

/** Parses KEYBRAKE_SPEND_CAPS (absent or empty: no caps beyond the keys' and the budgets'). */
export function parseSpendCaps(text: string | undefined): SpendCaps {
  if (text === undefined || text.trim() === "") return NO_SPEND_CAPS;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error("KEYBRAKE_SPEND_CAPS is not valid JSON");
  }
  if (!isPlainObject(raw)) throw new Error("KEYBRAKE_SPEND_CAPS must be an object {deployment, issuers}");
  refuseUnknownFields(raw, ["deployment", "issuers"], "KEYBRAKE_SPEND_CAPS");
  const input = raw as Record<string, unknown>;
  const issuers: SpendCaps["issuers"] = {};
  if (input.issuers !== undefined) {
    if (!isPlainObject(input.issuers)) throw new Error("KEYBRAKE_SPEND_CAPS.issuers must be an object");
    for (const [name, specs] of Object.entries(input.issuers)) {
      issuers[name] = parseVendorSpecs(specs, `KEYBRAKE_SPEND_CAPS.issuers.${name}`);
    }
  }
  return {
    deployment:
      input.deployment === undefined ? {} : parseVendorSpecs(input.deployment, "KEYBRAKE_SPEND_CAPS.deployment"),
    issuers,
  };
}

/** The JSON KEYBRAKE_SPEND_CAPS carries for these caps (what the component writes). */
export function spendCapsJson(caps: SpendCaps): string {
  const specs = (byVendor: Partial<Record<Vendor, CapSpec>>) =>
    Object.fromEntries(
      Object.entries(byVendor).map(([vendor, spec]) => [
        vendor,
        { daily_usd_cap: spec!.capMicro / 1_000_000, parts: spec!.parts, mode: spec!.mode },
      ]),
    );
  return JSON.stringify({
    deployment: specs(caps.deployment),
    issuers: Object.fromEntries(Object.entries(caps.issuers).map(([name, byVendor]) => [name, specs(byVendor)])),
  });
}

/**
 * Each part's share of a cap: the cap divided by the parts, the remainder spread one micro-USD at a time over the
 * first parts, so the shares sum to the cap exactly.
 */
export function partShares(capMicro: number, parts: number): number[] {
  const base = Math.floor(capMicro / parts);
  const extra = capMicro - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}
