// `pulumi up` from a checkout: the root program (Pulumi.yaml → deploy/index.ts) loaded the way Pulumi's Node.js
// language host loads it, through its vendored ts-node with type checking on (test/support/pulumi-host.cjs, plain node,
// no tsx), under runtime mocks, with Pulumi.example.yaml as the stack's config plus every other key. A type error
// anywhere in the program's files, or a misspelled stack config key, fails here as it would fail `pulumi preview`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { snippet } from "../support/markdown";

const ROOT = join(__dirname, "..", "..");
const WORK = join(ROOT, ".cache", "pulumi-host"); // ignored by git, Biome and tsc, and inside the project
const SECRETS = ["keybrake:stripeSecretKey", "keybrake:twilioAccountSid", "keybrake:twilioAuthToken"];

interface HostResult {
  name: string;
  ok: boolean;
  loader: { typescript: string; tsNode: string; transpileOnly: boolean };
  resources?: { type: string; name: string }[];
  outputs?: Record<string, unknown>;
  error?: string;
}

/** A stack's YAML config as Pulumi hands it to a program: strings, structured values as JSON. */
function stackConfig(text: string): Record<string, string> {
  const pulumiRequire = createRequire(require.resolve("@pulumi/pulumi"));
  const yaml = pulumiRequire("js-yaml") as { load(text: string): unknown };
  const { config } = yaml.load(text) as { config: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      key,
      typeof value === "object" ? JSON.stringify(value) : String(value),
    ]),
  );
}

