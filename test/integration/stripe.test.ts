// stripe-node against the proxy, changing nothing but host/port/protocol and the key (bare vendor paths).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { SECRETS } from "../support/fake-vendors";
import { STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { stripeVia } from "../support/vendor-calls";

const stripeClient = (stack: Stack, vaultKey: string) => stripeVia(stack.url, vaultKey);
const spent = (stack: Stack, keyId: string) => stack.keyState(keyId);

describe("Stripe through the proxy with the stripe npm SDK", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ env: { KEYBRAKE_PRICING: JSON.stringify({ fx_usd: { eur: "1.08", jpy: "0.0067" } }) } });
  });
  after(() => stack.close());

  it("issues a key for the Modal example and creates a PaymentIntent with it", async () => {
    const key = await stack.issue();
    assert.match(key.vault_key, /^vk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const lifetime = Date.parse(key.expires_at) - Date.now();
    assert.ok(lifetime > 290_000 && lifetime <= 300_000, `expires_at is 5 minutes out, got ${lifetime} ms`);

    const pi = await stripeClient(stack, key.vault_key).paymentIntents.create(
      { amount: 2999, currency: "usd", customer: "cus_123" },
      { idempotencyKey: "modal-cus_123-2999" },
    );
    assert.match(pi.id, /^pi_/);
    assert.equal(pi.amount, 2999);

    const [received] = stack.vendors.stripe.received;
    assert.equal(stack.vendors.stripe.received.length, 1);
    assert.equal(received!.method, "POST");
    assert.equal(received!.url, "/v1/payment_intents");
    assert.equal(received!.headers.authorization, `Bearer ${SECRETS.STRIPE_SECRET_KEY}`);
    assert.equal(received!.headers["idempotency-key"], "modal-cus_123-2999");
    assert.equal(received!.body, "amount=2999&currency=usd&customer=cus_123");
    assert.ok(!JSON.stringify(received).includes(key.vault_key), "the vault key never reaches Stripe");

    const state = await spent(stack, key.key_id);
    assert.equal(state.status, "active");
    assert.equal(state.spent_today_usd, 29.99);
    assert.equal(state.remaining_today_usd, 20.01);
  });

  it("refuses a charge that would cross the cap with 429, once, before Stripe sees it", async () => {
    const key = await stack.issue();
    const stripe = stripeClient(stack, key.vault_key);
    await stripe.paymentIntents.create({ amount: 4000, currency: "usd" });
    const before = stack.vendors.stripe.received.length;
    const refusalsBefore = stack.audit.filter((r) => r.event === "call" && r.decision === "refused").length;

    const error = await stripe.paymentIntents.create({ amount: 1001, currency: "usd" }).then(
      () => assert.fail("expected a refusal"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof Stripe.errors.StripeRateLimitError);
    assert.equal(error.statusCode, 429);
    assert.equal(error.code, "keybrake_cap_exceeded");
    assert.equal(error.headers?.["stripe-should-retry"], "false");
    const raw = error.raw as Record<string, unknown>;
    assert.deepEqual(
      { cap: raw.cap, cap_usd: raw.cap_usd, spent_usd: raw.spent_usd, requested_usd: raw.requested_usd },
      { cap: "daily_usd_cap", cap_usd: 50, spent_usd: 40, requested_usd: 10.01 },
    );
    assert.equal(stack.vendors.stripe.received.length, before, "the refused call never reached Stripe");
    const refusals = stack.audit.filter((r) => r.event === "call" && r.decision === "refused").length - refusalsBefore;
    assert.equal(refusals, 1, "the SDK did not retry the 429");

    // Exactly the remaining 10 USD still fits: the cap is a hard bound, not a soft one.
    await stripe.paymentIntents.create({ amount: 1000, currency: "usd" });
    assert.equal((await spent(stack, key.key_id)).remaining_today_usd, 0);
  });

  it("refuses a first call priced above the whole cap (the day's window does not exist yet)", async () => {
    const key = await stack.issue();
    const error = await stripeClient(stack, key.vault_key)
      .paymentIntents.create({ amount: 5001, currency: "usd" })
      .catch((e: unknown) => e);
    assert.ok(error instanceof Stripe.errors.StripeRateLimitError);
    assert.equal((error.raw as Record<string, unknown>).spent_usd, 0);
    assert.equal((error.raw as Record<string, unknown>).requested_usd, 50.01);
    assert.equal((await spent(stack, key.key_id)).remaining_today_usd, 50);
  });

  it("refuses a call above max_request_usd with 429 naming that cap, what is spent and what was asked", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, max_request_usd: 20 });
    const stripe = stripeClient(stack, key.vault_key);
    await stripe.paymentIntents.create({ amount: 1500, currency: "usd" });
    const before = stack.vendors.stripe.received.length;
    const error = await stripe.paymentIntents.create({ amount: 2001, currency: "usd" }).catch((e: unknown) => e);
    assert.ok(error instanceof Stripe.errors.StripeRateLimitError);
    assert.equal(error.code, "keybrake_request_cap_exceeded");
    assert.equal(error.headers?.["stripe-should-retry"], "false");
    const raw = error.raw as Record<string, unknown>;
    assert.deepEqual(
      { cap: raw.cap, cap_usd: raw.cap_usd, spent_usd: raw.spent_usd, requested_usd: raw.requested_usd },
      { cap: "max_request_usd", cap_usd: 20, spent_usd: 15, requested_usd: 20.01 },
    );
    assert.equal(stack.vendors.stripe.received.length, before, "the refused call never reached Stripe");
    assert.equal((await spent(stack, key.key_id)).spent_today_usd, 15, "nothing reserved for it");
    await stripe.paymentIntents.create({ amount: 2000, currency: "usd" });
    assert.equal((await spent(stack, key.key_id)).spent_today_usd, 35, "exactly max_request_usd still goes through");
  });

  it("refuses endpoints outside allowed_endpoints with 403 naming both", async () => {
    const key = await stack.issue();
    const before = stack.vendors.stripe.received.length;
    const error = await stripeClient(stack, key.vault_key)
      .customers.create({ email: "a@example.com" })
      .catch((e: unknown) => e);
    assert.ok(error instanceof Stripe.errors.StripePermissionError);
    assert.equal(error.code, "keybrake_endpoint_not_allowed");
    const raw = error.raw as Record<string, unknown>;
    assert.deepEqual(raw.allowed_endpoints, ["POST /v1/payment_intents"]);
    assert.equal(raw.attempted, "POST /v1/customers");
    assert.equal(stack.vendors.stripe.received.length, before);
  });

  it("accepts curl-style HTTP Basic on the /stripe prefix", async () => {
    const key = await stack.issue();
    const res = await fetch(`${stack.url}/stripe/v1/payment_intents`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${key.vault_key}:`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "amount=500&currency=usd",
    });
    assert.equal(res.status, 200);
    const received = stack.vendors.stripe.received.at(-1)!;
    assert.equal(received.url, "/v1/payment_intents");
    assert.equal(received.headers.authorization, `Bearer ${SECRETS.STRIPE_SECRET_KEY}`);
    assert.equal((await spent(stack, key.key_id)).spent_today_usd, 5);
  });

  it("prices other currencies with configured rates, zero-decimal ones included, and refuses unrated ones", async () => {
    const key = await stack.issue();
    const stripe = stripeClient(stack, key.vault_key);
    await stripe.paymentIntents.create({ amount: 1000, currency: "eur" }); // 10.00 EUR at 1.08
    await stripe.paymentIntents.create({ amount: 1500, currency: "jpy" }); // 1500 JPY at 0.0067
    assert.equal((await spent(stack, key.key_id)).spent_today_usd, 20.85);

    const before = stack.vendors.stripe.received.length;
    const error = await stripe.paymentIntents.create({ amount: 100, currency: "gbp" }).catch((e: unknown) => e);
    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.code, "keybrake_unpriceable_request");
    assert.equal(error.param, "currency");
    assert.equal(stack.vendors.stripe.received.length, before);
  });

  it("prices a confirm from the PaymentIntent itself, read from Stripe first with the real key", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, allowed_endpoints: ["POST /v1/payment_intents/*/confirm"] });
    const before = stack.vendors.stripe.received.length;
    await stripeClient(stack, key.vault_key).paymentIntents.confirm("pi_existing");
    const [read, confirm] = stack.vendors.stripe.received.slice(before);
    assert.equal(read!.method, "GET");
    assert.equal(read!.url, "/v1/payment_intents/pi_existing");
    assert.equal(read!.headers.authorization, `Bearer ${SECRETS.STRIPE_SECRET_KEY}`);
    assert.equal(confirm!.url, "/v1/payment_intents/pi_existing/confirm");
    assert.equal((await spent(stack, key.key_id)).spent_today_usd, 50); // the fake PI is 50.00 USD
  });

  it("keeps a PaymentIntent create's reservation when Stripe declines it but the intent exists", async () => {
    // confirm=true with a declined card: Stripe answers 402, and the error carries the PaymentIntent it created
    // (requires_payment_method, with its client_secret). A browser can still confirm that intent with the
    // publishable key, straight to Stripe: it was created, so it stays priced (docs/pricing.md#stripe).
    const key = await stack.issue();
    const stripe = stripeClient(stack, key.vault_key);
    const declined =
      (intent: boolean, headers: Record<string, string> = {}) =>
      () => ({
        status: 402,
        headers,
        body: {
          error: {
            type: "card_error",
            code: "card_declined",
            message: "Your card was declined.",
            ...(intent
              ? {
                  payment_intent: {
                    id: "pi_declined",
                    object: "payment_intent",
                    amount: 1000,
                    currency: "usd",
                    status: "requires_payment_method",
                    client_secret: "pi_declined_secret_x",
                  },
                }
              : {}),
          },
        },
      });
    const create = () =>
      stripe.paymentIntents
        .create({ amount: 1000, currency: "usd", confirm: true, payment_method: "pm_card_chargeDeclined" })
        .then(
          () => assert.fail("expected the decline"),
          (e: unknown) => e as { statusCode: number; payment_intent?: { id: string } },
        );
    try {
      stack.vendors.stripe.respond = declined(true);
      const error = await create();
      assert.equal(error.statusCode, 402);
      assert.equal(error.payment_intent?.id, "pi_declined");
      assert.equal((await spent(stack, key.key_id)).spent_today_usd, 10, "the created intent stays priced");
      const record = stack.audit.filter((r) => r.event === "call" && r.key_id === key.key_id).at(-1)!;
      assert.deepEqual(record.event === "call" && [record.upstream_status, record.settlement, record.spent_usd], [
        402,
        "settled",
        10,
      ]);

      // A refusal that created nothing (no payment_intent in the error), and Stripe's replay of an earlier
      // decline, move nothing new: both are released.
      stack.vendors.stripe.respond = declined(false);
      assert.equal((await create()).statusCode, 402);
      stack.vendors.stripe.respond = declined(true, { "idempotent-replayed": "true" });
      assert.equal((await create()).statusCode, 402);
      assert.equal((await spent(stack, key.key_id)).spent_today_usd, 10);
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
  });

  it("refuses ambiguous money fields instead of guessing", async () => {
    const key = await stack.issue();
    const before = stack.vendors.stripe.received.length;
    const post = (query: string, body: string) =>
      fetch(`${stack.url}/stripe/v1/payment_intents${query}`, {
        method: "POST",
        headers: { authorization: `Bearer ${key.vault_key}`, "content-type": "application/x-www-form-urlencoded" },
        body,
      });
    for (const [query, body] of [
      ["", "amount=100&amount=900000&currency=usd"],
      ["?amount=900000", "amount=100&currency=usd"],
      ["", "amount[0]=100&currency=usd"],
      ["", "amount=1e5&currency=usd"],
      ["", "amount=-100&currency=usd"],
    ] as const) {
      const res = await post(query, body);
      assert.equal(res.status, 400, `${query} ${body}`);
      assert.equal(((await res.json()) as any).error.code, "keybrake_unpriceable_request");
    }
    assert.equal(stack.vendors.stripe.received.length, before);
  });
});
