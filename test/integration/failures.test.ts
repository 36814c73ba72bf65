// Fail closed, lose nothing: vendor timeouts, vendor errors, an unreachable vendor, a ledger outage.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { METRIC, metricsFor } from "../../lambda/audit/metrics";
import type { AuditRecord, CallRecord } from "../../lambda/audit/record";
import { memorySink } from "../../lambda/audit/sink";
import type { IssuedKeyBody } from "../../lambda/issuer/service";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { startLocalServer } from "../../lambda/local";
import { startDynamoDbLocal } from "../../scripts/dynamodb-local";
import { startFakeVendors } from "../support/fake-vendors";
import { dynamoEndpoint, ISSUER_TOKEN, issuerAt, STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import {
  postPaymentIntent,
  postPermissiveResendBatch,
  postTwilioMessage,
  stripeVia,
  TWILIO_MESSAGES,
} from "../support/vendor-calls";

const state = (stack: Stack, keyId: string) => stack.keyState(keyId);
const post = postPaymentIntent;

describe("vendor failures", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ upstreamTimeoutMs: 400 });
  });
  after(() => stack.close());

  it("a vendor timeout answers 504 and keeps the reservation, marked unsettled", async () => {
    const key = await stack.issue();
    stack.vendors.stripe.respond = () => "hang";
    const res = await post(stack.url, key.vault_key, "amount=1200&currency=usd");
    stack.vendors.stripe.respond = undefined;
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as any).error.code, "keybrake_upstream_timeout");
    const s = await state(stack, key.key_id);
    assert.equal(s.spent_today_usd, 12, "an unknown outcome stays spent");
    assert.equal(s.unsettled_usd, 12);
    const record = stack.audit.filter((r) => r.event === "call" && r.key_id === key.key_id).at(-1)!;
    assert.equal(record.event === "call" && record.settlement, "unsettled");
  });

  it("a vendor 5xx is passed through and its SDK retry is not reserved twice", async () => {
    const key = await stack.issue();
    let attempts = 0;
    stack.vendors.stripe.respond = () =>
      ++attempts === 1 ? { status: 500, body: { error: { type: "api_error", message: "boom" } } } : undefined;
    const stripe = stripeVia(stack.url, key.vault_key, { maxNetworkRetries: 2 });
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: "usd" });
    stack.vendors.stripe.respond = undefined;
    assert.match(pi.id, /^pi_/);
    assert.equal(attempts, 2, "stripe-node retried once with the same Idempotency-Key");
    const s = await state(stack, key.key_id);
    assert.equal(s.spent_today_usd, 20, "the retry found the first reservation");
    const records = stack.audit.filter((r) => r.event === "call" && r.key_id === key.key_id);
    assert.deepEqual(
      records.map((r) => r.event === "call" && r.settlement),
      ["unsettled", "retry"],
    );
  });

  it("a vendor that cannot be reached gets 502 and the reservation is released", async () => {
    const vendors = await startFakeVendors();
    const closedUrl = vendors.stripe.url;
    await vendors.close();
    const audit: AuditRecord[] = [];
    const server = await startLocalServer({
      dynamoEndpoint: await dynamoEndpoint(),
      issuerToken: ISSUER_TOKEN,
      env: { ...vendors.env, KEYBRAKE_STRIPE_URL: closedUrl },
      table: `t_unreachable_${process.pid}`,
      audit: memorySink(audit),
    });
    try {
      const issuer = issuerAt(server.url);
      const key = (await issuer("POST", "/vault/keys", STRIPE_KEY_REQUEST)).body as IssuedKeyBody;
      const res = await post(server.url, key.vault_key, "amount=1000&currency=usd");
      assert.equal(res.status, 502);
      await server.idle();
      const s = (await issuer("GET", `/vault/keys/${key.key_id}`)).body;
      assert.equal(s.spent_today_usd, 0);
      const record = audit.find((r) => r.event === "call" && r.key_id === key.key_id);
      assert.deepEqual(
        record?.event === "call" && [
          record.decision,
          record.upstream_error,
          record.upstream_status,
          record.settlement,
          record.spent_usd,
        ],
        ["forwarded", "upstream_unreachable", undefined, "released", 0],
      );
    } finally {
      await server.close();
    }
  });

  it("an idempotent retry with the same bytes is forwarded without a second reservation", async () => {
    const key = await stack.issue();
    const first = await post(stack.url, key.vault_key, "amount=3000&currency=usd", "order-77");
    const second = await post(stack.url, key.vault_key, "amount=3000&currency=usd", "order-77");
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal((await state(stack, key.key_id)).spent_today_usd, 30);
    // The cap is full enough that a genuinely new 30 USD call no longer fits, but the retry still did.
    const fresh = await post(stack.url, key.vault_key, "amount=3000&currency=usd", "order-78");
    assert.equal(fresh.status, 429);
  });

  it("a replay Stripe reports (Idempotent-Replayed) releases the duplicate reservation", async () => {
    const key = await stack.issue();
    await post(stack.url, key.vault_key, "amount=1000&currency=usd", "replayed-1");
    // Same Idempotency-Key, different bytes: keybrake reserves again; Stripe answers with the stored replay.
    stack.vendors.stripe.respond = () => ({
      status: 200,
      headers: { "idempotent-replayed": "true" },
      body: { id: "pi_replayed" },
    });
    await post(stack.url, key.vault_key, "currency=usd&amount=1000", "replayed-1");
    stack.vendors.stripe.respond = undefined;
    assert.equal((await state(stack, key.key_id)).spent_today_usd, 10);
  });
});

