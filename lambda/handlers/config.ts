// The contract between the Pulumi component and the three Lambda handlers, defined once: for each function,
// the environment the component writes (`*Environment`, generic so it takes Pulumi Inputs) and what the
// handler reads back from it (`read*Config`). A round-trip unit test keeps the two sides together.
import { parseSpendCaps, type SpendCaps, spendCapsJson } from "../core/caps";
import { ENV, pricingFromEnv, requiredEnv, secretArnEnv, upstreamsFromEnv, vendorList } from "../core/env";
import type { PricingConfig, PricingInput } from "../core/pricing";
import { VENDORS, type Vendor } from "../core/vendors";
import { type Issuer, parseIssuers } from "../issuer/ceilings";

export const FUNCTIONS = ["issuer", "proxy", "sweep"] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/** Each function's log group, which holds its audit records: `/keybrake/<component>/<function>`. */
export function logGroupName(component: string, fn: FunctionName): string {
  return `/keybrake/${component}/${fn}`;
}

/** What every function gets: its Powertools service name, and the metrics' namespace and `service` dimension. */
export function sharedEnvironment(
  component: string,
  fn: FunctionName,
  metricsNamespace: string,
): Record<string, string> {
  return {
    [ENV.serviceName]: `keybrake-${fn}`,
    [ENV.metricsNamespace]: metricsNamespace,
    [ENV.deployment]: component,
  };
}

export interface IssuerEnvironmentInput<T> {
  table: T;
  /** JSON `{"<issuer>": {"token_sha256": "<hex>", ...ceilings}}` (components/issuer-tokens.ts builds it). */
  issuersJson: T;
  enabledVendors: readonly Vendor[];
  /** Issuer budgets and deployment caps: `GET /vault/keys/self` says what is left of each level above a key. */
  spendCaps?: SpendCaps;
}

/** Only set when some cap is declared, so a deployment without any keeps exactly its environment. */
function spendCapsEnv(caps: SpendCaps | undefined): Record<string, string> {
  if (!caps || (Object.keys(caps.deployment).length === 0 && Object.keys(caps.issuers).length === 0)) return {};
  return { [ENV.spendCaps]: spendCapsJson(caps) };
}

export function issuerEnvironment<T>(input: IssuerEnvironmentInput<T>): Record<string, T | string> {
  return {
    [ENV.table]: input.table,
    [ENV.issuers]: input.issuersJson,
    [ENV.enabledVendors]: input.enabledVendors.join(","),
    ...spendCapsEnv(input.spendCaps),
  };
}

export interface IssuerConfig {
  table: string;
  issuers: Issuer[];
  enabledVendors: ReadonlySet<Vendor>;
  spendCaps: SpendCaps;
}

export function readIssuerConfig(env: NodeJS.ProcessEnv): IssuerConfig {
  return {
    table: requiredEnv(env, ENV.table),
    issuers: parseIssuers(JSON.parse(requiredEnv(env, ENV.issuers))),
    enabledVendors: vendorList(env[ENV.enabledVendors]),
    spendCaps: parseSpendCaps(env[ENV.spendCaps]),
  };
}

export interface ProxyEnvironmentInput<T> {
  table: T;
  /** The Secrets Manager ARN of each enabled vendor's credential. */
  secretArns: Partial<Record<Vendor, T>>;
  pricing?: PricingInput;
  /** Issuer budgets and deployment caps every key of that issuer / vendor draws from. */
  spendCaps?: SpendCaps;
  /** The EventBridge bus cap threshold events go to. */
  eventBus?: T;
}

export function proxyEnvironment<T>(input: ProxyEnvironmentInput<T>): Record<string, T | string> {
  const env: Record<string, T | string> = { [ENV.table]: input.table };
  for (const vendor of VENDORS) {
    const arn = input.secretArns[vendor];
    if (arn !== undefined) env[secretArnEnv(vendor)] = arn;
  }
  if (input.pricing) env[ENV.pricing] = JSON.stringify(input.pricing);
  Object.assign(env, spendCapsEnv(input.spendCaps));
  if (input.eventBus !== undefined) env[ENV.eventBus] = input.eventBus;
  return env;
}

export interface ProxyConfig {
  table: string;
  secretArns: Partial<Record<Vendor, string>>;
  pricing: PricingConfig;
  upstreams: Record<Vendor, string>;
  spendCaps: SpendCaps;
  eventBus?: string;
}

export function readProxyConfig(env: NodeJS.ProcessEnv): ProxyConfig {
  const secretArns: Partial<Record<Vendor, string>> = {};
  for (const vendor of VENDORS) {
    const arn = env[secretArnEnv(vendor)];
    if (arn) secretArns[vendor] = arn;
  }
  return {
    table: requiredEnv(env, ENV.table),
    secretArns,
    pricing: pricingFromEnv(env),
    upstreams: upstreamsFromEnv(env),
    spendCaps: parseSpendCaps(env[ENV.spendCaps]),
    ...(env[ENV.eventBus] ? { eventBus: env[ENV.eventBus] } : {}),
  };
}

export function sweepEnvironment<T>(input: { table: T }): Record<string, T> {
  return { [ENV.table]: input.table };
}

export function readSweepConfig(env: NodeJS.ProcessEnv): { table: string } {
  return { table: requiredEnv(env, ENV.table) };
}
