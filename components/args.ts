// The component's args: their types (the package's public config surface), defaults and validation, so a bad value
// or a misspelled field fails `pulumi preview` rather than a deploy.
import * as pulumi from "@pulumi/pulumi";
import { METRICS_NAMESPACE } from "../lambda/audit/metrics";
import {
  type CapMode,
  capMode,
  capParts,
  DEFAULT_CONFIG_PARTS,
  perVendorUsd,
  type SpendCaps,
} from "../lambda/core/caps";
import { fieldsOf, isPlainObject, refuseUnknownFields } from "../lambda/core/fields";
import { type PricingInput, parsePricing } from "../lambda/core/pricing";
import { isVendor, type Vendor } from "../lambda/core/vendors";
import { type IssuerCeilingsInput, isIssuerName, parseCeilings, spendCapsOf } from "../lambda/issuer/ceilings";

/**
 * Ceilings of one issuer ("caps as code"): what keys it may grant. Plain values, not Inputs, because they are
 * validated when the program runs (a typo, in a value or a field name, fails `pulumi preview`, not the first
 * key request). Omitted = no ceiling beyond the global request limits. Field names match the HTTP API's.
 */
export type IssuerCeilings = IssuerCeilingsInput;

/** Deploy into the team's own VPC: Lambdas in private subnets, VPC endpoints, a private entry point. */
export interface VpcArgs {
  vpcId: pulumi.Input<string>;
  /** Private subnets (with a NAT route, so vendor calls can leave). */
  subnetIds: pulumi.Input<string>[];
  securityGroupIds: pulumi.Input<string>[];
  /** Route tables of those subnets, for the DynamoDB gateway endpoint. */
  routeTableIds: pulumi.Input<string>[];
}

export interface VaultKeyProxyArgs {
  /** Stripe secret key (`sk_…`); stored in a new Secrets Manager secret. Enables Stripe. */
  stripeSecretKey?: pulumi.Input<string>;
  /** Or: an existing secret whose SecretString is the Stripe key. Enables Stripe. */
  stripeSecretArn?: pulumi.Input<string>;
  /** Twilio Account SID and auth token; stored together as JSON `{accountSid, authToken}`. Enable Twilio. */
  twilioAccountSid?: pulumi.Input<string>;
  twilioAuthToken?: pulumi.Input<string>;
  /** Or: an existing secret holding `{"accountSid": "AC…", "authToken": "…"}`. Enables Twilio. */
  twilioSecretArn?: pulumi.Input<string>;
  /** Resend API key (`re_…`). Enables Resend. */
  resendApiKey?: pulumi.Input<string>;
  /** Or: an existing secret whose SecretString is the Resend key. Enables Resend. */
  resendSecretArn?: pulumi.Input<string>;
  /** Issuer name → ceilings. Each issuer gets its own token (output `issuerTokens`). Default: `{ default: {} }`. */
  issuers?: Record<string, IssuerCeilings>;
  /** Price overrides: FX rates, Twilio per-segment and MMS prices, Resend per-email price (README, Pricing). */
  pricing?: PricingInput;
  /**
   * Retention of the functions' log groups, which hold the audit trail, in days: one of CloudWatch's periods
   * (`LOG_RETENTION_DAYS`; 0 = never expire). Default 365.
   */
  logRetentionDays?: pulumi.Input<number>;
  /** Customer KMS key for the table's encryption at rest. Default: the AWS owned key. */
  kmsKeyArn?: pulumi.Input<string>;
  /** Deletion protection on the ledger table. Default true. */
  deletionProtection?: pulumi.Input<boolean>;
  /** Proxy Lambda memory in MB, 128–10240. Default 512 (more memory is also more CPU on Lambda). */
  proxyMemoryMb?: pulumi.Input<number>;
  /** Issuer Lambda memory in MB, 128–10240. Default 256. */
  issuerMemoryMb?: pulumi.Input<number>;
  /** Steady-state request rate limit of the entry point's stage (public or private). Default 1000 per second. */
  throttlingRateLimit?: pulumi.Input<number>;
  /** Burst limit of the entry point's stage (public or private). Default 2000. */
  throttlingBurstLimit?: pulumi.Input<number>;
  /** Serve on a custom domain (an ACM certificate in the same region). Public entry point only. */
  customDomain?: { domainName: pulumi.Input<string>; certificateArn: pulumi.Input<string> };
  /** Deploy into this VPC with a private entry point. Default: a public HTTP API. */
  vpc?: VpcArgs;
  /**
   * CloudWatch namespace of the metrics the Lambdas publish (their POWERTOOLS_METRICS_NAMESPACE), which the
   * alarms and the dashboard read. A plain string, validated when the program runs. Default `"Keybrake"`.
   */
  metricsNamespace?: string;
  /**
   * E-mail address subscribed to the alarm topic (output `alarmTopicArn`); SNS first mails a confirmation link
   * that must be clicked. Default: no subscription (subscribe a pager or chat hook to the topic yourself).
   */
  alarmEmail?: pulumi.Input<string>;
  /**
   * Vendor → USD: alarm when that vendor's spend through this deployment over the last 24 hours (rolling, all
   * keys together) is above it. Enabled vendors only. Default: no spend alarms.
   * @example { stripe: 500, twilio: 20 }
   */
  dailySpendAlarmUsd?: Partial<Record<Vendor, number>>;
  /** Alarm when at least this many proxy calls are refused (any status, any reason) in 5 minutes. Default 100. */
  refusalAlarmThreshold?: number;
  /** Alarm when at least this many ledger errors (503s, failed settlement writes) happen in 1 minute. Default 1. */
  ledgerErrorAlarmThreshold?: number;
  /**
   * Vendor → USD: the deployment's daily cap per vendor, a budget every key of that vendor draws from, enforced in
   * the same atomic decision as each key's own cap (docs/guarantees.md#9-caps-stack), not only alarmed on. Enabled
   * vendors only. A changed cap applies at once and never resets the day's spend. Default: none.
   * @example { stripe: 2000 }
   */
  dailyUsdCap?: Partial<Record<Vendor, number>>;
  /**
   * Ledger items each of those caps is split across, 1–16 (every call of the vendor writes one of them, and one
   * item takes about 1,000 writes a second). Default 4.
   */
  dailyUsdCapParts?: number;
  /** `"shadow"`: the caps never refuse; calls they would refuse are forwarded and recorded. Default `"enforce"`. */
  dailyUsdCapMode?: CapMode;
}

