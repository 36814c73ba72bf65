// A misspelled setting fails closed, naming itself, wherever settings are declared as data: the root program's stack
// config keys, the component's args (YAML config and JavaScript callers get no excess-property check), the issuers'
// ceilings, the VPC and custom domain, pricing (component and KEYBRAKE_PRICING) and the alarms.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ARG_FIELDS, type VaultKeyProxyArgs, validateArgs } from "../../components/args";
import { checkStackConfigKeys, STACK_CONFIG_KEYS } from "../../deploy/config";
import { pricingFromEnv } from "../../lambda/core/env";
import { parsePricing } from "../../lambda/core/pricing";
import { parseCeilings } from "../../lambda/issuer/ceilings";

const STRIPE = { stripeSecretKey: "sk_test_x" };
/** Args as YAML or JavaScript would hand them over, typos included. */
const loose = (args: Record<string, unknown>) => args as VaultKeyProxyArgs;
const VPC = { vpcId: "vpc-1", subnetIds: ["subnet-1"], securityGroupIds: ["sg-1"], routeTableIds: ["rtb-1"] };

describe("stack config keys of the root program", () => {
  it("accepts every documented key and other namespaces' keys", () => {
    const all = Object.fromEntries(STACK_CONFIG_KEYS.map((key) => [`keybrake:${key}`, "x"]));
    assert.doesNotThrow(() => checkStackConfigKeys({ ...all, "aws:region": "us-east-1", "aws:profile": "p" }));
  });
  const typos: Array<[string, RegExp]> = [
    [
      "keybrake:issuer",
      /^Error: keybrake:issuer is not a known stack config key; did you mean keybrake:issuers\? \(known: /,
    ],
    ["keybrake:logRetentionDay", /keybrake:logRetentionDay .*did you mean keybrake:logRetentionDays\?/],
    ["keybrake:stripeSecret", /keybrake:stripeSecret is not a known stack config key/],
    ["keybrake:dailySpendAlarm", /did you mean keybrake:dailySpendAlarmUsd\?/],
    [
      "keybrake:somethingElse",
      /^Error: keybrake:somethingElse is not a known stack config key \(known: stripeSecretKey, /,
    ],
  ];
  for (const [key, message] of typos) {
    it(`refuses ${key}`, () => assert.throws(() => checkStackConfigKeys({ [key]: "1" }), message));
  }
});

describe("component args", () => {
  it("the runtime list of args is the type's (a compile-time check keeps them equal)", () => {
    assert.ok(ARG_FIELDS.includes("stripeSecretKey") && ARG_FIELDS.includes("ledgerErrorAlarmThreshold"));
  });
  const typos: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...STRIPE, issuer: {} }, /^Error: args\.issuer is not a known field; did you mean args\.issuers\?/],
    [{ stripeSecretKy: "sk" }, /args\.stripeSecretKy is not a known field; did you mean args\.stripeSecretKey\?/],
    [{ ...STRIPE, logRetention: 30 }, /args\.logRetention is not a known field/],
    [
      { ...STRIPE, issuers: { billing: { max_daily_cap: 150 } } },
      /issuers\.billing\.max_daily_cap is not a known field; did you mean issuers\.billing\.max_daily_usd_cap\?/,
    ],
    [
      { ...STRIPE, issuers: { billing: { allowed_endpoint: ["POST /v1/refunds"] } } },
      /issuers\.billing\.allowed_endpoint is not a known field; did you mean issuers\.billing\.allowed_endpoints\?/,
    ],
    [
      { ...STRIPE, vpc: { ...VPC, subnetId: ["s"] } },
      /vpc\.subnetId is not a known field; did you mean vpc\.subnetIds\?/,
    ],
    [
      { ...STRIPE, vpc: { vpcId: "vpc-1", subnetIds: ["s"], securityGroupIds: ["g"] } },
      /vpc\.routeTableIds is required/,
    ],
    [{ ...STRIPE, vpc: "vpc-1" }, /vpc must be an object with vpcId, subnetIds, securityGroupIds, routeTableIds/],
    [
      { ...STRIPE, customDomain: { domain: "kb.example.com", certificateArn: "arn" } },
      /customDomain\.domain is not a known field/,
    ],
    [{ ...STRIPE, customDomain: { domainName: "kb.example.com" } }, /customDomain\.certificateArn is required/],
    [{ ...STRIPE, pricing: { fx: { eur: "1.08" } } }, /^Error: pricing\.fx is not a known field.*\(known: fx_usd, /],
    [{ ...STRIPE, pricing: { twilio_sms_usd: "0.01" } }, /pricing\.twilio_sms_usd is not a known field/],
    [
      { ...STRIPE, pricing: { fx_usd: { EUR: "1.08" } } },
      /^Error: pricing\.fx_usd: currency codes are 3 lowercase letters/,
    ],
    [{ ...STRIPE, pricing: { fx_usd: ["eur"] } }, /^Error: pricing\.fx_usd must map currencies to USD/],
    [{ ...STRIPE, pricing: { twilio_mms_usd: "-1" } }, /^Error: pricing\.twilio_mms_usd must be a positive decimal/],
    [{ ...STRIPE, dailySpendAlarmUsd: { strip: 400 } }, /dailySpendAlarmUsd\.strip: unknown vendor strip/],
    [
      { ...STRIPE, dailyUsdCaps: { stripe: 400 } },
      /args\.dailyUsdCaps is not a known field; did you mean args\.dailyUsdCap\?/,
    ],
    [{ ...STRIPE, dailyUsdCap: { strip: 400 } }, /dailyUsdCap\.strip: unknown vendor/],
    [{ ...STRIPE, dailyUsdCap: { twilio: 400 } }, /dailyUsdCap\.twilio: twilio is not enabled/],
    [{ ...STRIPE, dailyUsdCap: { stripe: "400" } }, /dailyUsdCap\.stripe must be > 0.*write a number/],
    [
      { ...STRIPE, dailyUsdCap: { stripe: 400 }, dailyUsdCapParts: 17 },
      /dailyUsdCapParts must be a whole number from 1 to 16/,
    ],
    [
      { ...STRIPE, dailyUsdCap: { stripe: 400 }, dailyUsdCapMode: "log" },
      /dailyUsdCapMode must be "enforce" or "shadow"/,
    ],
    [{ ...STRIPE, dailyUsdCapParts: 4 }, /dailyUsdCapParts and dailyUsdCapMode go with dailyUsdCap/],
    [
      { ...STRIPE, issuers: { billing: { daily_usd_budgets: { stripe: 100 } } } },
      /issuers\.billing\.daily_usd_budgets is not a known field; did you mean issuers\.billing\.daily_usd_budget\?/,
    ],
    [
      { ...STRIPE, issuers: { billing: { daily_usd_budget: { twilio: 100 } } } },
      /issuers\.billing\.daily_usd_budget\.twilio: twilio is not enabled/,
    ],
    [
      { ...STRIPE, issuers: { billing: { vendors: ["stripe"], daily_usd_budget: { resend: 1 } } } },
      /issuers\.billing\.daily_usd_budget\.resend: this issuer may not issue resend keys/,
    ],
    [
      { ...STRIPE, issuers: { billing: { daily_usd_budget: { stripe: 100 }, budget_parts: 0 } } },
      /issuers\.billing\.budget_parts must be a whole number from 1 to 16/,
    ],
    [{ ...STRIPE, issuers: { billing: { budget_parts: 2 } } }, /budget_parts and budget_mode go with daily_usd_budget/],
  ];
  for (const [args, message] of typos) {
    it(`refuses ${JSON.stringify(args)}`, () => assert.throws(() => validateArgs(loose(args)), message));
  }
  it("accepts every arg spelled right", () => {
    assert.doesNotThrow(() =>
      validateArgs({
        ...STRIPE,
        issuers: {
          billing: {
            vendors: ["stripe"],
            max_daily_usd_cap: 150,
            label_prefix: "modal-billing/",
            daily_usd_budget: { stripe: 500 },
            budget_parts: 2,
            budget_mode: "enforce",
          },
        },
        pricing: { fx_usd: { eur: "1.08" }, resend_email_usd: "0.001" },
        customDomain: { domainName: "kb.example.com", certificateArn: "arn:aws:acm:us-east-1:1:certificate/x" },
        dailySpendAlarmUsd: { stripe: 400 },
        refusalAlarmThreshold: 10,
        ledgerErrorAlarmThreshold: 1,
        dailyUsdCap: { stripe: 2000 },
        dailyUsdCapParts: 8,
        dailyUsdCapMode: "shadow",
      }),
    );
    assert.doesNotThrow(() => validateArgs({ ...STRIPE, vpc: VPC }));
  });
});

describe("pricing declared as data", () => {
  it("KEYBRAKE_PRICING with a misspelled key stops local mode, naming it", () => {
    assert.throws(
      () => pricingFromEnv({ KEYBRAKE_PRICING: JSON.stringify({ resend_email: "0.002" }) }),
      /pricing\.resend_email is not a known field; did you mean pricing\.resend_email_usd\?/,
    );
    assert.equal(pricingFromEnv({ KEYBRAKE_PRICING: '{"resend_email_usd": "0.002"}' }).resendEmailMicro, 2_000);
  });
  it("refuses a pricing that is not an object", () => {
    assert.throws(() => parsePricing([] as never), /pricing must be an object/);
  });
});

describe("issuer ceilings", () => {
  it("suggest the ceiling a typo was meant to be", () => {
    assert.throws(
      () => parseCeilings({ label_prefx: "a/" }, "issuers.billing"),
      /issuers\.billing\.label_prefx is not a known field; did you mean issuers\.billing\.label_prefix\?/,
    );
    assert.throws(
      () => parseCeilings({ nonsense: 1 }, "issuers.billing"),
      /^Error: issuers\.billing\.nonsense is not a known field \(known: vendors, max_daily_usd_cap, /,
    );
  });
});
