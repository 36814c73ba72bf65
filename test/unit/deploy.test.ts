// The root program (`Pulumi.yaml` → deploy/index.ts) with `keybrake:stripeSecretKey` and the alarm settings.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { childrenOf, installMocks, unwrap } from "../support/pulumi-mocks";

describe("root Pulumi program", () => {
  let program: Record<string, unknown>;
  before(async () => {
    await installMocks({
      "keybrake:stripeSecretKey": "sk_test_from_config",
      "keybrake:alarmEmail": "oncall@example.com",
      "keybrake:dailySpendAlarmUsd": JSON.stringify({ stripe: 400 }),
      "keybrake:refusalAlarmThreshold": "25",
      "keybrake:dailyUsdCap": JSON.stringify({ stripe: 2000 }),
      "keybrake:dailyUsdCapParts": "8",
    });
    program = await import("../../deploy/index.js");
  });

  it("deploys one Stripe-only VaultKeyProxy with a default issuer", async () => {
    const outputs = [
      "url",
      "tableName",
      "issuerFunctionName",
      "proxyFunctionName",
      "sweepFunctionName",
      "logGroupNames",
      "issuerTokens",
      "dashboardName",
      "alarmTopicArn",
    ];
    const created = await childrenOf(
      "keybrake",
      outputs.map((o) => program[o] as pulumi.Output<unknown>),
    );
    assert.match(String(await unwrap(program.url as string)), /^https:\/\/keybrake-http\./);
    const components = created.filter((r) => r.type === "keybrake:index:VaultKeyProxy");
    assert.deepEqual(
      components.map((c) => c.name),
      ["keybrake"],
    );
    assert.deepEqual(Object.keys(await unwrap(program.issuerTokens as Record<string, string>)), ["default"]);
    const secrets = created.filter((r) => r.type === "aws:secretsmanager/secret:Secret").map((r) => r.name);
    assert.deepEqual(secrets, ["keybrake-stripe"]);
    const version = created.find((r) => r.type === "aws:secretsmanager/secretVersion:SecretVersion")!;
    assert.equal(version.inputs.secretString.value, "sk_test_from_config", "stored as a secret");
    const issuer = created.find((r) => r.type === "aws:lambda/function:Function" && r.name === "keybrake-issuer")!;
    assert.equal(issuer.inputs.environment.variables.KEYBRAKE_ENABLED_VENDORS, "stripe");
    assert.deepEqual(Object.keys(JSON.parse(issuer.inputs.environment.variables.KEYBRAKE_ISSUERS)), ["default"]);
  });

  it("exports the issuer tokens as a secret, and no other output holds a secret", async () => {
    const outputs = Object.entries(program).filter(([, value]) => pulumi.Output.isInstance(value));
    assert.ok(outputs.length >= 9);
    for (const [name, value] of outputs)
      assert.equal(await pulumi.isSecret(value as pulumi.Output<unknown>), name === "issuerTokens", name);
  });

  it("passes the caps as code from stack config to both functions", async () => {
    const created = await childrenOf("keybrake", [program.proxyFunctionName as pulumi.Output<unknown>]);
    for (const fn of ["keybrake-issuer", "keybrake-proxy"]) {
      const inputs = created.find((r) => r.type === "aws:lambda/function:Function" && r.name === fn)!.inputs;
      assert.deepEqual(JSON.parse(inputs.environment.variables.KEYBRAKE_SPEND_CAPS), {
        deployment: { stripe: { daily_usd_cap: 2000, parts: 8, mode: "enforce" } },
        issuers: {},
      });
    }
  });

  it("passes the alarm settings from stack config to the component", async () => {
    const created = await childrenOf("keybrake", [
      program.alarmTopicArn as pulumi.Output<unknown>,
      program.dashboardName as pulumi.Output<unknown>,
    ]);
    const alarms = new Map(
      created.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm").map((r) => [r.name, r.inputs]),
    );
    assert.deepEqual([...alarms.keys()].sort(), [
      "keybrake-daily-spend-stripe",
      "keybrake-ledger-errors",
      "keybrake-refusal-spike",
      "keybrake-vendor-overage",
    ]);
    assert.equal(alarms.get("keybrake-daily-spend-stripe")!.threshold, 400);
    assert.equal(alarms.get("keybrake-refusal-spike")!.threshold, 25);
    const email = created.find((r) => r.type === "aws:sns/topicSubscription:TopicSubscription")!;
    assert.deepEqual([email.inputs.protocol, email.inputs.endpoint], ["email", "oncall@example.com"]);
    assert.equal(await unwrap(program.dashboardName as string), "keybrake-us-east-1");
  });
});
