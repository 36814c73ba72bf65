// The contract between the Pulumi component and the three Lambda handlers, defined once: for each function,
// the environment the component writes (`*Environment`, generic so it takes Pulumi Inputs) and what the
// handler reads back from it (`read*Config`). A round-trip unit test keeps the two sides together.
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
}

export function issuerEnvironment<T>(input: IssuerEnvironmentInput<T>): Record<string, T | string> {
  return {
    [ENV.table]: input.table,
    [ENV.issuers]: input.issuersJson,
    [ENV.enabledVendors]: input.enabledVendors.join(","),
  };
}

export interface IssuerConfig {
  table: string;
  issuers: Issuer[];
  enabledVendors: ReadonlySet<Vendor>;
}

export function readIssuerConfig(env: NodeJS.ProcessEnv): IssuerConfig {
  return {
    table: requiredEnv(env, ENV.table),
    issuers: parseIssuers(JSON.parse(requiredEnv(env, ENV.issuers))),
    enabledVendors: vendorList(env[ENV.enabledVendors]),
  };
}

export interface ProxyEnvironmentInput<T> {
  table: T;
  /** The Secrets Manager ARN of each enabled vendor's credential. */
  secretArns: Partial<Record<Vendor, T>>;
  pricing?: PricingInput;
}

export function proxyEnvironment<T>(input: ProxyEnvironmentInput<T>): Record<string, T | string> {
  const env: Record<string, T | string> = { [ENV.table]: input.table };
  for (const vendor of VENDORS) {
    const arn = input.secretArns[vendor];
    if (arn !== undefined) env[secretArnEnv(vendor)] = arn;
  }
  if (input.pricing) env[ENV.pricing] = JSON.stringify(input.pricing);
  return env;
}

export interface ProxyConfig {
  table: string;
  secretArns: Partial<Record<Vendor, string>>;
  pricing: PricingConfig;
  upstreams: Record<Vendor, string>;
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
  };
}

export function sweepEnvironment<T>(input: { table: T }): Record<string, T> {
  return { [ENV.table]: input.table };
}

export function readSweepConfig(env: NodeJS.ProcessEnv): { table: string } {
  return { table: requiredEnv(env, ENV.table) };
}