/** Every arg, for the runtime check: YAML stack config and JavaScript callers get no excess-property check. */
export const ARG_FIELDS = fieldsOf<VaultKeyProxyArgs>()([
  "stripeSecretKey",
  "stripeSecretArn",
  "twilioAccountSid",
  "twilioAuthToken",
  "twilioSecretArn",
  "resendApiKey",
  "resendSecretArn",
  "issuers",
  "pricing",
  "logRetentionDays",
  "kmsKeyArn",
  "deletionProtection",
  "proxyMemoryMb",
  "issuerMemoryMb",
  "throttlingRateLimit",
  "throttlingBurstLimit",
  "customDomain",
  "vpc",
  "metricsNamespace",
  "alarmEmail",
  "dailySpendAlarmUsd",
  "refusalAlarmThreshold",
  "ledgerErrorAlarmThreshold",
  "dailyUsdCap",
  "dailyUsdCapParts",
  "dailyUsdCapMode",
]);
const VPC_FIELDS = fieldsOf<VpcArgs>()(["vpcId", "subnetIds", "securityGroupIds", "routeTableIds"]);
const CUSTOM_DOMAIN_FIELDS = fieldsOf<NonNullable<VaultKeyProxyArgs["customDomain"]>>()([
  "domainName",
  "certificateArn",
]);

/** The entry point's throttle (see the args' JSDoc). */
export const DEFAULT_THROTTLING = { rateLimit: 1000, burstLimit: 2000 } as const;

