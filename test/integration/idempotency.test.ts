// Idempotent retries ride free only where the vendor deduplicates
// (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice): Stripe and Resend honour `Idempotency-Key` for 24
// hours and per account, Twilio not at all. A retry is free only within the window and only when everything that
// selects the target is the same; anything else reserves again. Each case through the vendor's own SDK.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Resend } from "resend";
import twilio from "twilio";
import type { CallRecord } from "../../lambda/audit/record";
import { SECRETS } from "../support/fake-vendors";
import { STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { stripeVia, TWILIO_MESSAGES } from "../support/vendor-calls";

describe("idempotent retries", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const settlements = (keyId: string) =>
    stack.audit.filter((r): r is CallRecord => r.event === "call" && r.key_id === keyId).map((r) => r.settlement);

  it("stripe-node resends the same key after a 5xx: the retry rides on the first reservation", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: "idem/stripe-retry" });
    let attempts = 0;
    stack.vendors.stripe.respond = () =>
      ++attempts === 1 ? { status: 502, body: { error: { type: "api_error", message: "bad gateway" } } } : undefined;
    try {
      await stripeVia(stack.url, key.vault_key, { maxNetworkRetries: 1 }).paymentIntents.create({
        amount: 1000,
        currency: "usd",
      });
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    const keys = stack.vendors.stripe.received.slice(-2).map((r) => r.headers["idempotency-key"]);
    assert.equal(keys[0], keys[1], "the SDK sent the same Idempotency-Key twice");
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 10);
    assert.deepEqual(settlements(key.key_id), ["unsettled", "retry"]);
  });

  it("a first call refused while its retry rode on it keeps the money: the retry was forwarded and may be charged", async () => {
    // Stripe answers a request whose Idempotency-Key is in use by another one in flight with 409, and saves no
    // result for it: the retry, sent meanwhile and riding on the first call's reservation, runs afresh.
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: "idem/ridden-release" });
    const send = () =>
      fetch(`${stack.url}/v1/payment_intents`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key.vault_key}`,
          "content-type": "application/x-www-form-urlencoded",
          "idempotency-key": "ridden-1",
        },
        body: "amount=1200&currency=usd",
      });
    const before = stack.vendors.stripe.received.length;
    let seen = 0;
    stack.vendors.stripe.respond = () =>
      ++seen === 1
        ? { status: 409, delayMs: 400, body: { error: { type: "idempotency_error", message: "in use" } } }
        : undefined;
    try {
      const first = send();
      while (stack.vendors.stripe.received.length === before) await new Promise((r) => setTimeout(r, 10));
      const retry = await send();
      assert.equal(retry.status, 200, await retry.text());
      assert.equal((await first).status, 409);
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    await stack.server.idle();
    assert.equal(stack.vendors.stripe.received.length - before, 2, "both reached Stripe");
    assert.deepEqual(settlements(key.key_id), ["retry", "unsettled"], "the retry rode; the refused first call kept it");
    const state = await stack.keyState(key.key_id);
    assert.deepEqual([state.spent_today_usd, state.unsettled_usd], [12, 12], "never 0 for a call Stripe may have run");
  });

  it("a Stripe retry with another Stripe-Account reserves again (another account, another target)", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: "idem/stripe-account" });
    const stripe = stripeVia(stack.url, key.vault_key, { maxNetworkRetries: 0 });
    const params = { amount: 500, currency: "usd" };
    await stripe.paymentIntents.create(params, { idempotencyKey: "order-1", stripeAccount: "acct_A" });
    await stripe.paymentIntents.create(params, { idempotencyKey: "order-1", stripeAccount: "acct_B" });
    await stripe.paymentIntents.create(params, { idempotencyKey: "order-1", stripeAccount: "acct_A" });
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 10, "two accounts, two reservations");
    assert.deepEqual(settlements(key.key_id), ["settled", "settled", "retry"]);
  });

  it("a retry after the vendor's 24-hour window reserves again", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, expires_in: "3d", agent_run_label: "idem/window" });
    const stripe = stripeVia(stack.url, key.vault_key, { maxNetworkRetries: 0 });
    await stripe.paymentIntents.create({ amount: 700, currency: "usd" }, { idempotencyKey: "late-1" });
    stack.clock.shift(23 * 3_600_000);
    await stripe.paymentIntents.create({ amount: 700, currency: "usd" }, { idempotencyKey: "late-1" });
    stack.clock.shift(2 * 3_600_000); // 25 h after the first call: Stripe may have pruned the key
    await stripe.paymentIntents.create({ amount: 700, currency: "usd" }, { idempotencyKey: "late-1" });
    assert.deepEqual(settlements(key.key_id), ["settled", "retry", "settled"]);
    stack.clock.shift(-25 * 3_600_000);
  });

  it("Twilio does not deduplicate: a repeated Idempotency-Key reserves every time", async () => {
    const key = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "twilio",
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
      agent_run_label: "idem/twilio",
    });
    const client = twilio(SECRETS.TWILIO_ACCOUNT_SID, key.vault_key);
    const send = () =>
      client.request({
        method: "post",
        uri: `${stack.url}/twilio${TWILIO_MESSAGES}`,
        headers: { "Idempotency-Key": "sms-1", "Content-Type": "application/x-www-form-urlencoded" },
        data: { To: "+15005550006", From: "+15005550001", Body: "hello" },
      });
    const before = stack.vendors.twilio.received.length;
    assert.equal((await send()).statusCode, 201);
    assert.equal((await send()).statusCode, 201);
    assert.equal(stack.vendors.twilio.received.length - before, 2, "both messages were sent");
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0.04, "and both were reserved");
    assert.deepEqual(settlements(key.key_id), ["settled", "settled"]);
  });

  it("resend-node with the same idempotencyKey and email: the second send rides free", async () => {
    const key = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "resend",
      allowed_endpoints: ["POST /emails"],
      agent_run_label: "idem/resend",
    });
    process.env.RESEND_BASE_URL = `${stack.url}/resend`;
    const resend = new Resend(key.vault_key);
    delete process.env.RESEND_BASE_URL;
    const email = { from: "a@example.com", to: ["b@example.com", "c@example.com"], subject: "hi", text: "hello" };
    for (let i = 0; i < 2; i++) {
      const { error } = await resend.emails.send(email, { idempotencyKey: "welcome-1" });
      assert.equal(error, null);
    }
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0.002);
    assert.deepEqual(settlements(key.key_id), ["settled", "retry"]);
  });
});
