import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type * as pulumi from "@pulumi/pulumi";
import { childrenOf, installMocks, unwrap } from "./support/pulumi-mocks";

/** The root program (`Pulumi.yaml` → deploy/index.ts) with only `keybrake:stripeSecretKey` set. */
describe("root Pulumi program", () => {
  let program: Record<string, unknown>;
  before(async () => {
    await installMocks({ "keybrake:stripeSecretKey": "sk_test_from_config" });
    program = await import("../deploy/index.js");
  });

  it("deploys one Stripe-only VaultKeyProxy with a default issuer", async () => {
    const outputs = ["url", "tableName", "issuerFunctionName", "proxyFunctionName", "sweepFunctionName", "logGroupNames", "issuerTokens"];
    const created = await childrenOf("keybrake", outputs.map((o) => program[o] as pulumi.Output<unknown>));
    assert.match(String(await unwrap(program.url as string)), /^https:\/\/keybrake-http\./);
    const components = created.filter((r) => r.type === "keybrake:index:VaultKeyProxy");
    assert.deepEqual(components.map((c) => c.name), ["keybrake"]);
    assert.deepEqual(Object.keys(await unwrap(program.issuerTokens as Record<string, string>)), ["default"]);
    const secrets = created.filter((r) => r.type === "aws:secretsmanager/secret:Secret").map((r) => r.name);
    assert.deepEqual(secrets, ["keybrake-stripe"]);
    const version = created.find((r) => r.type === "aws:secretsmanager/secretVersion:SecretVersion")!;
    assert.equal(version.inputs.secretString.value, "sk_test_from_config", "stored as a secret");
    const issuer = created.find((r) => r.type === "aws:lambda/function:Function" && r.name === "keybrake-issuer")!;
    assert.equal(issuer.inputs.environment.variables.KEYBRAKE_ENABLED_VENDORS, "stripe");
    assert.deepEqual(Object.keys(JSON.parse(issuer.inputs.environment.variables.KEYBRAKE_ISSUERS)), ["default"]);
  });
});
