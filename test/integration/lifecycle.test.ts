// Key lifecycle: revocation (one key, a run label prefix, under load), expiry and the UTC-day window.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { DAY_MS } from "../../lambda/core/clock";
import { STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { stripeVia } from "../support/vendor-calls";

const stripeFor = (stack: Stack, vaultKey: string) => stripeVia(stack.url, vaultKey, { maxNetworkRetries: 0 });
const state = (stack: Stack, keyId: string) => stack.keyState(keyId);

describe("revocation, expiry and daily windows", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("DELETE revokes a key: the next call is refused with 401 and GET says revoked", async () => {
    const key = await stack.issue();
    const stripe = stripeFor(stack, key.vault_key);
    await stripe.paymentIntents.create({ amount: 100, currency: "usd" });
    const revoked = await stack.issuer("DELETE", `/vault/keys/${key.key_id}`);
    assert.deepEqual(revoked, { status: 200, body: { key_id: key.key_id, status: "revoked" } });
    const before = stack.vendors.stripe.received.length;
    const error = await stripe.paymentIntents.create({ amount: 100, currency: "usd" }).catch((e: unknown) => e);
    assert.ok(error instanceof Stripe.errors.StripeAuthenticationError);
    assert.equal(error.code, "keybrake_revoked_key");
    assert.equal(stack.vendors.stripe.received.length, before);
    assert.equal((await state(stack, key.key_id)).status, "revoked");
  });

  it("a call priced from a Stripe object reads nothing from Stripe once its key or its budget is revoked", async () => {
    // The key's immutable fields are cached by the first call; the second must not make the pricing read (a GET
    // with the real secret, whose answer a counterparty refusal would even echo) for a revoked key or budget.
    stack.vendors.stripe.objects.set("/v1/payment_intents/pi_rev", {
      id: "pi_rev",
      object: "payment_intent",
      customer: "cus_123",
      amount: 2000,
      amount_capturable: 2000,
      currency: "usd",
    });
    const budget = (
      await stack.issuer("POST", "/vault/budgets", {
        vendor: "stripe",
        daily_usd_cap: 500,
        expires_in: "1h",
        agent_run_label: "modal-billing/revoked-budget",
      })
    ).body;
    const capture = { ...STRIPE_KEY_REQUEST, allowed_endpoints: ["POST /v1/payment_intents/*/capture"] };
    const cases = [
      {
        key: await stack.issue(capture),
        revoke: (k: { key_id: string }) => `/vault/keys/${k.key_id}`,
        code: "revoked_key",
      },
      {
        key: await stack.issue({ ...capture, budget_id: budget.budget_id }),
        revoke: () => `/vault/budgets/${budget.budget_id}`,
        code: "revoked_budget",
      },
    ];
    for (const { key, revoke, code } of cases) {
      const stripe = stripeFor(stack, key.vault_key);
      await stripe.paymentIntents.capture("pi_rev"); // caches the key's immutable fields on this instance
      assert.equal((await stack.issuer("DELETE", revoke(key))).status, 200);
      const before = stack.vendors.stripe.received.length;
      const error = await stripe.paymentIntents.capture("pi_rev").catch((e: unknown) => e);
      assert.ok(error instanceof Stripe.errors.StripeAuthenticationError);
      assert.equal(error.code, `keybrake_${code}`);
      assert.deepEqual(stack.vendors.stripe.received.slice(before), [], `${code}: nothing reaches Stripe`);
    }
  });

  it("POST /vault/revoke revokes every live key under a label prefix, and only those", async () => {
    const a = await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: "modal-billing/2026-11-22/a" });
    const b = await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: "modal-billing/2026-11-22/b" });
    const other = await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: "modal-billing/2026-11-23/a" });
    const res = await stack.issuer("POST", "/vault/revoke", { agent_run_label_prefix: "modal-billing/2026-11-22/" });
    assert.deepEqual(res, { status: 200, body: { revoked: 2 } });
    assert.equal((await state(stack, a.key_id)).status, "revoked");
    assert.equal((await state(stack, b.key_id)).status, "revoked");
    assert.equal((await state(stack, other.key_id)).status, "active");
    await stripeFor(stack, other.vault_key).paymentIntents.create({ amount: 100, currency: "usd" });
    const again = await stack.issuer("POST", "/vault/revoke", { agent_run_label_prefix: "modal-billing/2026-11-22/" });
    assert.deepEqual(again.body, { revoked: 0 });
  });

  it("under load: once revoke has answered, no call sent after it reaches the vendor", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, daily_usd_cap: 10_000 });
    let revokedAt = Infinity;
    const sentAfterRevoke = new Set<string>();
    stack.vendors.stripe.respond = (req) => {
      if (sentAfterRevoke.has(String(req.headers["idempotency-key"])))
        throw new Error("a call sent after revoke reached Stripe");
      return undefined;
    };
    let n = 0;
    const worker = async () => {
      const statuses: number[] = [];
      while (statuses.length < 60) {
        const id = `load-${n++}`;
        if (Date.now() > revokedAt) sentAfterRevoke.add(id);
        const res = await fetch(`${stack.url}/v1/payment_intents`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${key.vault_key}`,
            "content-type": "application/x-www-form-urlencoded",
            "idempotency-key": id,
          },
          body: "amount=100&currency=usd",
        });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      return statuses;
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    await new Promise((r) => setTimeout(r, 150));
    const res = await stack.issuer("DELETE", `/vault/keys/${key.key_id}`);
    revokedAt = Date.now();
    assert.equal(res.status, 200);
    const statuses = (await load).flat();
    stack.vendors.stripe.respond = undefined;
    const reachedAfter = stack.vendors.stripe.received.filter((r) =>
      sentAfterRevoke.has(String(r.headers["idempotency-key"])),
    );
    assert.equal(reachedAfter.length, 0);
    assert.ok(sentAfterRevoke.size > 100, `the load kept going after revoke (${sentAfterRevoke.size} calls)`);
    assert.ok(statuses.filter((s) => s === 401).length >= sentAfterRevoke.size);
  });

  it("an expired key is refused with 401 and shows as expired", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, expires_in: "30s" });
    const stripe = stripeFor(stack, key.vault_key);
    await stripe.paymentIntents.create({ amount: 100, currency: "usd" }); // caches the key's immutable fields
    stack.clock.shift(31_000);
    try {
      const error = await stripe.paymentIntents.create({ amount: 100, currency: "usd" }).catch((e: unknown) => e);
      assert.ok(error instanceof Stripe.errors.StripeAuthenticationError);
      assert.equal(error.code, "keybrake_expired_key");
      assert.equal((await state(stack, key.key_id)).status, "expired");
    } finally {
      stack.clock.shift(-31_000);
    }
  });

  it("rolls the cap window at UTC midnight, settling each reservation in its own day", async () => {
    const midnight = Math.ceil(Date.now() / DAY_MS) * DAY_MS;
    stack.clock.set(midnight - 2_000);
    try {
      const key = await stack.issue({ ...STRIPE_KEY_REQUEST, daily_usd_cap: 10, expires_in: "1d" });
      const stripe = stripeFor(stack, key.vault_key);
      // A call made before midnight that Stripe refuses after midnight: its release goes to the old day.
      stack.vendors.stripe.respond = (req) => {
        if (new URLSearchParams(req.body).get("amount") !== "300") return undefined;
        stack.clock.set(midnight + 1_000);
        return { status: 402, body: { error: { type: "card_error", code: "card_declined", message: "declined" } } };
      };
      await stripe.paymentIntents.create({ amount: 700, currency: "usd" });
      await stripe.paymentIntents.create({ amount: 300, currency: "usd" }).catch(() => undefined);
      stack.vendors.stripe.respond = undefined;
      await stack.server.idle();
      stack.clock.set(midnight - 1_000);
      const lastSecond = await state(stack, key.key_id);
      assert.equal(lastSecond.spent_today_usd, 7, "the declined 3 USD went back to the day it was reserved in");
      await stripe.paymentIntents.create({ amount: 300, currency: "usd" });
      const refused = await stripe.paymentIntents.create({ amount: 1, currency: "usd" }).catch((e: unknown) => e);
      assert.ok(refused instanceof Stripe.errors.StripeRateLimitError, "the old day is full");

      stack.clock.set(midnight + 1_000);
      const newDay = await state(stack, key.key_id);
      assert.equal(newDay.spent_today_usd, 0);
      await stripe.paymentIntents.create({ amount: 1000, currency: "usd" });
      assert.equal((await state(stack, key.key_id)).remaining_today_usd, 0);
    } finally {
      stack.clock.set(Date.now());
    }
  });
});
