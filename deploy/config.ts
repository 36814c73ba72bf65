// The root program's stack config (`keybrake:*` keys) → the component's args. The keys are checked here; their
// values by the component, field by field.
import type * as pulumi from "@pulumi/pulumi";
import type { IssuerCeilings, VaultKeyProxyArgs, VpcArgs } from "../components";
import { unknownFieldError } from "../lambda/core/fields";
import type { PricingInput } from "../lambda/core/pricing";

/**
 * Every `keybrake:` key must be one of these: a misspelled key (`keybrake:issuer`, `keybrake:logRetentionDay`)
 * fails `pulumi preview` naming it, rather than deploying as if it were unset.
 */
export const STACK_CONFIG_KEYS = [
  "stripeSecretKey",
  "twilioAccountSid",
  "twilioAuthToken",
  "resendApiKey",
  "issuers",
  "vpc",
  "pricing",
  "logRetentionDays",
  "alarmEmail",
  "dailySpendAlarmUsd",
  "refusalAlarmThreshold",
  "dailyUsdCap",
  "dailyUsdCapParts",
  "dailyUsdCapMode",
] as const;

const NAMESPACE = "keybrake";

/** Refuses a `keybrake:` key of the stack's config that the program does not read. */
export function checkStackConfigKeys(all: Record<string, string>): void {
  for (const key of Object.keys(all)) {
    if (!key.startsWith(`${NAMESPACE}:`)) continue; // aws:region and other providers' keys
    const name = key.slice(NAMESPACE.length + 1);
    if (!(STACK_CONFIG_KEYS as readonly string[]).includes(name))
      throw new Error(unknownFieldError(NAMESPACE, name, STACK_CONFIG_KEYS, ":", "stack config key"));
  }
}

/** The component's args from the stack config; `all` is every config value of the stack (`runtime.allConfig()`). */
export function stackArgs(config: pulumi.Config, all: Record<string, string>): VaultKeyProxyArgs {
  checkStackConfigKeys(all);
  return {
    stripeSecretKey: config.getSecret("stripeSecretKey"),
    twilioAccountSid: config.getSecret("twilioAccountSid"),
    twilioAuthToken: config.getSecret("twilioAuthToken"),
    resendApiKey: config.getSecret("resendApiKey"),
    issuers: config.getObject<Record<string, IssuerCeilings>>("issuers"),
    vpc: config.getObject<VpcArgs>("vpc"),
    pricing: config.getObject<PricingInput>("pricing"),
    logRetentionDays: config.getNumber("logRetentionDays"),
    alarmEmail: config.get("alarmEmail"),
    dailySpendAlarmUsd: config.getObject<VaultKeyProxyArgs["dailySpendAlarmUsd"]>("dailySpendAlarmUsd"),
    refusalAlarmThreshold: config.getNumber("refusalAlarmThreshold"),
    // Caps as code: the deployment's daily cap per vendor, enforced (docs/deploy.md#caps-as-code).
    dailyUsdCap: config.getObject<VaultKeyProxyArgs["dailyUsdCap"]>("dailyUsdCap"),
    dailyUsdCapParts: config.getNumber("dailyUsdCapParts"),
    dailyUsdCapMode: config.get("dailyUsdCapMode") as VaultKeyProxyArgs["dailyUsdCapMode"],
  };
}