describe("ledger outage", () => {
  it("answers 503 and forwards nothing when DynamoDB is down", async () => {
    const ddb = await startDynamoDbLocal();
    const vendors = await startFakeVendors();
    const audit: AuditRecord[] = [];
    const server = await startLocalServer({
      dynamoEndpoint: ddb.endpoint,
      issuerToken: ISSUER_TOKEN,
      env: vendors.env,
      audit: memorySink(audit),
    });
    try {
      const issuer = issuerAt(server.url);
      const key = (await issuer("POST", "/vault/keys", STRIPE_KEY_REQUEST)).body as IssuedKeyBody;
      assert.equal((await post(server.url, key.vault_key, "amount=100&currency=usd")).status, 200);
      await ddb.stop();

      const res = await post(server.url, key.vault_key, "amount=100&currency=usd");
      assert.equal(res.status, 503);
      const body = (await res.json()) as any;
      assert.equal(body.error.code, "keybrake_ledger_unavailable");
      assert.equal(vendors.stripe.received.length, 1, "nothing was forwarded while the ledger was down");
      const record = audit.at(-1)!;
      assert.deepEqual(
        record.event === "call" && [
          record.decision,
          record.reason,
          record.reserved_usd,
          record.spent_usd,
          record.ledger_writes,
        ],
        ["refused", "ledger_unavailable", 0, 0, 1],
      );
      assert.ok(
        metricsFor(record)[0]!.metrics.some((m) => m.name === METRIC.ledgerErrors),
        "counted as a ledger error",
      );
      assert.equal((await issuer("POST", "/vault/keys", STRIPE_KEY_REQUEST)).status, 503);
    } finally {
      await server.close();
      await vendors.close();
      await ddb.stop();
    }
  });
});

