// Ledger round trips per call on each path, counted by a middleware on the proxy's own DynamoDB client. These are the
// numbers the README's Performance section states.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { recordingDb, STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { postPaymentIntent, postTwilioMessage, TWILIO_MESSAGES } from "../support/vendor-calls";

describe("ledger round trips per call", () => {
  let stack: Stack;
  let calls: string[];
  before(async () => {
    const recording = await recordingDb();
    calls = recording.commands;
    stack = await startStack({ db: recording.db });
  });
  after(() => stack.close());

  async function count(call: () => Promise<Response>): Promise<string[]> {
    await stack.server.idle();
    calls.length = 0;
    const res = await call();
    await res.arrayBuffer();
    await stack.server.idle();
    return [...calls];
  }
  const stripe = (vaultKey: string, body: string, idempotencyKey?: string) => () =>
    postPaymentIntent(stack.url, vaultKey, body, idempotencyKey);

  it("exact price: one conditional write, nothing after (plus one read the first time an instance sees the key)", async () => {
    const key = await stack.issue();
    assert.deepEqual(await count(stripe(key.vault_key, "amount=100&currency=usd", "a")), [
      "GetItemCommand",
      "UpdateItemCommand",
    ]);
    assert.deepEqual(await count(stripe(key.vault_key, "amount=100&currency=usd", "b")), ["UpdateItemCommand"]);
  });

  it("a key drawing from a budget: one TransactWriteItems before forwarding, one read while the vendor answers", async () => {
    const budget = (
      await stack.issuer("POST", "/vault/budgets", {
        vendor: "stripe",
        daily_usd_cap: 1000,
        expires_in: "1h",
        agent_run_label: "round-trips/budget",
        parts: 4,
      })
    ).body;
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, budget_id: budget.budget_id });
    // The key's item and one part, in one transaction (still one ledger round trip before forwarding); the
    // key's remaining and the budget's spend for the header and the warnings, read during the forward.
    assert.deepEqual(await count(stripe(key.vault_key, "amount=100&currency=usd", "b1")), [
      "GetItemCommand",
      "TransactWriteItemsCommand",
      "BatchGetItemCommand",
    ]);
    assert.deepEqual(await count(stripe(key.vault_key, "amount=100&currency=usd", "b2")), [
      "TransactWriteItemsCommand",
      "BatchGetItemCommand",
    ]);
  });

  it("idempotent retry: the write that finds the earlier reservation, then one marking it ridden while it is open", async () => {
    // The earlier reservation's marker is still open (an exactly priced call leaves it for the next write to
    // remove), and it could be one being compensated (answered 503, never forwarded): the retry marks it, in a
    // write that only applies while it is open, so that no compensation can give back the money its forward uses.
    const key = await stack.issue();
    await count(stripe(key.vault_key, "amount=100&currency=usd", "same"));
    assert.deepEqual(await count(stripe(key.vault_key, "amount=100&currency=usd", "same")), [
      "UpdateItemCommand",
      "UpdateItemCommand",
    ]);
  });

  it("idempotent retry once the earlier reservation has ended: the one write that finds it, nothing else", async () => {
    const key = await stack.issue();
    stack.vendors.stripe.respond = () => ({ status: 500, body: { error: { type: "api_error" } } });
    try {
      await count(stripe(key.vault_key, "amount=100&currency=usd", "after-5xx")); // ends unsettled
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    assert.deepEqual(await count(stripe(key.vault_key, "amount=100&currency=usd", "after-5xx")), ["UpdateItemCommand"]);
  });

  it("definitive vendor refusal: the reservation write, then its release", async () => {
    const key = await stack.issue();
    await count(stripe(key.vault_key, "amount=100&currency=usd", "warm"));
    stack.vendors.stripe.respond = () => ({
      status: 402,
      body: { error: { type: "card_error", message: "declined" } },
    });
    try {
      assert.deepEqual(await count(stripe(key.vault_key, "amount=100&currency=usd", "declined")), [
        "UpdateItemCommand",
        "UpdateItemCommand",
      ]);
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
  });

  it("Twilio: the reservation write, then its settlement to the real price", async () => {
    const key = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "twilio",
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
    });
    const sms = () => postTwilioMessage(stack.url, key.vault_key);
    await count(sms);
    stack.vendors.twilio.respond = () => ({ status: 201, body: { sid: "SM1", price: "-0.0079", price_unit: "USD" } });
    try {
      assert.deepEqual(await count(sms), ["UpdateItemCommand", "UpdateItemCommand"]);
    } finally {
      stack.vendors.twilio.respond = undefined;
    }
  });
});
