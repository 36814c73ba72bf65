// The VaultKeyProxy component under Pulumi's runtime mocks: exact children, inputs and IAM statements.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import type { VaultKeyProxyArgs, VaultKeyProxy as VaultKeyProxyType } from "../../components";
import { bundleHandler, HANDLERS } from "../../components/bundle";
import type * as DashboardModule from "../../components/dashboard";
import { DIMENSION, METRIC, METRICS_NAMESPACE } from "../../lambda/audit/metrics";
import { recordsQuery, totalsQuery } from "../../lambda/audit/queries";
import { FINISH_MARGIN_MS } from "../../lambda/proxy/deadline";
import { DEFAULT_UPSTREAM_TIMEOUT_MS } from "../../lambda/proxy/upstream";
import { childrenOf, installMocks, one, unwrap } from "../support/pulumi-mocks";

let VaultKeyProxy: typeof VaultKeyProxyType;
let dashboardName: typeof DashboardModule.dashboardName;
const STRIPE_KEY = "sk_live_SECRET_VALUE_must_not_leak";
const FN = "aws:lambda/function:Function";
const POLICY = "aws:iam/rolePolicy:RolePolicy";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const DASHBOARD = "aws:cloudwatch/dashboard:Dashboard";
const SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription";
const QUERY = "aws:cloudwatch/queryDefinition:QueryDefinition";

async function deploy(name: string, args: VaultKeyProxyArgs) {
  const kb = new VaultKeyProxy(name, args);
  const children = await childrenOf(name, [
    kb.url,
    kb.tableName,
    kb.issuerFunctionName,
    kb.proxyFunctionName,
    kb.sweepFunctionName,
    kb.logGroupNames,
    kb.issuerTokens,
    kb.dashboardName,
    kb.alarmTopicArn,
  ]);
  return { kb, children };
}

const statementsOf = (children: pulumi.runtime.MockResourceArgs[], name: string) =>
  JSON.parse(one(children, POLICY, name).inputs.policy as string).Statement as unknown[];

/** An alarm's inputs, its free-text description apart. */
function alarmOf(children: pulumi.runtime.MockResourceArgs[], name: string) {
  const { alarmDescription, ...inputs } = one(children, ALARM, name).inputs;
  return { description: alarmDescription as string, inputs };
}

/** A deployment's alarm inputs: every alarm sums a Keybrake metric of this deployment over one period, both ways to its topic. */
function alarmInputs(deployment: string, specific: Record<string, unknown>): Record<string, unknown> {
  const topicArn = `arn:aws:mock:aws:sns/topic:Topic:${deployment}-alarms`;
  return {
    namespace: "Keybrake",
    dimensions: { service: deployment },
    statistic: "Sum",
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    alarmActions: [topicArn],
    okActions: [topicArn],
    ...specific,
  };
}

interface Widget {
  type: string;
  properties: {
    title: string;
    region?: string;
    metrics?: unknown[];
    alarms?: string[];
    stacked?: boolean;
    [k: string]: unknown;
  };
}
const widgetsOf = (children: pulumi.runtime.MockResourceArgs[], name: string) =>
  (JSON.parse(one(children, DASHBOARD, `${name}-dashboard`).inputs.dashboardBody as string) as { widgets: Widget[] })
    .widgets;
const widget = (widgets: Widget[], title: string) => {
  const found = widgets.filter((w) => w.properties.title === title);
  assert.equal(found.length, 1, `one widget titled ${title}`);
  return found[0]!;
};