/** The retention periods CloudWatch Logs takes (PutRetentionPolicy), and 0: never expire. */
export const LOG_RETENTION_DAYS = [
  0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** The observability defaults (see the args' JSDoc). */
export const DEFAULT_ALARMS = { refusalAlarmThreshold: 100, ledgerErrorAlarmThreshold: 1 } as const;

/** The metrics namespace this deployment uses. */
export function metricsNamespace(args: VaultKeyProxyArgs): string {
  return args.metricsNamespace ?? METRICS_NAMESPACE;
}

export const DEFAULT_ISSUERS: Record<string, IssuerCeilings> = { default: {} };

/** Which vendors this deployment enables, from which args are present (known before any value resolves). */
export function enabledVendors(args: VaultKeyProxyArgs): Vendor[] {
  const vendors: Vendor[] = [];
  if (args.stripeSecretKey !== undefined || args.stripeSecretArn !== undefined) vendors.push("stripe");
  if ((args.twilioAccountSid !== undefined && args.twilioAuthToken !== undefined) || args.twilioSecretArn !== undefined)
    vendors.push("twilio");
  if (args.resendApiKey !== undefined || args.resendSecretArn !== undefined) vendors.push("resend");
  return vendors;
}

/**
 * The component's name is the `service` dimension of every metric and is quoted inside the dashboard's search
 * expressions, so it may not hold quotes or backslashes.
 */
export function validateName(name: string): void {
  if (!name || /["'\\]/.test(name))
    throw new Error(
      `VaultKeyProxy name must be non-empty without quotes or backslashes (it is the metrics' service dimension), got ${name}`,
    );
}

/** Validates the args synchronously; every error names its field, a misspelled one included. */
export function validateArgs(args: VaultKeyProxyArgs): void {
  if (!isPlainObject(args)) throw new Error("VaultKeyProxy args must be an object");
  refuseUnknownFields(args, ARG_FIELDS, "args");
  if (args.stripeSecretKey !== undefined && args.stripeSecretArn !== undefined)
    throw new Error("set only one of stripeSecretKey and stripeSecretArn");
  if (args.resendApiKey !== undefined && args.resendSecretArn !== undefined)
    throw new Error("set only one of resendApiKey and resendSecretArn");
  if ((args.twilioAccountSid === undefined) !== (args.twilioAuthToken === undefined))
    throw new Error("twilioAccountSid and twilioAuthToken go together");
  if (args.twilioAccountSid !== undefined && args.twilioSecretArn !== undefined)
    throw new Error("set only one of twilioAccountSid/twilioAuthToken and twilioSecretArn");
  const vendors = enabledVendors(args);
  if (vendors.length === 0)
    throw new Error(
      "VaultKeyProxy needs at least one vendor: set stripeSecretKey, twilioAccountSid + twilioAuthToken, or resendApiKey (or their *SecretArn)",
    );
  const issuers = args.issuers ?? DEFAULT_ISSUERS;
  if (Object.keys(issuers).length === 0) throw new Error("issuers must declare at least one issuer");
  for (const [name, c] of Object.entries(issuers)) validateIssuer(name, c, vendors);
  if (args.pricing !== undefined) {
    try {
      parsePricing(args.pricing);
    } catch (error) {
      const message = (error as Error).message;
      throw new Error(message.startsWith("pricing") ? message : `pricing.${message}`);
    }
  }
  if (args.vpc !== undefined) validateShape(args.vpc, VPC_FIELDS, "vpc");
  if (args.customDomain !== undefined) validateShape(args.customDomain, CUSTOM_DOMAIN_FIELDS, "customDomain");
  if (args.vpc && args.customDomain)
    throw new Error(
      "customDomain applies to the public entry point only; with vpc, map a private custom domain yourself",
    );
  validateObservability(args, vendors);
  validateSizes(args);
  spendCaps(args);
}

/**
 * The numbers AWS would refuse only once `pulumi up` reaches them (after the table and secrets exist), checked when
 * they are plain values; an Output is left to AWS.
 */
function validateSizes(args: VaultKeyProxyArgs): void {
  const days = args.logRetentionDays;
  if (isPlainValue(days) && !(LOG_RETENTION_DAYS as readonly unknown[]).includes(days))
    throw new Error(
      `logRetentionDays must be one of CloudWatch's retention periods (0 = never expire, ${LOG_RETENTION_DAYS.slice(1).join(", ")}), got ${String(days)}`,
    );
  for (const field of ["proxyMemoryMb", "issuerMemoryMb"] as const) {
    const mb = args[field];
    if (isPlainValue(mb) && !(Number.isInteger(mb) && mb >= 128 && mb <= 10240))
      throw new Error(`${field} must be a whole number of MB from 128 to 10240, got ${String(mb)}`);
  }
}

/** Set, and neither an Output nor a promise (those resolve later: AWS checks them). */
function isPlainValue<T>(value: pulumi.Input<T> | undefined): value is T {
  return (
    value !== undefined &&
    !pulumi.Output.isInstance(value) &&
    typeof (value as { then?: unknown } | null)?.then !== "function"
  );
}

/**
 * The spend caps declared as code (docs/deploy.md#caps-as-code): the deployment's cap per vendor and each
 * issuer's budgets, validated, as the issuer and proxy functions receive them (KEYBRAKE_SPEND_CAPS).
 */
export function spendCaps(args: VaultKeyProxyArgs): SpendCaps {
  const enabled = enabledVendors(args);
  const deployment: SpendCaps["deployment"] = {};
  if (args.dailyUsdCap !== undefined) {
    const parts =
      args.dailyUsdCapParts === undefined ? DEFAULT_CONFIG_PARTS : capParts(args.dailyUsdCapParts, "dailyUsdCapParts");
    const mode = args.dailyUsdCapMode === undefined ? "enforce" : capMode(args.dailyUsdCapMode, "dailyUsdCapMode");
    for (const [vendor, capMicro] of Object.entries(perVendorUsd(args.dailyUsdCap, "dailyUsdCap"))) {
      if (!enabled.includes(vendor as Vendor))
        throw new Error(`dailyUsdCap.${vendor}: ${vendor} is not enabled (no secret for it)`);
      deployment[vendor as Vendor] = { capMicro: capMicro!, parts, mode };
    }
  } else if (args.dailyUsdCapParts !== undefined || args.dailyUsdCapMode !== undefined) {
    throw new Error("dailyUsdCapParts and dailyUsdCapMode go with dailyUsdCap");
  }
  const issuers = Object.entries(args.issuers ?? DEFAULT_ISSUERS).map(([name, c]) => ({
    name,
    ceilings: parseCeilings(c, `issuers.${name}`),
  }));
  return spendCapsOf(issuers, deployment);
}

/** An object arg whose fields are all required: no unknown field, no missing one. */
function validateShape(value: unknown, fields: readonly string[], at: string): void {
  if (!isPlainObject(value)) throw new Error(`${at} must be an object with ${fields.join(", ")}`);
  refuseUnknownFields(value, fields, at);
  const missing = fields.find((field) => (value as Record<string, unknown>)[field] === undefined);
  if (missing !== undefined) throw new Error(`${at}.${missing} is required (${at} takes ${fields.join(", ")})`);
}

function validateObservability(args: VaultKeyProxyArgs, enabled: Vendor[]): void {
  const ns = args.metricsNamespace;
  // A subset of what CloudWatch takes (1-255 ASCII characters, "AWS/" reserved for AWS): no quotes or
  // backslashes, because the dashboard quotes the namespace inside its SEARCH expressions.
  if (
    ns !== undefined &&
    (typeof ns !== "string" || !/^[A-Za-z0-9 .\-_/#:]{1,255}$/.test(ns) || ns.startsWith("AWS/"))
  ) {
    throw new Error(
      `metricsNamespace must be 1-255 letters, digits, spaces or . - _ / # : and not start with "AWS/", got ${String(ns)}`,
    );
  }
  if (typeof args.alarmEmail === "string" && !/^[^@\s]+@[^@\s]+$/.test(args.alarmEmail)) {
    throw new Error(`alarmEmail must be an e-mail address, got ${args.alarmEmail}`);
  }
  for (const field of ["refusalAlarmThreshold", "ledgerErrorAlarmThreshold"] as const) {
    const value = args[field];
    if (value !== undefined && !(Number.isInteger(value) && value >= 1))
      throw new Error(`${field} must be a whole number >= 1 (a count of events), got ${String(value)}`);
  }
  const spend = args.dailySpendAlarmUsd;
  if (spend === undefined) return;
  if (spend === null || typeof spend !== "object" || Array.isArray(spend))
    throw new Error("dailySpendAlarmUsd must map vendors to USD, e.g. { stripe: 500 }");
  for (const [vendor, usd] of Object.entries(spend)) {
    const at = `dailySpendAlarmUsd.${vendor}`;
    if (!isVendor(vendor)) throw new Error(`${at}: unknown vendor ${vendor} (stripe, twilio or resend)`);
    if (!enabled.includes(vendor)) throw new Error(`${at}: ${vendor} is not enabled (no secret for it)`);
    if (typeof usd !== "number" || !Number.isFinite(usd) || usd <= 0)
      throw new Error(`${at}: must be a positive number of USD, got ${String(usd)}`);
  }
}

function validateIssuer(name: string, c: IssuerCeilings, enabled: Vendor[]): void {
  const at = `issuers.${name}`;
  if (!isIssuerName(name)) throw new Error(`${at}: issuer names are 1-64 letters, digits, - or _`);
  const ceilings = parseCeilings(c, at);
  for (const vendor of ceilings.vendors ?? []) {
    if (!enabled.includes(vendor)) throw new Error(`${at}.vendors: ${vendor} is not enabled (no secret for it)`);
  }
  for (const vendor of Object.keys(ceilings.budget ?? {}) as Vendor[]) {
    if (!enabled.includes(vendor))
      throw new Error(`${at}.daily_usd_budget.${vendor}: ${vendor} is not enabled (no secret for it)`);
  }
}
