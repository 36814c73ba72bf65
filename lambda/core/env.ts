import { type PricingConfig, type PricingInput, parsePricing } from "./pricing";
import { isVendor, type Vendor } from "./vendors";

/** Configuration read once per process from the environment (never per request). */
export const DEFAULT_UPSTREAMS: Record<Vendor, string> = {
  stripe: "https://api.stripe.com",
  twilio: "https://api.twilio.com",
  resend: "https://api.resend.com",
};

export function upstreamsFromEnv(env: NodeJS.ProcessEnv): Record<Vendor, string> {
  return {
    stripe: env.KEYBRAKE_STRIPE_URL || DEFAULT_UPSTREAMS.stripe,
    twilio: env.KEYBRAKE_TWILIO_URL || DEFAULT_UPSTREAMS.twilio,
    resend: env.KEYBRAKE_RESEND_URL || DEFAULT_UPSTREAMS.resend,
  };
}

export function pricingFromEnv(env: NodeJS.ProcessEnv): PricingConfig {
  return parsePricing(env.KEYBRAKE_PRICING ? (JSON.parse(env.KEYBRAKE_PRICING) as PricingInput) : {});
}

export function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

export function vendorList(text: string | undefined): Set<Vendor> {
  return new Set(
    (text ?? "")
      .split(",")
      .map((v) => v.trim())
      .filter(isVendor),
  );
}

/** KEYBRAKE_AUDIT_FILE, or its default: local mode appends there, the CLI reads there. */
export function auditFilePath(env: NodeJS.ProcessEnv): string {
  return env.KEYBRAKE_AUDIT_FILE || ".keybrake/audit.jsonl";
}

/** Vendor answers slower than this are treated as an unknown outcome (504, reservation kept). */
export const UPSTREAM_TIMEOUT_MS = 25_000;
