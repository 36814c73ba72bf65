import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { bundleHandler, HANDLERS } from "../components/bundle";
import type { VaultKeyProxy as VaultKeyProxyType, VaultKeyProxyArgs } from "../components";
import { childrenOf, installMocks, one, unwrap } from "./support/pulumi-mocks";

/** The VaultKeyProxy component under Pulumi's runtime mocks: exact children, inputs and IAM statements. */
let VaultKeyProxy: typeof VaultKeyProxyType;
const STRIPE_KEY = "sk_live_SECRET_VALUE_must_not_leak";
const FN = "aws:lambda/function:Function";
const POLICY = "aws:iam/rolePolicy:RolePolicy";

async function deploy(name: string, args: VaultKeyProxyArgs) {
  const kb = new VaultKeyProxy(name, args);
  const children = await childrenOf(name, [kb.url, kb.tableName, kb.issuerFunctionName, kb.proxyFunctionName, kb.sweepFunctionName, kb.logGroupNames, kb.issuerTokens]);
  return { kb, children };
}

const statementsOf = (children: pulumi.runtime.MockResourceArgs[], name: string) =>
  JSON.parse(one(children, POLICY, name).inputs.policy as string).Statement as unknown[];

describe("VaultKeyProxy", () => {
  before(async () => {
    await installMocks();
    ({ VaultKeyProxy } = await import("../components/index.js"));
  });

  it("creates exactly the default children with their key inputs", async () => {
    const { kb, children } = await deploy("kb", { stripeSecretKey: pulumi.secret(STRIPE_KEY) });
    const kinds = children.map((r) => `${r.type} ${r.name}`).sort();
    assert.deepEqual(kinds, [
      "aws:apigatewayv2/api:Api kb-http",
      "aws:apigatewayv2/integration:Integration kb-issuer",
      "aws:apigatewayv2/integration:Integration kb-proxy",
      "aws:apigatewayv2/route:Route kb-issuer",
      "aws:apigatewayv2/route:Route kb-proxy",
      "aws:apigatewayv2/stage:Stage kb-default",
      "aws:cloudwatch/eventRule:EventRule kb-sweep",
      "aws:cloudwatch/eventTarget:EventTarget kb-sweep",
      "aws:cloudwatch/logGroup:LogGroup kb-issuer",
      "aws:cloudwatch/logGroup:LogGroup kb-proxy",
      "aws:cloudwatch/logGroup:LogGroup kb-sweep",
      "aws:dynamodb/table:Table kb-ledger",
      "aws:iam/role:Role kb-issuer",
      "aws:iam/role:Role kb-proxy",
      "aws:iam/role:Role kb-sweep",
      "aws:iam/rolePolicy:RolePolicy kb-issuer",
      "aws:iam/rolePolicy:RolePolicy kb-proxy",
      "aws:iam/rolePolicy:RolePolicy kb-sweep",
      "aws:lambda/function:Function kb-issuer",
      "aws:lambda/function:Function kb-proxy",
      "aws:lambda/function:Function kb-sweep",
      "aws:lambda/permission:Permission kb-issuer-invoke",
      "aws:lambda/permission:Permission kb-proxy-invoke",
      "aws:lambda/permission:Permission kb-sweep",
      "aws:secretsmanager/secret:Secret kb-stripe",
      "aws:secretsmanager/secretVersion:SecretVersion kb-stripe",
      "keybrake:index:VaultKeyProxy kb",
      "random:index/randomPassword:RandomPassword kb-issuer-default",
    ]);

    const table = one(children, "aws:dynamodb/table:Table", "kb-ledger").inputs;
    assert.equal(table.billingMode, "PAY_PER_REQUEST");
    assert.equal(table.hashKey, "pk");
    assert.deepEqual(table.pointInTimeRecovery, { enabled: true });
    assert.deepEqual(table.ttl, { attributeName: "ttl", enabled: true });
    assert.deepEqual(table.serverSideEncryption, { enabled: true });
    assert.equal(table.deletionProtectionEnabled, true);
    assert.deepEqual(table.globalSecondaryIndexes, [{ name: "by_label", hashKey: "gsi1pk", rangeKey: "gsi1sk", projectionType: "KEYS_ONLY" }]);

    for (const fn of ["issuer", "proxy", "sweep"]) {
      const inputs = one(children, FN, `kb-${fn}`).inputs;
      assert.equal(inputs.runtime, "nodejs22.x");
      assert.deepEqual(inputs.architectures, ["arm64"]);
      assert.equal(inputs.handler, "index.handler");
      assert.equal(inputs.vpcConfig, undefined);
      assert.deepEqual(inputs.loggingConfig, { logFormat: "Text", logGroup: `/keybrake/kb/${fn}` });
      assert.equal(one(children, "aws:cloudwatch/logGroup:LogGroup", `kb-${fn}`).inputs.retentionInDays, 365);
    }
    const proxyEnv = one(children, FN, "kb-proxy").inputs.environment.variables;
    assert.deepEqual(proxyEnv, {
      POWERTOOLS_SERVICE_NAME: "keybrake-proxy",
      POWERTOOLS_METRICS_NAMESPACE: "Keybrake",
      KEYBRAKE_TABLE: "kb-ledger-physical",
      KEYBRAKE_STRIPE_SECRET_ARN: "arn:aws:mock:aws:secretsmanager/secret:Secret:kb-stripe",
    });
    const lambdas = JSON.stringify(children.filter((r) => r.type !== "aws:secretsmanager/secretVersion:SecretVersion").map((r) => r.inputs));
    assert.ok(!lambdas.includes(STRIPE_KEY), "the Stripe key appears only in its secret version");
    assert.equal(one(children, "aws:secretsmanager/secretVersion:SecretVersion", "kb-stripe").inputs.secretString.value, STRIPE_KEY, "stored as a secret");
    assert.equal(await unwrap(kb.url), "https://kb-http.execute-api.us-east-1.amazonaws.com");
    assert.deepEqual(await unwrap(kb.logGroupNames), { issuer: "/keybrake/kb/issuer", proxy: "/keybrake/kb/proxy", sweep: "/keybrake/kb/sweep" });
    const stage = one(children, "aws:apigatewayv2/stage:Stage", "kb-default").inputs;
    assert.equal(stage.name, "$default");
    assert.deepEqual(stage.defaultRouteSettings, { throttlingRateLimit: 1000, throttlingBurstLimit: 2000 });
    assert.deepEqual(
      children.filter((r) => r.type === "aws:apigatewayv2/route:Route").map((r) => r.inputs.routeKey).sort(),
      ["$default", "ANY /vault/{proxy+}"],
    );
  });

  it("gives each role exactly its statements: the issuer cannot read vendor secrets", async () => {
    const { children } = await deploy("iam", { stripeSecretKey: "sk", resendApiKey: "re", twilioSecretArn: "arn:aws:secretsmanager:us-east-1:1:secret:tw" });
    const table = "arn:aws:mock:aws:dynamodb/table:Table:iam-ledger";
    const logs = (fn: string) => ({ Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `arn:aws:mock:aws:cloudwatch/logGroup:LogGroup:iam-${fn}:*` });
    assert.deepEqual(statementsOf(children, "iam-issuer"), [
      logs("issuer"),
      { Effect: "Allow", Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"], Resource: [table, `${table}/index/by_label`] },
    ]);
    assert.deepEqual(statementsOf(children, "iam-proxy"), [
      logs("proxy"),
      { Effect: "Allow", Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"], Resource: table },
      {
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue"],
        Resource: ["arn:aws:mock:aws:secretsmanager/secret:Secret:iam-stripe", "arn:aws:secretsmanager:us-east-1:1:secret:tw", "arn:aws:mock:aws:secretsmanager/secret:Secret:iam-resend"],
      },
    ]);
    assert.deepEqual(statementsOf(children, "iam-sweep"), [logs("sweep"), { Effect: "Allow", Action: ["dynamodb:Scan", "dynamodb:UpdateItem"], Resource: table }]);
    for (const fn of ["issuer", "proxy", "sweep"]) {
      const text = JSON.stringify(statementsOf(children, `iam-${fn}`));
      assert.ok(!text.includes('"*"'), `no wildcard in the ${fn} policy`);
    }
    assert.equal(children.filter((r) => r.type === "aws:secretsmanager/secret:Secret").length, 2, "an existing Twilio secret is referenced, not created");
  });

  it("puts everything in the VPC with endpoints and a private entry point", async () => {
    const vpc = { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b"], securityGroupIds: ["sg-1"], routeTableIds: ["rtb-1"] };
    const { kb, children } = await deploy("vpc", { stripeSecretKey: "sk", vpc });
    for (const fn of ["issuer", "proxy", "sweep"]) {
      assert.deepEqual(one(children, FN, `vpc-${fn}`).inputs.vpcConfig, { subnetIds: ["subnet-a", "subnet-b"], securityGroupIds: ["sg-1"] });
      assert.equal(one(children, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", `vpc-${fn}`).inputs.policyArn, "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole");
    }
    const endpoints = children.filter((r) => r.type === "aws:ec2/vpcEndpoint:VpcEndpoint").map((r) => [r.inputs.serviceName, r.inputs.vpcEndpointType]).sort();
    assert.deepEqual(endpoints, [
      ["com.amazonaws.us-east-1.dynamodb", "Gateway"],
      ["com.amazonaws.us-east-1.execute-api", "Interface"],
      ["com.amazonaws.us-east-1.logs", "Interface"],
      ["com.amazonaws.us-east-1.secretsmanager", "Interface"],
    ]);
    const api = one(children, "aws:apigateway/restApi:RestApi", "vpc-private").inputs;
    assert.deepEqual(api.endpointConfiguration, { types: "PRIVATE", vpcEndpointIds: ["vpc-execute-api-id"] });
    const policy = JSON.parse(api.policy as string);
    assert.deepEqual(policy.Statement[1].Condition, { StringNotEquals: { "aws:SourceVpce": "vpc-execute-api-id" } });
    assert.equal(children.filter((r) => r.type === "aws:apigatewayv2/api:Api").length, 0, "no public entry point");
    assert.equal(await unwrap(kb.url), "https://vpc-private-id-vpc-execute-api-id.execute-api.us-east-1.amazonaws.com/v1");
  });

  it("hands the issuer Lambda each issuer's ceilings with its token's hash, and the tokens as a secret output", async () => {
    const issuers = {
      billing: { vendors: ["stripe" as const], max_daily_usd_cap: 150, max_expires_in: "1h", allowed_endpoints: ["POST /v1/payment_intents"], label_prefix: "modal-billing/" },
      ops: {},
    };
    const { kb, children } = await deploy("caps", { stripeSecretKey: "sk", issuers });
    const env = one(children, FN, "caps-issuer").inputs.environment.variables;
    const sha = (t: string) => createHash("sha256").update(t).digest("hex");
    assert.deepEqual(JSON.parse(env.KEYBRAKE_ISSUERS), {
      billing: { token_sha256: sha("kbt_token-of-caps-issuer-billing"), ...issuers.billing },
      ops: { token_sha256: sha("kbt_token-of-caps-issuer-ops") },
    });
    assert.equal(env.KEYBRAKE_ENABLED_VENDORS, "stripe");
    assert.deepEqual(await unwrap(kb.issuerTokens), { billing: "kbt_token-of-caps-issuer-billing", ops: "kbt_token-of-caps-issuer-ops" });
    assert.equal(await pulumi.isSecret(kb.issuerTokens), true);
  });

  it("refuses invalid args synchronously, naming the field", () => {
    const cases: Array<[VaultKeyProxyArgs, RegExp]> = [
      [{}, /at least one vendor/],
      [{ stripeSecretKey: "sk", issuers: { x: { vendors: ["paypal" as never] } } }, /issuers\.x\.vendors: unknown vendor paypal/],
      [{ stripeSecretKey: "sk", issuers: { x: { vendors: ["twilio"] } } }, /issuers\.x\.vendors: twilio is not enabled/],
      [{ stripeSecretKey: "sk", issuers: { x: { max_daily_usd_cap: 0 } } }, /issuers\.x\.max_daily_usd_cap must be > 0/],
      [{ stripeSecretKey: "sk", issuers: { x: { max_daily_usd_cap: -5 } } }, /issuers\.x\.max_daily_usd_cap/],
      [{ stripeSecretKey: "sk", issuers: { x: { max_expires_in: "forever" } } }, /issuers\.x\.max_expires_in/],
      [{ stripeSecretKey: "sk", issuers: { x: { allowed_endpoints: ["payment_intents"] } } }, /issuers\.x\.allowed_endpoints\[0\]/],
      [{ stripeSecretKey: "sk", issuers: {} }, /issuers must declare/],
      [{ stripeSecretKey: "sk", stripeSecretArn: "arn" }, /only one of stripeSecretKey and stripeSecretArn/],
      [{ twilioAccountSid: "AC1" }, /twilioAccountSid and twilioAuthToken go together/],
      [{ stripeSecretKey: "sk", pricing: { twilio_mms_usd: "-1" } }, /pricing: pricing\.twilio_mms_usd/],
    ];
    for (const [args, message] of cases) assert.throws(() => new VaultKeyProxy(`bad-${Math.random().toString(36).slice(2)}`, args), message);
  });

  it("ships each Lambda its bundled handler, byte for byte the same when bundled twice", async () => {
    const { children } = await deploy("code", { stripeSecretKey: "sk" });
    for (const fn of ["issuer", "proxy", "sweep"] as const) {
      const archive = one(children, FN, `code-${fn}`).inputs.code as pulumi.asset.AssetArchive;
      const assets = (await archive.assets) as Record<string, pulumi.asset.StringAsset>;
      assert.deepEqual(Object.keys(assets), ["index.js"]);
      const text = await assets["index.js"]!.text;
      const bundle = bundleHandler(HANDLERS[fn]);
      assert.equal(text, bundle.code);
      assert.equal(bundleHandler(HANDLERS[fn]).code, bundle.code, "deterministic");
      assert.ok(!text.includes("/work/") && !text.includes(process.cwd()), "no absolute paths in the bundle");
      assert.match(text, /exports|module\.exports/);
      const mod = { exports: {} as Record<string, unknown> };
      process.env.KEYBRAKE_TABLE = "t";
      process.env.KEYBRAKE_ISSUERS = "{}";
      new Function("module", "exports", "require", text)(mod, mod.exports, require);
      assert.equal(typeof mod.exports.handler, "function", `${fn} bundle exports its handler`);
    }
  });
});
