// The audit trail of every decision path, read back from the JSON-lines file local mode writes (the same records Lambda
// logs under `audit`), field by field. Each key has its own run label so its records can be told apart. The file is
// read once, after the server closed and flushed it.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import twilio from "twilio";
import { reservationTotals } from "../../lambda/audit/accounting";
import { isSpendRecord } from "../../lambda/audit/filter";
import type { AuditRecord, CallRecord } from "../../lambda/audit/record";
import type { IssuedKeyBody } from "../../lambda/issuer/service";
import { SECRETS } from "../support/fake-vendors";
import { ISSUER_TOKEN, STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { postPaymentIntent, stripeVia, TWILIO_MESSAGES } from "../support/vendor-calls";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("audit records", () => {
  let stack: Stack;
  let auditFile: string;
  let records: AuditRecord[] = [];
  const keys = new Map<string, IssuedKeyBody>();
  const vaultKeys: string[] = [];

  before(async () => {
    auditFile = join(mkdtempSync(join(tmpdir(), "keybrake-audit-")), "audit.jsonl");
    stack = await startStack({ auditFile, upstreamTimeoutMs: 1_500 });
  });
  let closed = false;
  const close = async () => {
    if (!closed) await stack.close();
    closed = true;
  };
  after(close);

  const issue = async (label: string, overrides: Record<string, unknown> = {}) => {
    const key = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      expires_in: "1d",
      agent_run_label: `audit/${label}`,
      ...overrides,
    });
    keys.set(label, key);
    vaultKeys.push(key.vault_key);
    return key;
  };
  const twilioVia = (key: IssuedKeyBody) => {
    const client = twilio(SECRETS.TWILIO_ACCOUNT_SID, key.vault_key);
    client.api.baseUrl = `${stack.url}/twilio`;
    return client;
  };
  const callsOf = (label: string) =>
    records.filter((r): r is CallRecord => r.event === "call" && r.agent_run_label === `audit/${label}`);
  const onlyCall = (label: string) => {
    const calls = callsOf(label);
    assert.equal(calls.length, 1, `one call record for ${label}`);
    return calls[0]!;
  };
  /** The fields every call record has, with what a given path must say. */
  const assertCall = (record: CallRecord, label: string, expected: Partial<CallRecord>) => {
    const key = keys.get(label);
    assert.match(record.time, ISO);
    assert.equal(typeof record.latency_ms, "number");
    assert.ok(record.latency_ms >= 0);
    const { time: _t, latency_ms: _l, reservation_id, ...rest } = record;
    // A forwarded call names the reservation it took; a refusal took none.
    if (record.decision === "forwarded") assert.match(reservation_id ?? "", /^r[\w-]{11}$/);
    else assert.equal(reservation_id, undefined);
    assert.deepEqual(rest, {
      event: "call",
      ...(key ? { key_id: key.key_id, issuer: "local", agent_run_label: `audit/${label}` } : {}),
      vendor: "stripe",
      method: "POST",
      endpoint: "/v1/payment_intents",
      reserved_usd: 0,
      settled_usd: 0,
      unsettled_usd: 0,
      spent_usd: 0,
      settlement: "none",
      ledger_writes: 1,
      ...expected,
    });
  };

  it("drives every decision path through local mode", async () => {
    // Forwarded and settled at the exact price, with the vendor's object and request ids.
    const settled = await issue("settled");
    const pi = await stripeVia(stack.url, settled.vault_key).paymentIntents.create(
      { amount: 2999, currency: "usd", customer: "cus_123" },
      { idempotencyKey: "order-7" },
    );
    assert.match(pi.id, /^pi_/);

    // Twilio settles down to the price its answer carries.
    const sms = await issue("twilio-settled", { vendor: "twilio", allowed_endpoints: [`POST ${TWILIO_MESSAGES}`] });
    stack.vendors.twilio.respond = () => ({
      status: 201,
      headers: { "twilio-request-id": "RQ0123456789abcdef0123456789abcdef" },
      body: { sid: "SM0123456789abcdef0123456789abcdef", status: "sent", price: "-0.00790", price_unit: "USD" },
    });
    await twilioVia(sms).messages.create({ to: "+15005550006", from: "+15005550001", body: "hello" });
    stack.vendors.twilio.respond = undefined;

    // Refusals: over the cap, outside the allowlist, revoked, expired, unpriceable, too large, no key.
    const cap = await issue("cap", { daily_usd_cap: 10 });
    assert.equal((await postPaymentIntent(stack.url, cap.vault_key, "amount=1001&currency=usd")).status, 429);
    const allow = await issue("allowlist");
    const other = await fetch(`${stack.url}/v1/refunds`, {
      method: "POST",
      headers: { authorization: `Bearer ${allow.vault_key}` },
      body: "payment_intent=pi_1",
    });
    assert.equal(other.status, 403);
    const revoked = await issue("revoked");
    assert.equal((await stack.issuer("DELETE", `/vault/keys/${revoked.key_id}`)).status, 200);
    assert.equal((await postPaymentIntent(stack.url, revoked.vault_key, "amount=100&currency=usd")).status, 401);
    await issue("prefix/a");
    assert.deepEqual((await stack.issuer("POST", "/vault/revoke", { agent_run_label_prefix: "audit/prefix/" })).body, {
      revoked: 1,
    });
    const bad = await issue("bad-input");
    assert.equal((await postPaymentIntent(stack.url, bad.vault_key, "amount=12.5&currency=usd")).status, 400);
    const big = await fetch(`${stack.url}/stripe/v1/payment_intents`, {
      method: "POST",
      headers: { authorization: `Bearer ${bad.vault_key}`, "content-type": "application/x-www-form-urlencoded" },
      body: `amount=100&currency=usd&description=${"x".repeat(5 * 1024 * 1024)}`,
    });
    assert.equal(big.status, 413);
    assert.equal((await postPaymentIntent(stack.url, "", "amount=100&currency=usd")).status, 401);

    // Vendor outcomes: a definitive refusal (released), a 5xx (unknown, kept), a timeout the sweep ends first.
    const declined = await issue("declined");
    stack.vendors.stripe.respond = () => ({
      status: 402,
      headers: { "request-id": "req_declined" },
      body: { error: { type: "card_error", code: "card_declined" } },
    });
    assert.equal((await postPaymentIntent(stack.url, declined.vault_key, "amount=500&currency=usd")).status, 402);
    const unknown = await issue("unknown");
    stack.vendors.stripe.respond = () => ({ status: 503, body: { error: { type: "api_error" } } });
    assert.equal((await postPaymentIntent(stack.url, unknown.vault_key, "amount=700&currency=usd")).status, 503);
    stack.vendors.stripe.respond = undefined;

    const orphan = await issue("swept", { vendor: "twilio", allowed_endpoints: [`POST ${TWILIO_MESSAGES}`] });
    stack.vendors.twilio.respond = () => "hang";
    const received = stack.vendors.twilio.received.length;
    const hanging = twilioVia(orphan)
      .messages.create({ to: "+15005550006", from: "+15005550001", body: "hi" })
      .catch((e: unknown) => e);
    while (stack.vendors.twilio.received.length === received) await new Promise((r) => setTimeout(r, 10));
    stack.clock.shift(20 * 60_000); // past the pending marker's expiry: the sweep ends it while the call still waits
    // It also closes the markers the earlier calls left (exact, settled, unsettled): nothing removed them in
    // passing, each key having made one call.
    assert.deepEqual(await stack.server.sweep(), { swept: 4, expired: 0 });
    await hanging; // then the vendor timeout fires: the late ending must not count the money again
    stack.vendors.twilio.respond = undefined;

    // A key that reaches its expiry: refused, then noted once by the sweep.
    const expiring = await issue("expired", { expires_in: "30s" });
    stack.clock.shift(31_000);
    assert.equal((await postPaymentIntent(stack.url, expiring.vault_key, "amount=100&currency=usd")).status, 401);
    assert.deepEqual(await stack.server.sweep(), { swept: 0, expired: 1 });
    assert.deepEqual(await stack.server.sweep(), { swept: 0, expired: 0 }, "noted once");

    const spentByKey = new Map<string, number>();
    for (const [label, key] of keys) spentByKey.set(label, (await stack.keyState(key.key_id)).spent_today_usd);
    await close(); // flushes the audit file
    records = readFileSync(auditFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as AuditRecord);
    assert.ok(records.length >= 25);

    // Spend in the audit trail is what the ledger kept, key by key: each reservation counted once, at the
    // largest amount among its records.
    for (const [label, key] of keys) {
      const { spent_usd } = reservationTotals(records.filter(isSpendRecord).filter((r) => r.key_id === key.key_id));
      assert.equal(spent_usd, spentByKey.get(label), `audit spend of ${label} matches the ledger`);
    }
  });

  it("records a forwarded, settled call with the vendor's ids and the fields that priced it", () => {
    const record = onlyCall("settled");
    assert.equal(record.vendor_object_id?.startsWith("pi_"), true);
    assert.match(record.vendor_request_id ?? "", /^req_/);
    assertCall(record, "settled", {
      decision: "forwarded",
      reserved_usd: 29.99,
      settled_usd: 29.99,
      spent_usd: 29.99,
      settlement: "settled",
      priced_from: { endpoint: "v1/payment_intents", amount: "2999", currency: "usd" },
      upstream_status: 200,
      vendor_object_id: record.vendor_object_id,
      vendor_request_id: record.vendor_request_id,
      idempotency_key: "order-7",
    });
  });

  it("records Twilio's reply price as the settled amount", () => {
    const record = onlyCall("twilio-settled");
    assert.equal(record.vendor, "twilio");
    assert.equal(record.endpoint, TWILIO_MESSAGES);
    assert.equal(record.decision, "forwarded");
    assert.equal(record.reserved_usd, 0.02);
    assert.equal(record.settled_usd, 0.0079);
    assert.equal(record.spent_usd, 0.0079);
    assert.equal(record.settlement, "settled");
    assert.equal(record.vendor_object_id, "SM0123456789abcdef0123456789abcdef");
    assert.equal(record.vendor_request_id, "RQ0123456789abcdef0123456789abcdef");
    assert.equal(record.ledger_writes, 2, "reserve, then settle to the real price");
  });

  it("records each refusal with its reason and nothing reserved", () => {
    assertCall(onlyCall("cap"), "cap", {
      decision: "refused",
      reason: "cap_exceeded",
      cap: "daily_usd_cap",
      priced_from: { endpoint: "v1/payment_intents", amount: "1001", currency: "usd" },
    });
    assertCall(onlyCall("allowlist"), "allowlist", {
      decision: "refused",
      reason: "endpoint_not_allowed",
      endpoint: "/v1/refunds",
      ledger_writes: 0,
    });
    assertCall(onlyCall("revoked"), "revoked", { decision: "refused", reason: "revoked_key", ledger_writes: 0 });
    assertCall(onlyCall("expired"), "expired", { decision: "refused", reason: "expired_key", ledger_writes: 0 });
    assertCall(onlyCall("bad-input"), "bad-input", {
      decision: "refused",
      reason: "unpriceable_request",
      ledger_writes: 0,
    });
    // Over the size limit the body is never read, so neither is the key: only the request line is known.
    const anonymous = records.filter((r): r is CallRecord => r.event === "call" && r.key_id === undefined);
    assert.deepEqual(anonymous.map((r) => r.reason).sort(), ["missing_key", "payload_too_large"]);
    for (const record of anonymous)
      assertCall(record, "", { decision: "refused", reason: record.reason, ledger_writes: 0 });
  });

  it("records vendor outcomes: released on a definitive refusal, kept on an unknown one", () => {
    assertCall(onlyCall("declined"), "declined", {
      decision: "forwarded",
      reserved_usd: 5,
      settlement: "released",
      priced_from: { endpoint: "v1/payment_intents", amount: "500", currency: "usd" },
      upstream_status: 402,
      vendor_request_id: "req_declined",
      ledger_writes: 2,
    });
    assertCall(onlyCall("unknown"), "unknown", {
      decision: "forwarded",
      reserved_usd: 7,
      unsettled_usd: 7,
      spent_usd: 7,
      settlement: "unsettled",
      priced_from: { endpoint: "v1/payment_intents", amount: "700", currency: "usd" },
      upstream_status: 503,
      ledger_writes: 2,
    });
  });

  it("gives a swept reservation's money to the sweep's record, not to the late call", () => {
    const call = onlyCall("swept");
    assert.equal(call.decision, "forwarded");
    assert.equal(call.upstream_error, "upstream_timeout");
    assert.equal(call.upstream_status, undefined);
    assert.equal(call.settlement, "swept");
    assert.equal(call.reserved_usd, 0.02);
    assert.equal(call.spent_usd, 0);
    const key = keys.get("swept")!;
    const swept = records.filter((r) => r.event === "reservation_swept" && r.key_id === key.key_id);
    assert.equal(swept.length, 1);
    const { time, ...rest } = swept[0]!;
    assert.match(time, ISO);
    assert.deepEqual(rest, {
      event: "reservation_swept",
      key_id: key.key_id,
      issuer: "local",
      agent_run_label: "audit/swept",
      vendor: "twilio",
      reservation_id: call.reservation_id,
      swept_as: "pending",
      unsettled_usd: 0.02,
      spent_usd: 0.02,
    });
  });

  it("closes the markers completed calls left with the amount their own records carry", () => {
    const closed = records.filter((r) => r.event === "reservation_swept" && r.agent_run_label !== "audit/swept");
    const expected = [
      ["settled", "exact", 29.99, 0],
      ["twilio-settled", "settled", 0.0079, 0],
      ["unknown", "unsettled", 7, 7],
    ];
    assert.deepEqual(
      closed
        .map((r) => r.event === "reservation_swept" && [r.agent_run_label, r.swept_as, r.spent_usd, r.unsettled_usd])
        .sort(),
      expected.map(([label, ...rest]) => [`audit/${label}`, ...rest]).sort(),
    );
    for (const record of closed) {
      const call = records.find((r) => r.event === "call" && r.key_id === (record as { key_id?: string }).key_id)!;
      assert.equal(call.event === "call" && call.reservation_id, "reservation_id" in record && record.reservation_id);
    }
  });

  it("records key events: issued, revoked by id and by prefix, expired", () => {
    const settled = keys.get("settled")!;
    const issued = records.find((r) => r.event === "key_issued" && r.key_id === settled.key_id)!;
    assert.deepEqual(
      { ...issued, time: undefined },
      {
        event: "key_issued",
        time: undefined,
        key_id: settled.key_id,
        issuer: "local",
        agent_run_label: "audit/settled",
        vendor: "stripe",
        daily_usd_cap: 50,
        allowed_endpoints: ["POST /v1/payment_intents"],
        expires_at: settled.expires_at,
      },
    );
    assert.equal(records.filter((r) => r.event === "key_issued").length, keys.size);

    const revokes = records.filter((r) => r.event === "key_revoked").map(({ time: _t, ...r }) => r);
    assert.deepEqual(revokes, [
      {
        event: "key_revoked",
        key_id: keys.get("revoked")!.key_id,
        issuer: "local",
        agent_run_label: "audit/revoked",
        vendor: "stripe",
        revoked_by: "key_id",
      },
      {
        event: "key_revoked",
        key_id: keys.get("prefix/a")!.key_id,
        issuer: "local",
        agent_run_label: "audit/prefix/a",
        vendor: "stripe",
        revoked_by: "label_prefix",
        label_prefix: "audit/prefix/",
      },
    ]);

    const expired = records.filter((r) => r.event === "key_expired").map(({ time: _t, ...r }) => r);
    const key = keys.get("expired")!;
    assert.deepEqual(expired, [
      {
        event: "key_expired",
        key_id: key.key_id,
        issuer: "local",
        agent_run_label: "audit/expired",
        vendor: "stripe",
        daily_usd_cap: 50,
        expires_at: key.expires_at,
        unsettled_usd: 0,
      },
    ]);
  });

  it("never holds a secret, a vault key or the issuer token", () => {
    const text = readFileSync(auditFile, "utf8");
    for (const secret of [...Object.values(SECRETS).filter((s) => !s.startsWith("AC")), ISSUER_TOKEN, ...vaultKeys]) {
      assert.ok(!text.includes(secret), `the audit file does not contain ${secret.slice(0, 6)}…`);
    }
    for (const record of records) {
      if (record.event === "call")
        assert.ok(!JSON.stringify(record).includes("cus_123"), "no body field beyond what priced the call");
    }
  });
});