describe("VaultKeyProxy", () => {
  before(async () => {
    await installMocks();
    ({ VaultKeyProxy } = await import("../../components/index.js"));
    ({ dashboardName } = await import("../../components/dashboard.js"));
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
      "aws:cloudwatch/dashboard:Dashboard kb-dashboard",
      "aws:cloudwatch/eventBus:EventBus kb-events",
      "aws:cloudwatch/eventRule:EventRule kb-cap-thresholds",
      "aws:cloudwatch/eventRule:EventRule kb-sweep",
      "aws:cloudwatch/eventTarget:EventTarget kb-cap-thresholds",
      "aws:cloudwatch/eventTarget:EventTarget kb-sweep",
      "aws:cloudwatch/logGroup:LogGroup kb-issuer",
      "aws:cloudwatch/logGroup:LogGroup kb-proxy",
      "aws:cloudwatch/logGroup:LogGroup kb-sweep",
      "aws:cloudwatch/metricAlarm:MetricAlarm kb-ledger-errors",
      "aws:cloudwatch/metricAlarm:MetricAlarm kb-refusal-spike",
      "aws:cloudwatch/metricAlarm:MetricAlarm kb-vendor-overage",
      "aws:cloudwatch/queryDefinition:QueryDefinition kb-calls",
      "aws:cloudwatch/queryDefinition:QueryDefinition kb-spend-by-label",
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
      "aws:sns/topic:Topic kb-alarms",
      "aws:sns/topicPolicy:TopicPolicy kb-alarms",
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
    assert.deepEqual(table.globalSecondaryIndexes, [
      { name: "by_label", hashKey: "gsi1pk", rangeKey: "gsi1sk", projectionType: "KEYS_ONLY" },
    ]);

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
      KEYBRAKE_DEPLOYMENT: "kb",
      KEYBRAKE_TABLE: "kb-ledger-physical",
      KEYBRAKE_STRIPE_SECRET_ARN: "arn:aws:mock:aws:secretsmanager/secret:Secret:kb-stripe",
      KEYBRAKE_EVENT_BUS: "kb-events",
    });
    const lambdas = JSON.stringify(
      children.filter((r) => r.type !== "aws:secretsmanager/secretVersion:SecretVersion").map((r) => r.inputs),
    );
    assert.ok(!lambdas.includes(STRIPE_KEY), "the Stripe key appears only in its secret version");
    assert.equal(
      one(children, "aws:secretsmanager/secretVersion:SecretVersion", "kb-stripe").inputs.secretString.value,
      STRIPE_KEY,
      "stored as a secret",
    );
    assert.equal(await unwrap(kb.url), "https://kb-http.execute-api.us-east-1.amazonaws.com");
    assert.deepEqual(await unwrap(kb.logGroupNames), {
      issuer: "/keybrake/kb/issuer",
      proxy: "/keybrake/kb/proxy",
      sweep: "/keybrake/kb/sweep",
    });
    const stage = one(children, "aws:apigatewayv2/stage:Stage", "kb-default").inputs;
    assert.equal(stage.name, "$default");
    assert.deepEqual(stage.defaultRouteSettings, { throttlingRateLimit: 1000, throttlingBurstLimit: 2000 });
    assert.deepEqual(
      children
        .filter((r) => r.type === "aws:apigatewayv2/route:Route")
        .map((r) => r.inputs.routeKey)
        .sort(),
      ["$default", "ANY /vault/{proxy+}"],
    );
  });

  it("gives each role exactly its statements: the issuer cannot read vendor secrets", async () => {
    const { children } = await deploy("iam", {
      stripeSecretKey: "sk",
      resendApiKey: "re",
      twilioSecretArn: "arn:aws:secretsmanager:us-east-1:1:secret:tw",
    });
    const table = "arn:aws:mock:aws:dynamodb/table:Table:iam-ledger";
    const logs = (fn: string) => ({
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `arn:aws:mock:aws:cloudwatch/logGroup:LogGroup:iam-${fn}:*`,
    });
    assert.deepEqual(statementsOf(children, "iam-issuer"), [
      logs("issuer"),
      {
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
        Resource: [table, `${table}/index/by_label`],
      },
    ]);
    assert.deepEqual(statementsOf(children, "iam-proxy"), [
      logs("proxy"),
      {
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"],
        Resource: table,
      },
      // Its own bus only, for cap threshold events.
      {
        Effect: "Allow",
        Action: ["events:PutEvents"],
        Resource: "arn:aws:mock:aws:cloudwatch/eventBus:EventBus:iam-events",
      },
      {
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue"],
        Resource: [
          "arn:aws:mock:aws:secretsmanager/secret:Secret:iam-stripe",
          "arn:aws:secretsmanager:us-east-1:1:secret:tw",
          "arn:aws:mock:aws:secretsmanager/secret:Secret:iam-resend",
        ],
      },
    ]);
    assert.deepEqual(statementsOf(children, "iam-sweep"), [
      logs("sweep"),
      { Effect: "Allow", Action: ["dynamodb:Scan", "dynamodb:UpdateItem"], Resource: table },
    ]);
    for (const fn of ["issuer", "proxy", "sweep"]) {
      const text = JSON.stringify(statementsOf(children, `iam-${fn}`));
      assert.ok(!text.includes('"*"'), `no wildcard in the ${fn} policy`);
    }
    assert.equal(
      children.filter((r) => r.type === "aws:secretsmanager/secret:Secret").length,
      2,
      "an existing Twilio secret is referenced, not created",
    );
  });

  it("hands the caps as code to the issuer and proxy, and routes the budgets' warnings to the alarm topic", async () => {
    const { children } = await deploy("stacked", {
      stripeSecretKey: "sk",
      twilioAccountSid: "AC1",
      twilioAuthToken: "t",
      issuers: { billing: { vendors: ["stripe"], daily_usd_budget: { stripe: 500 }, budget_parts: 2 } },
      dailyUsdCap: { stripe: 2000, twilio: 20 },
      dailyUsdCapParts: 8,
    });
    const caps = {
      deployment: {
        stripe: { daily_usd_cap: 2000, parts: 8, mode: "enforce" },
        twilio: { daily_usd_cap: 20, parts: 8, mode: "enforce" },
      },
      issuers: { billing: { stripe: { daily_usd_cap: 500, parts: 2, mode: "enforce" } } },
    };
    for (const fn of ["stacked-issuer", "stacked-proxy"]) {
      const env = one(children, FN, fn).inputs.environment.variables;
      assert.deepEqual(JSON.parse(env.KEYBRAKE_SPEND_CAPS), caps, fn);
    }
    assert.equal(one(children, FN, "stacked-proxy").inputs.environment.variables.KEYBRAKE_EVENT_BUS, "stacked-events");
    const rule = one(children, "aws:cloudwatch/eventRule:EventRule", "stacked-cap-thresholds").inputs;
    assert.equal(rule.eventBusName, "stacked-events");
    assert.deepEqual(JSON.parse(rule.eventPattern), {
      source: ["keybrake"],
      "detail-type": ["keybrake.cap_threshold"],
      detail: { level: ["budget", "issuer", "deployment"] },
    });
    const target = one(children, "aws:cloudwatch/eventTarget:EventTarget", "stacked-cap-thresholds").inputs;
    assert.equal(target.arn, "arn:aws:mock:aws:sns/topic:Topic:stacked-alarms");
    assert.equal(target.eventBusName, "stacked-events");
    assert.match(target.inputTransformer.inputTemplate, /reached <pct> % on <day>/);
    const policy = JSON.parse(one(children, "aws:sns/topicPolicy:TopicPolicy", "stacked-alarms").inputs.policy);
    const events = policy.Statement.find((s: { Sid: string }) => s.Sid === "keybrake-cap-thresholds");
    assert.deepEqual(events, {
      Sid: "keybrake-cap-thresholds",
      Effect: "Allow",
      Principal: { Service: "events.amazonaws.com" },
      Action: "sns:Publish",
      Resource: "arn:aws:mock:aws:sns/topic:Topic:stacked-alarms",
      Condition: {
        ArnEquals: { "aws:SourceArn": "arn:aws:mock:aws:cloudwatch/eventRule:EventRule:stacked-cap-thresholds" },
      },
    });
    assert.ok(
      policy.Statement.some((s: { Sid: string }) => s.Sid === "__default_statement_ID"),
      "the account's default statement stays (the alarms publish under it)",
    );
  });

  it("puts everything in the VPC with endpoints and a private entry point", async () => {
    const vpc = {
      vpcId: "vpc-1",
      subnetIds: ["subnet-a", "subnet-b"],
      securityGroupIds: ["sg-1"],
      routeTableIds: ["rtb-1"],
    };
    const { kb, children } = await deploy("vpc", { stripeSecretKey: "sk", vpc });
    for (const fn of ["issuer", "proxy", "sweep"]) {
      assert.deepEqual(one(children, FN, `vpc-${fn}`).inputs.vpcConfig, {
        subnetIds: ["subnet-a", "subnet-b"],
        securityGroupIds: ["sg-1"],
      });
      // ENI management only: AWSLambdaVPCAccessExecutionRole would also let every role create log groups and
      // write to any log group of the account (Resource "*"), the other functions' audit trails included.
      const statements = statementsOf(children, `vpc-${fn}`);
      assert.deepEqual(statements.at(-1), {
        Effect: "Allow",
        Action: [
          "ec2:CreateNetworkInterface",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeSubnets",
          "ec2:DeleteNetworkInterface",
          "ec2:AssignPrivateIpAddresses",
          "ec2:UnassignPrivateIpAddresses",
        ],
        Resource: "*",
      });
      const logs = statements.filter((s) => JSON.stringify(s).includes("logs:"));
      assert.deepEqual(logs, [
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: `arn:aws:mock:aws:cloudwatch/logGroup:LogGroup:vpc-${fn}:*`,
        },
      ]);
    }
    assert.equal(
      children.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment").length,
      0,
      "no managed policy: each role's one inline policy is all it may do",
    );
    const endpoints = children
      .filter((r) => r.type === "aws:ec2/vpcEndpoint:VpcEndpoint")
      .map((r) => [r.inputs.serviceName, r.inputs.vpcEndpointType])
      .sort();
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
    // Throttled like the public entry point: the same defaults, on every method of the stage.
    assert.deepEqual(one(children, "aws:apigateway/methodSettings:MethodSettings", "vpc-private").inputs, {
      restApi: "vpc-private-id",
      stageName: "v1",
      methodPath: "*/*",
      settings: { throttlingRateLimit: 1000, throttlingBurstLimit: 2000 },
    });
    assert.equal(
      await unwrap(kb.url),
      "https://vpc-private-id-vpc-execute-api-id.execute-api.us-east-1.amazonaws.com/v1",
    );
  });

  it("takes the throttling args on the private entry point too", async () => {
    const vpc = { vpcId: "v", subnetIds: ["s"], securityGroupIds: ["g"], routeTableIds: ["r"] };
    const { children } = await deploy("slow", {
      stripeSecretKey: "sk",
      vpc,
      throttlingRateLimit: 50,
      throttlingBurstLimit: 100,
    });
    assert.deepEqual(one(children, "aws:apigateway/methodSettings:MethodSettings", "slow-private").inputs.settings, {
      throttlingRateLimit: 50,
      throttlingBurstLimit: 100,
    });
  });

  it("hands the issuer Lambda each issuer's ceilings with its token's hash, and the tokens as a secret output", async () => {
    const issuers = {
      billing: {
        vendors: ["stripe" as const],
        max_daily_usd_cap: 150,
        max_expires_in: "1h",
        allowed_endpoints: ["POST /v1/payment_intents"],
        label_prefix: "modal-billing/",
      },
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
    assert.deepEqual(await unwrap(kb.issuerTokens), {
      billing: "kbt_token-of-caps-issuer-billing",
      ops: "kbt_token-of-caps-issuer-ops",
    });
    assert.equal(await pulumi.isSecret(kb.issuerTokens), true);
  });

  it("refuses invalid args synchronously, naming the field", () => {
    const cases: Array<[VaultKeyProxyArgs, RegExp]> = [
      [{}, /at least one vendor/],
      [
        { stripeSecretKey: "sk", issuers: { x: { vendors: ["paypal" as never] } } },
        /issuers\.x\.vendors: unknown vendor paypal/,
      ],
      [
        { stripeSecretKey: "sk", issuers: { x: { vendors: ["twilio"] } } },
        /issuers\.x\.vendors: twilio is not enabled/,
      ],
      [
        { stripeSecretKey: "sk", issuers: { x: { max_daily_usd_cap: 0 } } },
        /issuers\.x\.max_daily_usd_cap must be > 0/,
      ],
      [{ stripeSecretKey: "sk", issuers: { x: { max_daily_usd_cap: -5 } } }, /issuers\.x\.max_daily_usd_cap/],
      [{ stripeSecretKey: "sk", issuers: { x: { max_expires_in: "forever" } } }, /issuers\.x\.max_expires_in/],
      [
        { stripeSecretKey: "sk", issuers: { x: { allowed_endpoints: ["payment_intents"] } } },
        /issuers\.x\.allowed_endpoints\[0\]/,
      ],
      [{ stripeSecretKey: "sk", issuers: {} }, /issuers must declare/],
      [{ stripeSecretKey: "sk", stripeSecretArn: "arn" }, /only one of stripeSecretKey and stripeSecretArn/],
      [{ twilioAccountSid: "AC1" }, /twilioAccountSid and twilioAuthToken go together/],
      [{ stripeSecretKey: "sk", pricing: { twilio_mms_usd: "-1" } }, /^Error: pricing\.twilio_mms_usd/],
    ];
    for (const [args, message] of cases)
      assert.throws(() => new VaultKeyProxy(`bad-${Math.random().toString(36).slice(2)}`, args), message);
  });

  it("refuses at preview what AWS would refuse halfway through `pulumi up`: a log retention or memory it does not take", () => {
    const cases: Array<[VaultKeyProxyArgs, RegExp]> = [
      [
        { stripeSecretKey: "sk", logRetentionDays: 45 },
        /^Error: logRetentionDays must be one of CloudWatch's retention periods \(0 = never expire, 1, 3, 5, 7, 14, 30, .*3653\), got 45/,
      ],
      [{ stripeSecretKey: "sk", logRetentionDays: -1 }, /logRetentionDays must be one of/],
      [{ stripeSecretKey: "sk", logRetentionDays: "30" as never }, /logRetentionDays must be one of/],
      [
        { stripeSecretKey: "sk", proxyMemoryMb: 64 },
        /^Error: proxyMemoryMb must be a whole number of MB from 128 to 10240, got 64/,
      ],
      [
        { stripeSecretKey: "sk", issuerMemoryMb: 20000 },
        /issuerMemoryMb must be a whole number of MB from 128 to 10240/,
      ],
      [{ stripeSecretKey: "sk", proxyMemoryMb: 512.5 }, /proxyMemoryMb must be a whole number/],
    ];
    for (const [args, message] of cases)
      assert.throws(() => new VaultKeyProxy(`bad-${Math.random().toString(36).slice(2)}`, args), message);
    for (const logRetentionDays of [0, 1, 30, 365, 3653])
      assert.doesNotThrow(
        () => new VaultKeyProxy(`ok-${logRetentionDays}`, { stripeSecretKey: "sk", logRetentionDays }),
      );
    assert.doesNotThrow(
      () =>
        new VaultKeyProxy("ok-input", {
          stripeSecretKey: "sk",
          logRetentionDays: pulumi.output(45),
          proxyMemoryMb: pulumi.output(1024),
        }),
      "an Output is AWS's to check",
    );
  });

  it("names every function's metrics after the deployment: KEYBRAKE_DEPLOYMENT and the namespace on all three", async () => {
    const { children } = await deploy("env", { stripeSecretKey: "sk", resendApiKey: "re" });
    for (const fn of ["issuer", "proxy", "sweep"]) {
      const env = one(children, FN, `env-${fn}`).inputs.environment.variables;
      assert.equal(env.KEYBRAKE_DEPLOYMENT, "env", `${fn}: the service dimension is the component's name`);
      assert.equal(env.POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE);
    }
  });

  it("alarms on ledger errors and refusal spikes with exact inputs, notifying the alarm topic", async () => {
    const { kb, children } = await deploy("alarm", {
      stripeSecretKey: "sk",
      twilioAccountSid: "AC1",
      twilioAuthToken: "tok",
    });
    assert.equal(await unwrap(kb.alarmTopicArn), "arn:aws:mock:aws:sns/topic:Topic:alarm-alarms");
    for (const [name, metricName, period, threshold, description] of [
      ["alarm-ledger-errors", "LedgerErrors", 60, 1, /ledger could not be reached.*503/],
      ["alarm-refusal-spike", "Refusals", 300, 100, /100 proxy calls refused in 5 minutes/],
    ] as const) {
      const alarm = alarmOf(children, name);
      assert.deepEqual(
        alarm.inputs,
        alarmInputs("alarm", { metricName, period, threshold, comparisonOperator: "GreaterThanOrEqualToThreshold" }),
        name,
      );
      assert.match(alarm.description, description);
    }
    assert.deepEqual(
      children
        .filter((r) => r.type === ALARM)
        .map((r) => r.name)
        .sort(),
      ["alarm-ledger-errors", "alarm-refusal-spike", "alarm-vendor-overage"],
      "no spend alarm unless dailySpendAlarmUsd asks for one",
    );
    assert.equal(
      children.filter((r) => r.type === SUBSCRIPTION).length,
      0,
      "no e-mail subscription without alarmEmail",
    );
    assert.equal(one(children, "aws:sns/topic:Topic", "alarm-alarms").inputs.displayName, "keybrake alarm alarms");
  });

  it("alarms on any vendor overage (a price above the reservation) within 5 minutes", async () => {
    const { children } = await deploy("over", { twilioAccountSid: "AC1", twilioAuthToken: "tok" });
    const overage = alarmOf(children, "over-vendor-overage");
    assert.deepEqual(
      overage.inputs,
      alarmInputs("over", {
        metricName: "OverageUSD",
        period: 300,
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
      }),
    );
    assert.match(overage.description, /charged more than keybrake reserved.*overage_usd/);
  });

  it("takes the alarm thresholds and e-mail from args; the subscription exists only with alarmEmail", async () => {
    const { children } = await deploy("mail", {
      stripeSecretKey: "sk",
      alarmEmail: "oncall@example.com",
      refusalAlarmThreshold: 25,
      ledgerErrorAlarmThreshold: 3,
    });
    assert.deepEqual(one(children, SUBSCRIPTION, "mail-alarms-email").inputs, {
      topic: "arn:aws:mock:aws:sns/topic:Topic:mail-alarms",
      protocol: "email",
      endpoint: "oncall@example.com",
    });
    assert.equal(children.filter((r) => r.type === SUBSCRIPTION).length, 1);
    assert.equal(alarmOf(children, "mail-refusal-spike").inputs.threshold, 25);
    assert.equal(alarmOf(children, "mail-ledger-errors").inputs.threshold, 3);
  });

  it("creates one daily spend alarm per vendor listed in dailySpendAlarmUsd, at its threshold", async () => {
    const { children } = await deploy("spend", {
      stripeSecretKey: "sk",
      twilioSecretArn: "arn:aws:secretsmanager:us-east-1:1:secret:tw",
      resendApiKey: "re",
      dailySpendAlarmUsd: { stripe: 250, resend: 12.5 },
    });
    for (const [vendor, usd] of [
      ["stripe", 250],
      ["resend", 12.5],
    ] as const) {
      const alarm = alarmOf(children, `spend-daily-spend-${vendor}`);
      assert.deepEqual(
        alarm.inputs,
        alarmInputs("spend", {
          metricName: "SpendUSD",
          dimensions: { service: "spend", vendor },
          period: 86400,
          threshold: usd,
          comparisonOperator: "GreaterThanThreshold",
        }),
      );
      assert.match(alarm.description, new RegExp(`${vendor} spend .* last 24 hours is above ${usd} USD`));
    }
    assert.deepEqual(
      children
        .filter((r) => r.type === ALARM)
        .map((r) => r.name)
        .sort(),
      [
        "spend-daily-spend-resend",
        "spend-daily-spend-stripe",
        "spend-ledger-errors",
        "spend-refusal-spike",
        "spend-vendor-overage",
      ],
      "twilio is enabled but not listed: no alarm for it",
    );
  });

  it("sends a custom metricsNamespace to the functions, the alarms and the dashboard alike", async () => {
    const { children } = await deploy("ns", {
      stripeSecretKey: "sk",
      metricsNamespace: "Acme Keybrake",
      dailySpendAlarmUsd: { stripe: 50 },
    });
    for (const fn of ["issuer", "proxy", "sweep"]) {
      assert.equal(
        one(children, FN, `ns-${fn}`).inputs.environment.variables.POWERTOOLS_METRICS_NAMESPACE,
        "Acme Keybrake",
      );
    }
    const alarms = children.filter((r) => r.type === ALARM);
    assert.equal(alarms.length, 4);
    for (const alarm of alarms) assert.equal(alarm.inputs.namespace, "Acme Keybrake", alarm.name);
    const widgets = widgetsOf(children, "ns");
    assert.deepEqual(widget(widgets, "Spend per vendor (USD)").properties.metrics, [
      ["Acme Keybrake", "SpendUSD", "service", "ns", "vendor", "stripe", { period: 300, stat: "Sum", label: "stripe" }],
    ]);
    assert.deepEqual(widget(widgets, "Refusals by reason").properties.metrics, [
      [
        {
          id: "reasons",
          label: "${PROP('Dim.reason')}",
          expression: `SEARCH('{"Acme Keybrake",service,reason} MetricName="Refusals" service="ns"', 'Sum', 300)`,
        },
      ],
    ]);
  });

  it("builds the dashboard: spend, calls, refusal reasons, latency, ledger health, settlements and the alarms", async () => {
    const { kb, children } = await deploy("dash", {
      stripeSecretKey: "sk",
      twilioAccountSid: "AC1",
      twilioAuthToken: "tok",
      dailySpendAlarmUsd: { twilio: 20 },
    });
    assert.equal(await unwrap(kb.dashboardName), "dash-us-east-1");
    assert.equal(one(children, DASHBOARD, "dash-dashboard").inputs.dashboardName, "dash-us-east-1");
    const widgets = widgetsOf(children, "dash");
    assert.deepEqual(
      widgets.map((w) => [w.type, w.properties.title]),
      [
        ["alarm", "Alarms"],
        ["metric", "Spend per vendor (USD)"],
        ["metric", "Calls and refusals per vendor"],
        ["metric", "Refusals by reason"],
        ["metric", "Proxy latency"],
        ["metric", "Ledger errors"],
        ["metric", "Settlement outcomes"],
        ["metric", "Caps: warnings, shadow refusals, overage"],
        ["log", "Spend per vendor and run label (audit log)"],
      ],
    );
    for (const w of widgets.filter((w) => w.type !== "alarm"))
      assert.equal(w.properties.region, "us-east-1", `${w.properties.title} has a region`);
    assert.equal(
      widget(widgets, "Spend per vendor and run label (audit log)").properties.query,
      `SOURCE '/keybrake/dash/proxy' | SOURCE '/keybrake/dash/sweep' | SOURCE '/keybrake/dash/issuer' | ${totalsQuery({}, "vendor_label")}`,
    );

    const ns = METRICS_NAMESPACE;
    const sum = (label: string) => ({ period: 300, stat: "Sum", label });
    const spend = widget(widgets, "Spend per vendor (USD)").properties;
    assert.equal(spend.stacked, true);
    assert.equal(spend.view, "timeSeries");
    assert.equal(spend.period, 300);
    assert.deepEqual(spend.metrics, [
      [ns, METRIC.spendUsd, DIMENSION.service, "dash", DIMENSION.vendor, "stripe", sum("stripe")],
      [ns, METRIC.spendUsd, DIMENSION.service, "dash", DIMENSION.vendor, "twilio", sum("twilio")],
    ]);
    assert.deepEqual(widget(widgets, "Calls and refusals per vendor").properties.metrics, [
      [ns, "Calls", "service", "dash", "vendor", "stripe", sum("stripe calls")],
      [ns, "Refusals", "service", "dash", "vendor", "stripe", sum("stripe refusals")],
      [ns, "Calls", "service", "dash", "vendor", "twilio", sum("twilio calls")],
      [ns, "Refusals", "service", "dash", "vendor", "twilio", sum("twilio refusals")],
    ]);
    assert.deepEqual(widget(widgets, "Refusals by reason").properties.metrics, [
      [
        {
          id: "reasons",
          label: "${PROP('Dim.reason')}",
          expression: `SEARCH('{Keybrake,service,reason} MetricName="Refusals" service="dash"', 'Sum', 300)`,
        },
      ],
    ]);
    assert.deepEqual(widget(widgets, "Proxy latency").properties.metrics, [
      [ns, "LatencyMs", "service", "dash", "vendor", "stripe", { period: 300, stat: "p50", label: "stripe p50" }],
      [ns, "LatencyMs", "service", "dash", "vendor", "stripe", { period: 300, stat: "p99", label: "stripe p99" }],
      [ns, "LatencyMs", "service", "dash", "vendor", "twilio", { period: 300, stat: "p50", label: "twilio p50" }],
      [ns, "LatencyMs", "service", "dash", "vendor", "twilio", { period: 300, stat: "p99", label: "twilio p99" }],
      [
        "AWS/Lambda",
        "Duration",
        "FunctionName",
        "dash-proxy-physical",
        { stat: "p99", period: 300, label: "proxy Lambda p99" },
      ],
    ]);
    assert.deepEqual(widget(widgets, "Caps: warnings, shadow refusals, overage").properties.metrics, [
      [ns, "CapThresholds", "service", "dash", "vendor", "stripe", sum("stripe 80 % / 100 % warnings")],
      [ns, "WouldRefuse", "service", "dash", "vendor", "stripe", sum("stripe forwarded, a shadow cap would refuse")],
      [ns, "CapThresholds", "service", "dash", "vendor", "twilio", sum("twilio 80 % / 100 % warnings")],
      [ns, "WouldRefuse", "service", "dash", "vendor", "twilio", sum("twilio forwarded, a shadow cap would refuse")],
      [
        ns,
        "OverageUSD",
        "service",
        "dash",
        { period: 300, stat: "Sum", label: "vendor overage (USD)", yAxis: "right" },
      ],
    ]);
    assert.deepEqual(widget(widgets, "Ledger errors").properties.metrics, [
      [ns, "LedgerErrors", "service", "dash", sum("ledger errors (503 or failed settlement)")],
      [
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        "dash-issuer-physical",
        { stat: "Sum", period: 300, label: "issuer Lambda errors" },
      ],
      [
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        "dash-proxy-physical",
        { stat: "Sum", period: 300, label: "proxy Lambda errors" },
      ],
      [
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        "dash-sweep-physical",
        { stat: "Sum", period: 300, label: "sweep Lambda errors" },
      ],
      [
        {
          id: "throttled",
          label: "throttled ${PROP('Dim.Operation')}",
          expression: `SEARCH('{AWS/DynamoDB,TableName,Operation} MetricName="ThrottledRequests" TableName="dash-ledger-physical"', 'Sum', 300)`,
        },
      ],
      [
        {
          id: "systemerrors",
          label: "DynamoDB system errors ${PROP('Dim.Operation')}",
          expression: `SEARCH('{AWS/DynamoDB,TableName,Operation} MetricName="SystemErrors" TableName="dash-ledger-physical"', 'Sum', 300)`,
        },
      ],
    ]);
    assert.deepEqual(widget(widgets, "Settlement outcomes").properties.metrics, [
      [ns, "Settled", "service", "dash", sum("Settled")],
      [ns, "Released", "service", "dash", sum("Released")],
      [ns, "Unsettled", "service", "dash", sum("Unsettled")],
      [ns, "Retried", "service", "dash", sum("Retried")],
      [ns, "Swept", "service", "dash", sum("Swept")],
      [
        ns,
        "UnsettledUSD",
        "service",
        "dash",
        { period: 300, stat: "Sum", label: "kept as spent, outcome unknown (USD)", yAxis: "right" },
      ],
    ]);
    const alarmArns = children.filter((r) => r.type === ALARM).map((r) => `arn:aws:mock:${ALARM}:${r.name}`);
    assert.equal(alarmArns.length, 4);
    assert.deepEqual(widget(widgets, "Alarms").properties.alarms!.slice().sort(), alarmArns.sort());
  });

  it("saves the CLI's Logs Insights queries in the console with the deployment's log groups", async () => {
    const { children } = await deploy("saved", { stripeSecretKey: "sk" });
    const groups = ["/keybrake/saved/proxy", "/keybrake/saved/sweep", "/keybrake/saved/issuer"];
    assert.deepEqual(one(children, QUERY, "saved-calls").inputs, {
      name: "keybrake/saved/calls",
      logGroupNames: groups,
      queryString: recordsQuery({}, 1000),
    });
    assert.deepEqual(one(children, QUERY, "saved-spend-by-label").inputs, {
      name: "keybrake/saved/spend-by-label",
      logGroupNames: groups,
      queryString: totalsQuery({}, "vendor_label"),
    });
    assert.match(totalsQuery({}, "vendor_label"), /^filter audit\.event in \["call", "reservation_swept"\]\n\| stats /);
  });

  it("keeps dashboard names to the characters CloudWatch accepts, region last", () => {
    assert.equal(dashboardName("keybrake", "eu-west-1"), "keybrake-eu-west-1");
    assert.equal(dashboardName("team.keybrake/prod v2", "us-east-1"), "team-keybrake-prod-v2-us-east-1");
    const long = dashboardName("x".repeat(300), "ap-southeast-2");
    assert.equal(long.length, 255);
    assert.ok(long.endsWith("-ap-southeast-2"));
  });

  it("refuses invalid observability args synchronously, naming the field", () => {
    const cases: Array<[VaultKeyProxyArgs, RegExp]> = [
      [
        { stripeSecretKey: "sk", dailySpendAlarmUsd: { twilio: 10 } },
        /^Error: dailySpendAlarmUsd\.twilio: twilio is not enabled/,
      ],
      [
        { stripeSecretKey: "sk", dailySpendAlarmUsd: { paypal: 10 } as never },
        /dailySpendAlarmUsd\.paypal: unknown vendor paypal/,
      ],
      [
        { stripeSecretKey: "sk", dailySpendAlarmUsd: { stripe: 0 } },
        /dailySpendAlarmUsd\.stripe: must be a positive number of USD, got 0/,
      ],
      [
        { stripeSecretKey: "sk", dailySpendAlarmUsd: { stripe: -5 } },
        /dailySpendAlarmUsd\.stripe: must be a positive number of USD, got -5/,
      ],
      [
        { stripeSecretKey: "sk", dailySpendAlarmUsd: { stripe: "100" as never } },
        /dailySpendAlarmUsd\.stripe: must be a positive number/,
      ],
      [
        { stripeSecretKey: "sk", dailySpendAlarmUsd: { stripe: Number.NaN } },
        /dailySpendAlarmUsd\.stripe: must be a positive number/,
      ],
      [{ stripeSecretKey: "sk", dailySpendAlarmUsd: [100] as never }, /dailySpendAlarmUsd must map vendors to USD/],
      [{ stripeSecretKey: "sk", refusalAlarmThreshold: 0 }, /refusalAlarmThreshold must be a whole number >= 1/],
      [{ stripeSecretKey: "sk", refusalAlarmThreshold: 2.5 }, /refusalAlarmThreshold must be a whole number >= 1/],
      [
        { stripeSecretKey: "sk", ledgerErrorAlarmThreshold: -1 },
        /ledgerErrorAlarmThreshold must be a whole number >= 1/,
      ],
      [{ stripeSecretKey: "sk", metricsNamespace: "AWS/Lambda" }, /metricsNamespace must .* not start with "AWS\/"/],
      [{ stripeSecretKey: "sk", metricsNamespace: "" }, /metricsNamespace must be 1-255/],
      [{ stripeSecretKey: "sk", metricsNamespace: "it's" }, /metricsNamespace must be 1-255/],
      [{ stripeSecretKey: "sk", alarmEmail: "oncall" }, /alarmEmail must be an e-mail address, got oncall/],
    ];
    for (const [args, message] of cases)
      assert.throws(() => new VaultKeyProxy(`bad-${Math.random().toString(36).slice(2)}`, args), message);
    assert.throws(
      () => new VaultKeyProxy(`it's-${Math.random().toString(36).slice(2)}`, { stripeSecretKey: "sk" }),
      /VaultKeyProxy name must be non-empty without quotes/,
    );
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
      // AWS clients are loaded with a plain `require`, which any Node resolves; an `import()` of one resolves on
      // Lambda only through its NODE_PATH lookup for ES modules.
      assert.doesNotMatch(text, /import\(\s*["']@aws-sdk\//, `${fn} loads no AWS client with import()`);
      const mod = { exports: {} as Record<string, unknown> };
      process.env.KEYBRAKE_TABLE = "t";
      process.env.KEYBRAKE_ISSUERS = "{}";
      new Function("module", "exports", "require", text)(mod, mod.exports, require);
      assert.equal(typeof mod.exports.handler, "function", `${fn} bundle exports its handler`);
    }
  });

  it("registers every child under the component ({ parent: this }), named from the component's name", async () => {
    const { children } = await deploy("tree", {
      stripeSecretKey: "sk",
      vpc: { vpcId: "v", subnetIds: ["s"], securityGroupIds: ["g"], routeTableIds: ["r"] },
      alarmEmail: "a@example.com",
      dailySpendAlarmUsd: { stripe: 1 },
    });
    const monitor = pulumi.runtime.getMonitor() as unknown as { getRegisteredResources(): Map<string, unknown> };
    const urns = [...monitor.getRegisteredResources().keys()].filter((urn) => /::tree(-[^:]*)?$/.test(urn));
    assert.equal(urns.length, children.length, "one URN per recorded resource");
    for (const urn of urns) {
      const [, , type, name] = urn.split("::");
      if (name === "tree") assert.equal(type, "keybrake:index:VaultKeyProxy");
      else assert.match(type!, /^keybrake:index:VaultKeyProxy\$/, `${name} is a child of the component`);
    }
  });

  it("hands no issuer token to any resource: the issuer Lambda gets their SHA-256, the token is a secret output", async () => {
    const { kb, children } = await deploy("tok", { stripeSecretKey: "sk", issuers: { a: {}, b: {} } });
    const inputs = JSON.stringify(children.map((r) => r.inputs));
    assert.ok(!inputs.includes("token-of-tok-issuer"), "no token in any resource's inputs");
    const env = one(children, FN, "tok-issuer").inputs.environment.variables;
    assert.deepEqual(Object.keys(JSON.parse(env.KEYBRAKE_ISSUERS).a), ["token_sha256"]);
    assert.equal(await pulumi.isSecret(kb.issuerTokens), true);
    for (const fn of ["issuer", "proxy", "sweep"])
      for (const [key, value] of Object.entries(one(children, FN, `tok-${fn}`).inputs.environment.variables))
        assert.doesNotMatch(String(value), /kbt_|sk_|re_/, `${fn} ${key} carries no secret`);
  });

  it("sizes the functions: the proxy's timeout holds its vendor deadline and the finish margin; the sweep every 5 minutes", async () => {
    const { children } = await deploy("size", { stripeSecretKey: "sk" });
    const settings = (fn: string) => {
      const inputs = one(children, FN, `size-${fn}`).inputs;
      return { timeout: inputs.timeout, memorySize: inputs.memorySize };
    };
    assert.deepEqual(settings("issuer"), { timeout: 10, memorySize: 256 });
    assert.deepEqual(settings("proxy"), { timeout: 30, memorySize: 512 });
    assert.deepEqual(settings("sweep"), { timeout: 60, memorySize: 256 });
    assert.ok(
      DEFAULT_UPSTREAM_TIMEOUT_MS + FINISH_MARGIN_MS <= settings("proxy").timeout * 1000,
      "the vendor deadline is never cut by the function's remaining time",
    );
    const rule = one(children, "aws:cloudwatch/eventRule:EventRule", "size-sweep").inputs;
    assert.equal(rule.scheduleExpression, "rate(5 minutes)");
    assert.equal(rule.eventBusName, undefined, "the schedule runs on the default bus");
    const target = one(children, "aws:cloudwatch/eventTarget:EventTarget", "size-sweep").inputs;
    assert.equal(target.arn, "arn:aws:mock:aws:lambda/function:Function:size-sweep");
    assert.deepEqual(one(children, "aws:lambda/permission:Permission", "size-sweep").inputs, {
      action: "lambda:InvokeFunction",
      function: "size-sweep-physical",
      principal: "events.amazonaws.com",
      sourceArn: "arn:aws:mock:aws:cloudwatch/eventRule:EventRule:size-sweep",
    });
    for (const fn of ["issuer", "proxy"])
      assert.equal(
        one(children, "aws:lambda/permission:Permission", `size-${fn}-invoke`).inputs.sourceArn,
        "arn:aws:execute-api:us-east-1:123456789012:size-http/*/*",
        `only this deployment's API invokes the ${fn}`,
      );
  });

  it("keeps the ledger: deletion protection, point-in-time recovery and the customer key when given", async () => {
    const key = "arn:aws:kms:us-east-1:1:key/k";
    const { children } = await deploy("keep", { stripeSecretKey: "sk", kmsKeyArn: key });
    const table = one(children, "aws:dynamodb/table:Table", "keep-ledger").inputs;
    assert.deepEqual(table.serverSideEncryption, { enabled: true, kmsKeyArn: key });
    assert.equal(table.deletionProtectionEnabled, true);
    assert.deepEqual(table.pointInTimeRecovery, { enabled: true });
    for (const fn of ["issuer", "proxy", "sweep"]) {
      const kms = statementsOf(children, `keep-${fn}`).filter((s) => JSON.stringify(s).includes("kms:"));
      assert.equal(kms.length, 1, fn);
      assert.equal((kms[0] as { Resource: unknown }).Resource, key, `${fn}: that key only`);
      // Through DynamoDB only: the role cannot call KMS itself (decrypt whatever else the key protects).
      assert.deepEqual(
        (kms[0] as { Condition: unknown }).Condition,
        { StringEquals: { "kms:ViaService": "dynamodb.us-east-1.amazonaws.com" } },
        fn,
      );
    }
    const { children: off } = await deploy("nokeep", { stripeSecretKey: "sk", deletionProtection: false });
    assert.equal(one(off, "aws:dynamodb/table:Table", "nokeep-ledger").inputs.deletionProtectionEnabled, false);
  });
});