describe("revoke by label prefix when some writes fail", () => {
  const faults = new Map<string, "applied_then_lost" | "refused">();
  let stack: Stack;
  before(async () => {
    const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    // Fault injection on the real client, around its retries: a revoke that DynamoDB applied but whose answer
    // was lost, and one that never gets through.
    db.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { Key?: { pk?: { S?: string } }; UpdateExpression?: string };
        const fault = input.UpdateExpression?.includes("revoke_op")
          ? faults.get(input.Key!.pk!.S!.slice(2))
          : undefined;
        if (fault === "refused") throw Object.assign(new Error("connection reset"), { name: "TimeoutError" });
        const out = await next(args);
        if (fault === "applied_then_lost") {
          faults.delete(input.Key!.pk!.S!.slice(2));
          throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
        }
        return out;
      },
      { step: "initialize", name: "injectRevokeFaults" },
    );
    stack = await startStack({ db });
  });
  after(() => stack.close());

  it("answers 503 but records every key it did revoke, and a retry records the rest once", async () => {
    const keys: Array<{ key_id: string }> = [];
    for (const i of [0, 1, 2, 3]) keys.push(await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: `rv/${i}` }));
    faults.set(keys[1]!.key_id, "applied_then_lost");
    faults.set(keys[2]!.key_id, "refused");
    const first = await stack.issuer("POST", "/vault/revoke", { agent_run_label_prefix: "rv/" });
    assert.equal(first.status, 503);
    const recorded = () =>
      stack.audit.filter((r) => r.event === "key_revoked").map((r) => keys.findIndex((k) => k.key_id === r.key_id));
    assert.deepEqual(recorded().sort(), [0, 1, 3], "a record for each key revoked, the lost answer's included");
    const statuses = async () =>
      Promise.all(keys.map(async (k) => (await stack.issuer("GET", `/vault/keys/${k.key_id}`)).body.status));
    assert.deepEqual(await statuses(), ["revoked", "revoked", "active", "revoked"]);

    faults.clear();
    assert.deepEqual((await stack.issuer("POST", "/vault/revoke", { agent_run_label_prefix: "rv/" })).body, {
      revoked: 1,
    });
    assert.deepEqual(recorded().sort(), [0, 1, 2, 3], "each key exactly once");
    assert.deepEqual(await statuses(), ["revoked", "revoked", "revoked", "revoked"]);
  });
});

describe("vendor answers of the wrong shape", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("are passed through, settle conservatively and are audited", async () => {
    const calls = (keyId: string) =>
      stack.audit.filter((r): r is CallRecord => r.event === "call" && r.key_id === keyId);
    // Stripe, exact price, a 2xx that is not JSON: the vendor acted at the price it was asked.
    const stripeKey = await stack.issue();
    stack.vendors.stripe.respond = () => ({ status: 200, raw: "<html>oops" });
    const stripeRes = await post(stack.url, stripeKey.vault_key, "amount=1200&currency=usd");
    assert.deepEqual([stripeRes.status, await stripeRes.text()], [200, "<html>oops"]);
    stack.vendors.stripe.respond = undefined;

    // Twilio, a 201 whose price is not a price: settled at the estimate, never below it.
    const sms = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "twilio",
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
    });
    stack.vendors.twilio.respond = () => ({ status: 201, raw: '{"sid": 7, "price": {"x": 1}, "price_unit": "USD"}' });
    const smsRes = await postTwilioMessage(stack.url, sms.vault_key);
    assert.equal(smsRes.status, 201);
    stack.vendors.twilio.respond = undefined;

    // Resend, a permissive batch whose `errors` is not a list: which emails went out is unknown, so all are kept.
    const mail = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "resend",
      allowed_endpoints: ["POST /emails/batch"],
    });
    stack.vendors.resend.respond = () => ({ status: 200, body: { data: "nope", errors: 5 } });
    const mailRes = await postPermissiveResendBatch(stack.url, mail.vault_key, [
      { from: "a@example.com", to: ["b@example.com", "c@example.com"], subject: "s", text: "t" },
    ]);
    assert.equal(mailRes.status, 200);
    stack.vendors.resend.respond = undefined;

    await stack.server.idle();
    const summary = (keyId: string) =>
      calls(keyId).map((r) => [r.upstream_status, r.settlement, r.settled_usd, r.unsettled_usd, r.spent_usd]);
    assert.deepEqual(summary(stripeKey.key_id), [[200, "settled", 12, 0, 12]]);
    assert.deepEqual(summary(sms.key_id), [[201, "settled", 0.02, 0, 0.02]]);
    assert.deepEqual(summary(mail.key_id), [[200, "unsettled", 0, 0.002, 0.002]]);
    for (const key of [stripeKey, sms, mail]) {
      const state = await stack.keyState(key.key_id);
      assert.equal(state.spent_today_usd, calls(key.key_id)[0]!.spent_usd, "the ledger kept what the record says");
    }
  });
});
