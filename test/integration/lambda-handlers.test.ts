// The Lambda entry points themselves (`lambda/issuer.ts`, `lambda/proxy.ts`, `lambda/sweep.ts`), configured only by the
// environment the Pulumi component sets, invoked with API Gateway HTTP API (v2) events. The AWS SDK reaches DynamoDB
// Local and a fake Secrets Manager through its standard endpoint variables.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { sha256Hex } from "../../lambda/core/vault-key";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { ensureLedgerTable } from "../../lambda/ledger/table";
import { type FakeEventBridge, startFakeEventBridge } from "../support/fake-eventbridge";
import { type FakeSecretsManager, startFakeSecretsManager } from "../support/fake-secrets-manager";
import { type FakeVendors, type Responder, SECRETS, startFakeVendors } from "../support/fake-vendors";
import { apiGatewayEvent, captureStdout, logLines } from "../support/lambda-events";
import { dynamoEndpoint, freshTable } from "../support/stack";

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const BILLING_TOKEN = "kbt_billing_0123456789abcdef";
const STRIPE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keybrake-stripe";

const context = {} as Context;

describe("Lambda handlers behind API Gateway", () => {
  let vendors: FakeVendors;
  let secretsManager: FakeSecretsManager;
  let eventBridge: FakeEventBridge;
  let issuer: Handler;
  let proxy: Handler;
  let sweep: () => Promise<{ swept: number; expired: number }>;

  before(async () => {
    vendors = await startFakeVendors();
    secretsManager = await startFakeSecretsManager({ [STRIPE_ARN]: SECRETS.STRIPE_SECRET_KEY });
    eventBridge = await startFakeEventBridge();
    const endpoint = await dynamoEndpoint();
    const table = freshTable();
    const db = createDynamoClient(localDynamoConfig(endpoint));
    await ensureLedgerTable(db, table);
    db.destroy();
    Object.assign(process.env, {
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      KEYBRAKE_EVENT_BUS: "kb-test-events",
      KEYBRAKE_TABLE: table,
      KEYBRAKE_ENABLED_VENDORS: "stripe",
      KEYBRAKE_STRIPE_SECRET_ARN: STRIPE_ARN,
      KEYBRAKE_STRIPE_URL: vendors.stripe.url,
      POWERTOOLS_DEV: "false",
      POWERTOOLS_METRICS_NAMESPACE: "KeybrakeTest",
      KEYBRAKE_DEPLOYMENT: "kb-test",
      KEYBRAKE_ISSUERS: JSON.stringify({
        billing: {
          token_sha256: sha256Hex(BILLING_TOKEN),
          vendors: ["stripe"],
          max_daily_usd_cap: 100,
          max_expires_in: "1h",
          allowed_endpoints: ["POST /v1/payment_intents", "GET /v1/payment_intents/*"],
          label_prefix: "modal-billing/",
        },
      }),
    });
    ({ handler: issuer } = (await import("../../lambda/handlers/issuer.js")) as unknown as { handler: Handler });
    ({ handler: proxy } = (await import("../../lambda/handlers/proxy.js")) as unknown as { handler: Handler });
    ({ handler: sweep } = await import("../../lambda/handlers/sweep.js"));
  });
  after(async () => {
    await vendors.close();
    await secretsManager.close();
    await eventBridge.close();
  });

  const keyRequest = {
    vendor: "stripe",
    daily_usd_cap: 50,
    allowed_endpoints: ["POST /v1/payment_intents"],
    expires_in: "5m",
    agent_run_label: "modal-billing/cus_9",
  };
  const formHeaders = (vaultKey: string) => ({
    authorization: `Bearer ${vaultKey}`,
    "content-type": "application/x-www-form-urlencoded",
  });
  /** A PaymentIntent of `cents` USD cents on the bare path, as an SDK sends it through API Gateway. */
  const chargeEvent = (vaultKey: string, cents: number) =>
    apiGatewayEvent("POST", "/v1/payment_intents", formHeaders(vaultKey), `amount=${cents}&currency=usd`);
  const issue = (body: object) =>
    issuer(
      apiGatewayEvent(
        "POST",
        "/vault/keys",
        { authorization: `Bearer ${BILLING_TOKEN}`, "content-type": "application/json" },
        JSON.stringify(body),
      ),
      context,
    );

  it("issues within the issuer's ceilings and refuses above each one with 403 naming it", async () => {
    assert.equal((await issue(keyRequest)).statusCode, 201);
    const above: Array<[object, string]> = [
      [{ ...keyRequest, daily_usd_cap: 100.01 }, "max_daily_usd_cap"],
      [{ ...keyRequest, expires_in: "2h" }, "max_expires_in"],
      [{ ...keyRequest, allowed_endpoints: ["POST /v1/refunds"] }, "allowed_endpoints"],
      [{ ...keyRequest, allowed_endpoints: ["GET /v1/*/*"] }, "allowed_endpoints"],
      [{ ...keyRequest, agent_run_label: "other-team/x" }, "label_prefix"],
      // A key in shadow mode has no hard cap at all: above any max_daily_usd_cap.
      [{ ...keyRequest, mode: "shadow" }, "max_daily_usd_cap"],
    ];
    for (const [body, ceiling] of above) {
      const res = await issue(body);
      assert.equal(res.statusCode, 403, ceiling);
      assert.equal(JSON.parse(res.body!).error.ceiling, ceiling);
    }
    const vendor = await issue({ ...keyRequest, vendor: "twilio" });
    assert.equal(vendor.statusCode, 400, "twilio has no secret in this deployment");
    const stranger = await issuer(
      apiGatewayEvent("POST", "/vault/keys", { authorization: "Bearer kbt_nobody" }, JSON.stringify(keyRequest)),
      context,
    );
    assert.equal(stranger.statusCode, 401);
  });

  it("proxies a bare Stripe path with the secret from Secrets Manager, read once", async () => {
    const key = JSON.parse((await issue(keyRequest)).body!) as { vault_key: string; key_id: string };
    const call = () => proxy(chargeEvent(key.vault_key, 1500), context);
    const first = await call();
    assert.equal(first.statusCode, 200);
    assert.match(JSON.parse(first.body!).id, /^pi_/);
    await call();
    assert.equal(vendors.stripe.received.length, 2);
    assert.equal(vendors.stripe.received[0]!.headers.authorization, `Bearer ${SECRETS.STRIPE_SECRET_KEY}`);
    assert.deepEqual(secretsManager.requests, [STRIPE_ARN], "the secret is cached across invocations");

    const shown = await issuer(
      apiGatewayEvent("GET", `/vault/keys/${key.key_id}`, { authorization: `Bearer ${BILLING_TOKEN}` }),
      context,
    );
    assert.equal(JSON.parse(shown.body!).spent_today_usd, 30);
    const over = await proxy(chargeEvent(key.vault_key, 2001), context);
    assert.equal(over.statusCode, 429);
    assert.equal(over.headers!["stripe-should-retry"], "false");
    assert.equal(vendors.stripe.received.length, 2);
  });

  it("a header value Node's client cannot send (a control character) is refused with 400 before anything is reserved", async () => {
    const key = JSON.parse((await issue(keyRequest)).body!) as { vault_key: string; key_id: string };
    const before = vendors.stripe.received.length;
    // API Gateway's event carries the header as the client sent it; the web Headers accept it, node:http does not.
    for (const value of ["a\u0001b", "a\u007fb"]) {
      const event = apiGatewayEvent(
        "POST",
        "/v1/payment_intents",
        { ...formHeaders(key.vault_key), "idempotency-key": value },
        "amount=1500&currency=usd",
      );
      const res = await proxy(event, context);
      assert.equal(res.statusCode, 400, res.body);
      const error = JSON.parse(res.body!).error;
      assert.equal(error.code, "keybrake_invalid_request");
      assert.match(error.message, /idempotency-key/);
    }
    assert.equal(vendors.stripe.received.length, before, "the vendor receives nothing");
    const shown = await issuer(
      apiGatewayEvent("GET", `/vault/keys/${key.key_id}`, { authorization: `Bearer ${BILLING_TOKEN}` }),
      context,
    );
    const state = JSON.parse(shown.body!) as { spent_today_usd: number; unsettled_usd: number };
    assert.deepEqual([state.spent_today_usd, state.unsettled_usd], [0, 0], "nothing reserved, nothing kept");
  });

  it("logs each call's audit record and its EMF metrics on stdout, for CloudWatch", async () => {
    const key = JSON.parse((await issue(keyRequest)).body!) as { vault_key: string; key_id: string };
    const charge = (cents: number) => proxy(chargeEvent(key.vault_key, cents), context);
    const stdout = await captureStdout(async () => {
      assert.equal((await charge(1500)).statusCode, 200);
      assert.equal((await charge(6000)).statusCode, 429);
    });
    const lines = logLines(stdout);

    const audits = lines.filter((l) => l.message === "keybrake.call");
    assert.deepEqual(
      audits.map((l) => [l.level, l.service, l.audit.decision, l.audit.reason, l.audit.spent_usd]),
      [
        ["INFO", "keybrake-proxy", "forwarded", undefined, 15],
        ["INFO", "keybrake-proxy", "refused", "cap_exceeded", 0],
      ],
    );
    assert.equal(audits[0]!.audit.key_id, key.key_id);
    assert.equal(audits[0]!.audit.issuer, "billing");

    const emf = lines.filter((l) => l._aws);
    const directive = (l: Record<string, any>) => l._aws.CloudWatchMetrics[0];
    const spendSets = [["service"], ["service", "vendor"], ["service", "issuer"]];
    assert.deepEqual(
      emf.map((l) => [directive(l).Namespace, directive(l).Dimensions]),
      [
        ["KeybrakeTest", spendSets],
        ["KeybrakeTest", spendSets],
        ["KeybrakeTest", [["service", "reason"]]],
        // The refusal is the key's cap reached: its 100 % warning, once (docs/operations.md#warnings-before-the-wall).
        ["KeybrakeTest", spendSets],
      ],
    );
    const [spend, refusal, byReason, threshold] = emf;
    assert.deepEqual(
      directive(threshold!).Metrics.map((m: { Name: string }) => m.Name),
      ["CapThresholds"],
    );
    assert.deepEqual(
      lines
        .filter((l) => l.message === "keybrake.cap_threshold")
        .map((l) => [l.audit.level, l.audit.threshold_pct, l.audit.trigger, l.audit.key_id]),
      [["key", 100, "refusal", key.key_id]],
    );
    assert.deepEqual(
      directive(spend!).Metrics.map((m: { Name: string; Unit: string }) => `${m.Name}:${m.Unit}`),
      ["Calls:Count", "Forwarded:Count", "SpendUSD:None", "LatencyMs:Milliseconds", "Settled:Count"],
    );
    assert.deepEqual(
      {
        service: spend!.service,
        vendor: spend!.vendor,
        issuer: spend!.issuer,
        Calls: spend!.Calls,
        Forwarded: spend!.Forwarded,
        SpendUSD: spend!.SpendUSD,
        Settled: spend!.Settled,
      },
      { service: "kb-test", vendor: "stripe", issuer: "billing", Calls: 1, Forwarded: 1, SpendUSD: 15, Settled: 1 },
    );
    assert.deepEqual(
      {
        Calls: refusal!.Calls,
        Refusals: refusal!.Refusals,
        SpendUSD: refusal!.SpendUSD,
        Forwarded: refusal!.Forwarded,
      },
      { Calls: 1, Refusals: 1, SpendUSD: 0, Forwarded: undefined },
    );
    assert.deepEqual(
      { service: byReason!.service, reason: byReason!.reason, Refusals: byReason!.Refusals },
      { service: "kb-test", reason: "cap_exceeded", Refusals: 1 },
    );
    assert.ok(
      !stdout.includes(key.vault_key) && !stdout.includes(SECRETS.STRIPE_SECRET_KEY),
      "no vault key or secret on stdout",
    );
  });

  const lambdaContext = { getRemainingTimeInMillis: () => 30_000 } as Context;

  /** A private REST API (payload 1.0) event, as API Gateway builds it for `/{proxy+}` with binary media types. */
  /** A private REST API (1.0) event; `query` as API Gateway hands it over, decoded and grouped by name. */
  function restEvent(
    path: string,
    proxy: string,
    headers: Record<string, string>,
    body?: string,
    { method = "POST", query }: { method?: string; query?: Record<string, string[]> } = {},
  ) {
    return {
      resource: "/{proxy+}",
      path,
      httpMethod: method,
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      queryStringParameters: query ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, v.at(-1)])) : null,
      multiValueQueryStringParameters: query ?? null,
      pathParameters: { proxy },
      stageVariables: null,
      requestContext: {
        resourcePath: "/{proxy+}",
        httpMethod: method,
        path: `/v1${path}`,
        stage: "v1",
        requestId: randomBytes(8).toString("hex"),
        accountId: "123456789012",
        apiId: "abc123",
        identity: { sourceIp: "10.0.0.9", vpceId: "vpce-1" },
      },
      // binaryMediaTypes ["*/*"]: every body arrives base64.
      body: body === undefined ? null : Buffer.from(body).toString("base64"),
      isBase64Encoded: body !== undefined,
    } as unknown as APIGatewayProxyEventV2;
  }

  it("private REST API events: the raw path forwarded byte for byte, `..` and encoded slashes refused as on the HTTP API", async () => {
    const key = JSON.parse(
      (await issue({ ...keyRequest, allowed_endpoints: ["POST /v1/payment_intents", "GET /v1/payment_intents/*"] }))
        .body!,
    ) as { vault_key: string };
    const before = vendors.stripe.received.length;
    const ok = (await proxy(
      restEvent("/v1/payment_intents", "v1/payment_intents", formHeaders(key.vault_key), "amount=100&currency=usd"),
      lambdaContext,
    )) as unknown as { statusCode: number; multiValueHeaders?: Record<string, string[]> };
    assert.equal(ok.statusCode, 200);
    // A custom domain's base path is in `path` but not in what `{proxy+}` matched: it is not forwarded.
    const mapped = (await proxy(
      restEvent("/kb/v1/payment_intents", "v1/payment_intents", formHeaders(key.vault_key), "amount=100&currency=usd"),
      lambdaContext,
    )) as unknown as { statusCode: number };
    assert.equal(mapped.statusCode, 200);
    // A 1.0 event carries no raw query: it is rebuilt, one encoding for all, and that is what is forwarded.
    const read = (await proxy(
      restEvent("/v1/payment_intents/pi_1", "v1/payment_intents/pi_1", formHeaders(key.vault_key), undefined, {
        method: "GET",
        query: { "expand[]": ["latest_charge", "customer"] },
      }),
      lambdaContext,
    )) as unknown as { statusCode: number };
    assert.equal(read.statusCode, 200);
    const forwarded = vendors.stripe.received.slice(before);
    assert.deepEqual(
      forwarded.map((r) => [r.method, r.url, r.body]),
      [
        ["POST", "/v1/payment_intents", "amount=100&currency=usd"],
        ["POST", "/v1/payment_intents", "amount=100&currency=usd"],
        ["GET", "/v1/payment_intents/pi_1?expand%5B%5D=latest_charge&expand%5B%5D=customer", ""],
      ],
    );
    for (const [path, matched] of [
      ["/v1/payment_intents/../customers", "v1/payment_intents/../customers"],
      ["/v1/payment_intents%2F..%2Fcustomers", "v1/payment_intents/../customers"],
    ] as const) {
      const refused = (await proxy(
        restEvent(path, matched, formHeaders(key.vault_key), "amount=100&currency=usd"),
        lambdaContext,
      )) as unknown as { statusCode: number; body: string };
      assert.equal(refused.statusCode, 400, path);
      assert.equal(JSON.parse(refused.body).error.code, "keybrake_invalid_request");
    }
    assert.equal(vendors.stripe.received.length, before + 3, "nothing refused reached the vendor");
  });

  it("private REST API events: a rebuilt query percent-encodes every character the query check refuses raw", async () => {
    const key = JSON.parse(
      (await issue({ ...keyRequest, allowed_endpoints: ["GET /v1/payment_intents/*"] })).body!,
    ) as { vault_key: string };
    // A Stripe search query as stripe-node sends it (`query=status%3A%27succeeded%27`), decoded by API Gateway.
    const search = (await proxy(
      restEvent("/v1/payment_intents/search", "v1/payment_intents/search", formHeaders(key.vault_key), undefined, {
        method: "GET",
        query: { query: ["status:'succeeded'"] },
      }),
      lambdaContext,
    )) as unknown as { statusCode: number; body: string };
    assert.equal(search.statusCode, 200, search.body);
    assert.equal(vendors.stripe.received.at(-1)!.url, "/v1/payment_intents/search?query=status%3A%27succeeded%27");
  });

  it("each vendor Set-Cookie stays its own header, on both API Gateway payloads", async () => {
    const key = JSON.parse((await issue(keyRequest)).body!) as { vault_key: string };
    vendors.stripe.respond = () => ({
      status: 200,
      body: { id: "pi_cookies" },
      headers: { "set-cookie": ["a=1; Path=/", "b=2; Path=/"] } as unknown as Record<string, string>,
    });
    try {
      const v2 = await proxy(chargeEvent(key.vault_key, 100), lambdaContext);
      assert.deepEqual(v2.cookies, ["a=1; Path=/", "b=2; Path=/"]);
      const v1 = (await proxy(
        restEvent("/v1/payment_intents", "v1/payment_intents", formHeaders(key.vault_key), "amount=100&currency=usd"),
        lambdaContext,
      )) as unknown as { multiValueHeaders: Record<string, string[]> };
      assert.deepEqual(v1.multiValueHeaders["set-cookie"], ["a=1; Path=/", "b=2; Path=/"]);
      assert.deepEqual(v1.multiValueHeaders["content-type"], ["application/json"], "the other headers stay");
    } finally {
      vendors.stripe.respond = undefined;
    }
  });

  /** A PaymentIntent of `cents` through the proxy handler while Stripe answers as `respond` says, and its audit record. */
  async function chargeLogged(vaultKey: string, cents: number, respond: Responder, lambda: Context) {
    vendors.stripe.respond = respond;
    let res: APIGatewayProxyStructuredResultV2 | undefined;
    const stdout = await captureStdout(async () => {
      res = await proxy(chargeEvent(vaultKey, cents), lambda);
    }).finally(() => {
      vendors.stripe.respond = undefined;
    });
    return { res: res!, record: logLines(stdout).find((l) => l.message === "keybrake.call")!.audit };
  }

  it("a vendor answer over Lambda's response limit: a clear 502, kept as spent and unsettled, audited", async () => {
    const key = JSON.parse((await issue(keyRequest)).body!) as { vault_key: string; key_id: string };
    const { res, record } = await chargeLogged(
      key.vault_key,
      700,
      () => ({ status: 200, body: { id: "pi_big", padding: "x".repeat(6_400_000) } }),
      lambdaContext,
    );
    assert.equal(res.statusCode, 502);
    assert.equal(JSON.parse(res.body!).error.code, "keybrake_upstream_response_too_large");
    assert.deepEqual(
      [record.upstream_status, record.upstream_error, record.settlement, record.unsettled_usd, record.spent_usd],
      [200, "response_too_large", "unsettled", 7, 7],
    );
    const shown = await issuer(
      apiGatewayEvent("GET", `/vault/keys/${key.key_id}`, { authorization: `Bearer ${BILLING_TOKEN}` }),
      context,
    );
    assert.deepEqual(
      [JSON.parse(shown.body!).spent_today_usd, JSON.parse(shown.body!).unsettled_usd],
      [7, 7],
      "the vendor acted: kept as spent",
    );
  });

  it("takes the call's deadline from the function's remaining time, keeping time to settle and audit", async () => {
    const key = JSON.parse((await issue(keyRequest)).body!) as { vault_key: string; key_id: string };
    // 4.6 s left: 0.6 s for the vendor once 4 s are kept back; the vendor answers after 3 s.
    const short = { getRemainingTimeInMillis: () => 4_600 } as Context;
    const { res, record } = await chargeLogged(
      key.vault_key,
      900,
      () => ({ status: 200, body: { id: "pi_late", amount: 900 }, delayMs: 3_000 }),
      short,
    );
    assert.equal(res.statusCode, 504);
    assert.deepEqual(
      [record.upstream_error, record.settlement, record.unsettled_usd],
      ["upstream_timeout", "unsettled", 9],
      "audited before the handler returned",
    );
  });

  it("runs the scheduled sweep", async () => {
    assert.deepEqual(await sweep(), { swept: 0, expired: 0 });
  });

  it("puts a budget's 80 % warning on the deployment's bus once, before the invocation returns", async () => {
    const created = await issuer(
      apiGatewayEvent(
        "POST",
        "/vault/budgets",
        { authorization: `Bearer ${BILLING_TOKEN}`, "content-type": "application/json" },
        JSON.stringify({ vendor: "stripe", daily_usd_cap: 40, expires_in: "1h", agent_run_label: "modal-billing/b" }),
      ),
      context,
    );
    assert.equal(created.statusCode, 201);
    const budgetId = (JSON.parse(created.body!) as { budget_id: string }).budget_id;
    const key = JSON.parse((await issue({ ...keyRequest, budget_id: budgetId })).body!) as { vault_key: string };
    const charge = (cents: number) => proxy(chargeEvent(key.vault_key, cents), context);
    const mine = () => eventBridge.entries.filter((e) => JSON.parse(e.Detail!).budget_id === budgetId);
    const first = await charge(1500);
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers!["keybrake-remaining-usd"], "35");
    assert.equal(mine().length, 0, "15 of 40: no warning yet");
    await charge(1800); // 33 of 40: crosses 80 % of the budget
    await charge(100); // still above: no second event
    const events = mine();
    assert.deepEqual(
      events.map((e) => JSON.parse(e.Detail!).level),
      ["budget"],
      "the budget's 80 % once (the key, at 34 of 50, is below its own 80 %)",
    );
    assert.deepEqual(
      { bus: events[0]!.EventBusName, source: events[0]!.Source, type: events[0]!.DetailType },
      { bus: "kb-test-events", source: "keybrake", type: "keybrake.cap_threshold" },
    );
    const detail = JSON.parse(events[0]!.Detail!);
    assert.deepEqual(
      [detail.deployment, detail.level, detail.cap, detail.threshold_pct, detail.cap_usd, detail.spent_usd],
      ["kb-test", "budget", "budget", 80, 40, 33],
    );
  });
});
