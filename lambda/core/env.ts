// The environment variables keybrake reads, named once. The deployed functions' own contract (what the
// component writes, what each handler reads) is built on these in lambda/handlers/config.ts; local mode reads
// the vendor secrets, upstream URLs, pricing and audit file from the same names (docs/http-api.md, local mode).
import { type PricingConfig, type PricingInput, parsePricing } from "./pricing";
import { isVendor, type Vendor } from "./vendors";

export const ENV = {
  /** The ledger table's name. */
  table: "KEYBRAKE_TABLE",
  /** The issuer function's issuers: `{"<name>": {"token_sha256": "<hex>", ...ceilings}}`. */
  issuers: "KEYBRAKE_ISSUERS",
  /** Comma-separated vendors this deployment holds secrets for. */
  enabledVendors: "KEYBRAKE_ENABLED_VENDORS",
  /** JSON pricing overrides (docs/pricing.md). */
  pricing: "KEYBRAKE_PRICING",
  /** The deployment's name: the `service` dimension of every metric. */
  deployment: "KEYBRAKE_DEPLOYMENT",
  /** Issuer budgets and deployment caps declared as code (lambda/core/caps.ts), for the issuer and the proxy. */
  spendCaps: "KEYBRAKE_SPEND_CAPS",
  /** The proxy's EventBridge bus for cap threshold events (absent: audit records and metrics only). */
  eventBus: "KEYBRAKE_EVENT_BUS",
  /** Local mode's audit file (JSON lines); the CLI reads the same file. */
  auditFile: "KEYBRAKE_AUDIT_FILE",
  serviceName: "POWERTOOLS_SERVICE_NAME",
  metricsNamespace: "POWERTOOLS_METRICS_NAMESPACE",
} as const;

/** The Secrets Manager ARN of a vendor's real credential (proxy function). */
export const secretArnEnv = (vendor: Vendor) => `KEYBRAKE_${vendor.toUpperCase()}_SECRET_ARN`;
/** A vendor's upstream base URL, overriding the real API (local mode and tests). */
export const upstreamUrlEnv = (vendor: Vendor) => `KEYBRAKE_${vendor.toUpperCase()}_URL`;

export const DEFAULT_UPSTREAMS: Record<Vendor, string> = {
  stripe: "https://api.stripe.com",
  twilio: "https://api.twilio.com",
  resend: "https://api.resend.com",
};

export function upstreamsFromEnv(env: NodeJS.ProcessEnv): Record<Vendor, string> {
  return {
    stripe: env[upstreamUrlEnv("stripe")] || DEFAULT_UPSTREAMS.stripe,
    twilio: env[upstreamUrlEnv("twilio")] || DEFAULT_UPSTREAMS.twilio,
    resend: env[upstreamUrlEnv("resend")] || DEFAULT_UPSTREAMS.resend,
  };
}

export function pricingFromEnv(env: NodeJS.ProcessEnv): PricingConfig {
  const text = env[ENV.pricing];
  return parsePricing(text ? (JSON.parse(text) as PricingInput) : {});
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
  return env[ENV.auditFile] || ".keybrake/audit.jsonl";
}