describe("the root Pulumi program, loaded as `pulumi up` loads it", () => {
  const results = new Map<string, HostResult>();
  const example = stackConfig(readFileSync(join(ROOT, "Pulumi.example.yaml"), "utf8"));
  const alarmSettings = stackConfig(snippet("docs/operations.md", "alarm-settings"));
  const secrets = {
    "keybrake:stripeSecretKey": "sk_live_from_stack_config",
    "keybrake:twilioAccountSid": "AC00000000000000000000000000000001",
    "keybrake:twilioAuthToken": "twilio-token",
  };

  before(async () => {
    mkdirSync(WORK, { recursive: true });
    const typeError = join(WORK, "type-error.ts");
    writeFileSync(
      typeError,
      'import * as pulumi from "@pulumi/pulumi";\nconst count: number = "three";\nexport const out = pulumi.output(count);\n',
    );
    const scenarios = [
      { name: "example", config: { ...example, ...secrets }, secretKeys: SECRETS },
      {
        name: "every key",
        config: {
          ...example,
          ...secrets,
          "keybrake:resendApiKey": "re_from_stack_config",
          "keybrake:logRetentionDays": "30",
          "keybrake:pricing": JSON.stringify({ fx_usd: { eur: "1.08" } }),
          "keybrake:vpc": JSON.stringify({
            vpcId: "vpc-1",
            subnetIds: ["subnet-1", "subnet-2"],
            securityGroupIds: ["sg-1"],
            routeTableIds: ["rtb-1"],
          }),
        },
        secretKeys: [...SECRETS, "keybrake:resendApiKey"],
      },
      { name: "operations.md settings", config: { ...alarmSettings, ...secrets }, secretKeys: SECRETS },
      {
        name: "misspelled ceiling",
        config: {
          "keybrake:stripeSecretKey": "sk_test_x",
          "keybrake:issuers": JSON.stringify({ billing: { vendors: ["stripe"], max_daily_cap: 150 } }),
        },
      },
      { name: "misspelled key", config: { "keybrake:stripeSecretKey": "sk_test_x", "keybrake:issuer": "{}" } },
      { name: "type error", program: typeError, config: {} },
    ];
    const file = join(WORK, "scenarios.json");
    const tsNodeCache = join(WORK, `ts-node-${process.pid}`);
    writeFileSync(file, JSON.stringify(scenarios));
    // No tsx and no test runner flags in this process: a clean node, as Pulumi starts one.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(NODE_OPTIONS|TS_NODE_|PULUMI_)/.test(k)),
    );
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, "test", "support", "pulumi-host.cjs"), ROOT, file],
      // A fresh ts-node cache: a warm one would skip the type check of files it compiled before.
      { cwd: ROOT, env: { ...env, TS_NODE_CACHE_DIRECTORY: tsNodeCache }, timeout: 240_000 },
    );
    rmSync(tsNodeCache, { recursive: true, force: true });
    for (const line of stdout.split("\n")) {
      if (line.startsWith("PULUMI-HOST ")) {
        const result = JSON.parse(line.slice("PULUMI-HOST ".length)) as HostResult;
        results.set(result.name, result);
      }
    }
  });

  const ok = (name: string) => {
    const result = results.get(name);
    assert.ok(result, `scenario ${name} ran`);
    assert.equal(result.error, undefined, `${name}: ${result.error}`);
    return result as Required<HostResult>;
  };
  const count = (result: Required<HostResult>, type: string) => result.resources.filter((r) => r.type === type).length;

  it("loads through Pulumi's vendored ts-node with type checking on", () => {
    const { loader } = ok("example");
    assert.equal(loader.transpileOnly, false, "tsconfig must not set noCheck: the type check is the point");
    assert.equal(loader.tsNode, "7.0.1");
    assert.equal(loader.typescript, createRequire(`${ROOT}/`)("typescript/package.json").version);
  });

  it("deploys Pulumi.example.yaml's stack: two issuers, Stripe and Twilio, the alarms and the e-mail", () => {
    const result = ok("example");
    assert.equal(count(result, "keybrake:index:VaultKeyProxy"), 1);
    assert.equal(count(result, "aws:lambda/function:Function"), 3);
    assert.equal(count(result, "aws:apigatewayv2/api:Api"), 1, "the public entry point");
    const alarms = result.resources
      .filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm")
      .map((r) => r.name);
    assert.deepEqual(alarms.sort(), [
      "keybrake-daily-spend-stripe",
      "keybrake-daily-spend-twilio",
      "keybrake-ledger-errors",
      "keybrake-refusal-spike",
      "keybrake-vendor-overage",
    ]);
    assert.equal(count(result, "aws:sns/topicSubscription:TopicSubscription"), 1);
    assert.deepEqual(Object.keys(result.outputs.issuerTokens as object).sort(), ["billing", "notify"]);
    assert.match(String(result.outputs.url), /^https:\/\/keybrake-http\.execute-api\./);
  });

  it("takes every stack config key: three vendors, pricing, retention and the VPC's private entry point", () => {
    const result = ok("every key");
    assert.equal(count(result, "aws:secretsmanager/secret:Secret"), 3);
    assert.equal(count(result, "aws:apigateway/restApi:RestApi"), 1, "the private entry point");
    assert.equal(count(result, "aws:apigatewayv2/api:Api"), 0);
    assert.ok(count(result, "aws:ec2/vpcEndpoint:VpcEndpoint") >= 3);
  });

  it("takes docs/operations.md's alarm settings as they are written", () => {
    const result = ok("operations.md settings");
    assert.equal(
      count(result, "aws:cloudwatch/metricAlarm:MetricAlarm"),
      5,
      "two spend alarms, ledger errors, refusals, vendor overage",
    );
    assert.equal(count(result, "aws:sns/topicSubscription:TopicSubscription"), 1);
  });

  it("refuses a misspelled issuer ceiling, naming it, instead of deploying the issuer without it", () => {
    const result = results.get("misspelled ceiling");
    assert.equal(result?.ok, false);
    assert.match(result.error!, /issuers\.billing\.max_daily_cap is not a known field; did you mean/);
  });

  it("refuses a misspelled stack config key, naming it", () => {
    const result = results.get("misspelled key");
    assert.equal(result?.ok, false);
    assert.match(result.error!, /keybrake:issuer is not a known stack config key; did you mean keybrake:issuers\?/);
  });

  it("fails on a type error, as `pulumi up` would (so the checks above ran with the type checker on)", () => {
    const result = results.get("type error");
    assert.equal(result?.ok, false);
    assert.match(result.error!, /Unable to compile TypeScript[\s\S]*type-error\.ts\(2,7\): error TS2322/);
  });
});
