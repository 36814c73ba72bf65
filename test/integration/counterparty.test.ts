// The counterparty lock (issue #15), end to end through local mode with each vendor's official SDK and the recording
// fake vendors: a key locked to one customer, number prefix or recipient domain acts on it, and every other call is
// refused 403 `counterparty_not_allowed` before the ledger, the vendor receiving nothing (or, for a call priced from a
// Stripe object, only the read of that object).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Resend } from "resend";
import Stripe from "stripe";
import twilio from "twilio";
import type { CallRecord } from "../../lambda/audit/record";
import { memorySink } from "../../lambda/audit/sink";
import { systemClock } from "../../lambda/core/clock";
import { sha256Hex } from "../../lambda/core/vault-key";
import { createIssuerApp } from "../../lambda/http/issuer-app";
import { parseCeilings } from "../../lambda/issuer/ceilings";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { ensureLedgerTable } from "../../lambda/ledger/table";
import { SECRETS } from "../support/fake-vendors";
import { shapeMatches, snippet } from "../support/markdown";
import { dynamoEndpoint, STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { postTwilioMessage, stripeVia, TWILIO_MESSAGES } from "../support/vendor-calls";

const SID = SECRETS.TWILIO_ACCOUNT_SID;

const callsOf = (stack: Stack, keyId: string) =>
  stack.audit.filter((r): r is CallRecord => r.event === "call" && r.key_id === keyId);

/**
 * The last call record of a key, once every answered call's record is written (a forwarded call's comes after its
 * answer): refused for the counterparty, nothing reserved, no ledger write.
 */
async function assertRefusedRecord(
  stack: Stack,
  keyId: string,
  counterparty: CallRecord["counterparty"],
): Promise<void> {
  await stack.server.idle();
  const record = callsOf(stack, keyId).at(-1)!;
  assert.deepEqual(
    {
      decision: record.decision,
      reason: record.reason,
      counterparty: record.counterparty,
      reserved: record.reserved_usd,
      writes: record.ledger_writes,
    },
    { decision: "refused", reason: "counterparty_not_allowed", counterparty, reserved: 0, writes: 0 },
  );
}

async function stripeError(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  const error = await promise.then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof Stripe.errors.StripeError, String(error));
  return error;
}

describe("Stripe: a key locked to one customer", () => {
  let stack: Stack;
  const LOCKED = {
    ...STRIPE_KEY_REQUEST,
    daily_usd_cap: 500,
    allowed_endpoints: [
      "POST /v1/payment_intents",
      "POST /v1/payment_intents/*/capture",
      "POST /v1/charges",
      "POST /v1/refunds",
      "POST /v1/payouts",
      "GET /v1/customers/*",
    ],
    agent_run_label: "modal-billing/cus_A",
    counterparty: { stripe_customer: "cus_A" },
  };
  before(async () => {
    stack = await startStack();
    const objects = stack.vendors.stripe.objects;
    objects.set("/v1/charges/ch_A", { id: "ch_A", object: "charge", customer: "cus_A", amount: 1500, currency: "usd" });
    objects.set("/v1/charges/ch_B", { id: "ch_B", object: "charge", customer: "cus_B", amount: 1500, currency: "usd" });
    for (const [id, customer] of [
      ["pi_A", "cus_A"],
      ["pi_B", "cus_B"],
    ]) {
      objects.set(`/v1/payment_intents/${id}`, {
        id,
        object: "payment_intent",
        customer,
        amount: 2000,
        amount_capturable: 2000,
        currency: "usd",
      });
    }
  });
  after(() => stack.close());

  it("is issued with its lock: in the 201, in GET /vault/keys/{id} and in key_issued", async () => {
    const key = await stack.issue(LOCKED);
    assert.deepEqual(key.counterparty, { stripe_customer: "cus_A" });
    assert.deepEqual((await stack.keyState(key.key_id)).counterparty, { stripe_customer: "cus_A" });
    const issued = stack.audit.find((r) => r.event === "key_issued" && r.key_id === key.key_id);
    assert.deepEqual(issued?.event === "key_issued" && issued.counterparty, { stripe_customer: "cus_A" });
    const unlocked = await stack.issue();
    assert.equal("counterparty" in unlocked, false);
    assert.equal("counterparty" in (await stack.keyState(unlocked.key_id)), false);
  });

  it("charges cus_A, and refuses cus_B and no customer with 403 before the ledger; Stripe receives nothing", async () => {
    const key = await stack.issue(LOCKED);
    const stripe = stripeVia(stack.url, key.vault_key);
    const pi = await stripe.paymentIntents.create({ amount: 2999, currency: "usd", customer: "cus_A" });
    await stack.server.idle(); // its record is written after its answer: before the refusals'
    assert.match(pi.id, /^pi_/);
    assert.equal(stack.vendors.stripe.received.at(-1)!.body, "amount=2999&currency=usd&customer=cus_A");

    const before = stack.vendors.stripe.received.length;
    const other = await stripeError(stripe.paymentIntents.create({ amount: 100, currency: "usd", customer: "cus_B" }));
    assert.ok(other instanceof Stripe.errors.StripePermissionError);
    assert.deepEqual(
      [other.statusCode, other.code, other.param, other.headers?.["stripe-should-retry"]],
      [403, "keybrake_counterparty_not_allowed", "customer", "false"],
    );
    assert.deepEqual((other.raw as { counterparty: unknown }).counterparty, {
      field: "stripe_customer",
      attempted: "cus_B",
      allowed: "cus_A",
    });
    await assertRefusedRecord(stack, key.key_id, { field: "stripe_customer", attempted: "cus_B", allowed: "cus_A" });

    const none = await stripeError(stripe.paymentIntents.create({ amount: 100, currency: "usd" }));
    assert.equal(none.code, "keybrake_counterparty_not_allowed");
    await assertRefusedRecord(stack, key.key_id, { field: "stripe_customer", attempted: null, allowed: "cus_A" });

    const charge = await stripeError(stripe.charges.create({ amount: 100, currency: "usd", customer: "cus_B" }));
    assert.equal(charge.code, "keybrake_counterparty_not_allowed");
    const payout = await stripeError(stripe.payouts.create({ amount: 100, currency: "usd" }));
    assert.match(payout.message, /a payout has no customer/);

    assert.equal(stack.vendors.stripe.received.length, before, "no refused call reached Stripe");
    const state = await stack.keyState(key.key_id);
    assert.equal(state.spent_today_usd, 29.99, "only the charge of cus_A is spent");
  });

  it("refunds cus_A's charge, and refuses a refund of cus_B's charge after reading it: only the read reaches Stripe", async () => {
    const key = await stack.issue(LOCKED);
    const stripe = stripeVia(stack.url, key.vault_key);
    stack.vendors.stripe.respond = (req) =>
      req.method === "POST"
        ? { status: 200, body: { id: "re_1", object: "refund", amount: 1500, currency: "usd" } }
        : undefined;
    let before = stack.vendors.stripe.received.length;
    try {
      await stripe.refunds.create({ charge: "ch_A" });
      await stack.server.idle(); // its record is written after its answer: before the refusals'
      assert.deepEqual(
        stack.vendors.stripe.received.slice(before).map((r) => `${r.method} ${r.url}`),
        ["GET /v1/charges/ch_A", "POST /v1/refunds"],
      );
      before = stack.vendors.stripe.received.length;
      const error = await stripeError(stripe.refunds.create({ charge: "ch_B", amount: 100 }));
      assert.deepEqual(
        [error.statusCode, error.code, error.param],
        [403, "keybrake_counterparty_not_allowed", "charge"],
      );
      // The key learns that the charge is another's, never whose: only the audit trail names cus_B.
      assert.ok(!JSON.stringify(error.raw).includes("cus_B"), JSON.stringify(error.raw));
      assert.deepEqual((error.raw as { counterparty: unknown }).counterparty, {
        field: "stripe_customer",
        attempted: null,
        allowed: "cus_A",
      });
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    assert.deepEqual(
      stack.vendors.stripe.received.slice(before).map((r) => `${r.method} ${r.url}`),
      ["GET /v1/charges/ch_B"],
      "the read that priced it, never the refund",
    );
    await assertRefusedRecord(stack, key.key_id, { field: "stripe_customer", attempted: "cus_B", allowed: "cus_A" });
  });

  it("captures cus_A's PaymentIntent, and refuses a capture of cus_B's", async () => {
    const key = await stack.issue(LOCKED);
    const stripe = stripeVia(stack.url, key.vault_key);
    await stripe.paymentIntents.capture("pi_A");
    assert.equal(stack.vendors.stripe.received.at(-1)!.url, "/v1/payment_intents/pi_A/capture");
    const before = stack.vendors.stripe.received.length;
    const error = await stripeError(stripe.paymentIntents.capture("pi_B"));
    assert.equal(error.code, "keybrake_counterparty_not_allowed");
    assert.deepEqual(
      stack.vendors.stripe.received.slice(before).map((r) => `${r.method} ${r.url}`),
      ["GET /v1/payment_intents/pi_B"],
    );
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 20);
  });

  it("refuses a Stripe-Account or Stripe-Context header on every call, reads included: cus_A is a platform customer", async () => {
    const key = await stack.issue(LOCKED);
    const stripe = stripeVia(stack.url, key.vault_key);
    await stripe.customers.retrieve("cus_A");
    const before = stack.vendors.stripe.received.length;
    const create = await stripeError(
      stripe.paymentIntents.create({ amount: 100, currency: "usd", customer: "cus_A" }, { stripeAccount: "acct_X" }),
    );
    assert.deepEqual([create.statusCode, create.param], [403, "stripe-account"]);
    await assertRefusedRecord(stack, key.key_id, { field: "stripe_account", attempted: "acct_X", allowed: null });
    const read = await stripeError(stripe.customers.retrieve("cus_A", {}, { stripeAccount: "acct_X" }));
    assert.equal(read.code, "keybrake_counterparty_not_allowed");
    const context = await stripeError(stripe.customers.retrieve("cus_A", {}, { stripeContext: "acct_X" }));
    assert.equal(context.param, "stripe-context");
    assert.equal(stack.vendors.stripe.received.length, before);
  });

  it("an unlocked key is unchanged: any customer, any account", async () => {
    const key = await stack.issue({ ...LOCKED, counterparty: undefined });
    const stripe = stripeVia(stack.url, key.vault_key);
    await stripe.paymentIntents.create(
      { amount: 100, currency: "usd", customer: "cus_B" },
      { stripeAccount: "acct_X" },
    );
    await stripe.payouts.create({ amount: 100, currency: "usd" });
    assert.equal(stack.vendors.stripe.received.at(-2)!.headers["stripe-account"], "acct_X");
  });
});

describe("Stripe: a key locked to a connected account", () => {
  let stack: Stack;
  const LOCKED = {
    ...STRIPE_KEY_REQUEST,
    allowed_endpoints: ["POST /v1/payment_intents", "POST /v1/payment_intents/*/confirm", "GET /v1/balance"],
    counterparty: { stripe_customer: "cus_A", stripe_account: "acct_1" },
  };
  before(async () => {
    stack = await startStack();
    stack.vendors.stripe.objects.set("/v1/payment_intents/pi_A", {
      id: "pi_A",
      object: "payment_intent",
      customer: "cus_A",
      amount: 700,
      currency: "usd",
    });
  });
  after(() => stack.close());

  it("acts only as that account: its header passes to the read and the call; none or another is refused", async () => {
    const key = await stack.issue(LOCKED);
    assert.deepEqual(key.counterparty, { stripe_customer: "cus_A", stripe_account: "acct_1" });
    const stripe = stripeVia(stack.url, key.vault_key);
    let before = stack.vendors.stripe.received.length;
    await stripe.paymentIntents.confirm("pi_A", {}, { stripeAccount: "acct_1" });
    const [read, confirm] = stack.vendors.stripe.received.slice(before);
    assert.deepEqual(
      [read!.url, read!.headers["stripe-account"], confirm!.url, confirm!.headers["stripe-account"]],
      ["/v1/payment_intents/pi_A", "acct_1", "/v1/payment_intents/pi_A/confirm", "acct_1"],
    );
    await stripe.balance.retrieve({}, { stripeAccount: "acct_1" });
    await stack.server.idle(); // its record is written after its answer: before the refusals'

    before = stack.vendors.stripe.received.length;
    const without = await stripeError(
      stripe.paymentIntents.create({ amount: 100, currency: "usd", customer: "cus_A" }),
    );
    assert.match(without.message, /send Stripe-Account: acct_1/);
    await assertRefusedRecord(stack, key.key_id, { field: "stripe_account", attempted: null, allowed: "acct_1" });
    const other = await stripeError(stripe.paymentIntents.confirm("pi_A", {}, { stripeAccount: "acct_2" }));
    assert.equal(other.code, "keybrake_counterparty_not_allowed");
    await assertRefusedRecord(stack, key.key_id, { field: "stripe_account", attempted: "acct_2", allowed: "acct_1" });
    const read2 = await stripeError(stripe.balance.retrieve());
    assert.equal(read2.statusCode, 403, "a read without the header would read the platform");
    const customer = await stripeError(
      stripe.paymentIntents.create({ amount: 100, currency: "usd", customer: "cus_B" }, { stripeAccount: "acct_1" }),
    );
    assert.equal(customer.param, "customer");
    assert.equal(stack.vendors.stripe.received.length, before, "nothing reached Stripe, not even a pricing read");
  });
});

describe("Twilio: a key locked to number prefixes", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("sends to +1415 numbers only, To written as + and digits; Twilio receives nothing else", async () => {
    const key = await stack.issue({
      vendor: "twilio",
      daily_usd_cap: 5,
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
      expires_in: "1h",
      agent_run_label: "notify/locked",
      counterparty: { to_prefixes: ["+1415"] },
    });
    assert.deepEqual(key.counterparty, { to_prefixes: ["+1415"] });
    const client = twilio(SID, key.vault_key);
    client.api.baseUrl = `${stack.url}/twilio`;
    await client.messages.create({ to: "+14155550100", from: "+15005550001", body: "hi" });
    await stack.server.idle(); // its record is written after its answer: before the refusals'
    assert.equal(new URLSearchParams(stack.vendors.twilio.received.at(-1)!.body).get("To"), "+14155550100");

    const before = stack.vendors.twilio.received.length;
    const refused: Array<[string, string]> = [
      ["+14165550100", "+1416"],
      ["+447700900123", "+4477"],
      ["whatsapp:+14155550100", "whats"],
      ["+1 415 555 0100", "+1 41"],
      ["(415) 555-0100", "(415)"],
      ["4155550100", "41555"],
      ["+1415555010O", "+1415"],
      ["+14155550100 ", "+1415"],
    ];
    for (const [to, attempted] of refused) {
      const error = await client.messages
        .create({ to, from: "+15005550001", body: "hi" })
        .then(() => assert.fail(`expected ${to} to be refused`))
        .catch((e: { status: number; code: number; moreInfo: string }) => e);
      assert.deepEqual(
        [error.status, error.code, error.moreInfo],
        [403, 20403, "keybrake:counterparty_not_allowed"],
        to,
      );
      await assertRefusedRecord(stack, key.key_id, { field: "to_prefixes", attempted, allowed: ["+1415"] });
    }
    // A raw form: `to` in lower case is what Twilio reads too; no To at all names nobody.
    for (const [body, attempted] of [
      ["to=%2B14165550100&From=%2B15005550001&Body=hi", "+1416"],
      ["From=%2B15005550001&Body=hi", null],
    ] as const) {
      const res = await postTwilioMessage(stack.url, key.vault_key, body);
      assert.equal(res.status, 403, body);
      await assertRefusedRecord(stack, key.key_id, { field: "to_prefixes", attempted, allowed: ["+1415"] });
    }
    assert.equal(stack.vendors.twilio.received.length, before);
    const audit = JSON.stringify(stack.audit);
    for (const number of ["4165550100", "7700900123", "4155550100"]) {
      assert.ok(!audit.includes(number), `the audit trail never holds a whole number (${number})`);
    }
  });
});

describe("Resend: a key locked to recipient domains", () => {
  let stack: Stack;
  let resend: Resend;
  let keyId: string;
  const email = (to: string | string[], more: Record<string, unknown> = {}) => ({
    from: "agent@ours.io",
    to,
    subject: "Your invoice",
    text: "Hello",
    ...more,
  });
  before(async () => {
    stack = await startStack();
    const key = await stack.issue({
      vendor: "resend",
      daily_usd_cap: 1,
      allowed_endpoints: ["POST /emails", "POST /emails/batch"],
      expires_in: 600,
      agent_run_label: "mail/locked",
      counterparty: { recipient_domains: ["example.com", "partner.io"] },
    });
    keyId = key.key_id;
    process.env.RESEND_BASE_URL = `${stack.url}/resend`;
    try {
      resend = new Resend(key.vault_key);
    } finally {
      delete process.env.RESEND_BASE_URL;
    }
  });
  after(() => stack.close());

  it("sends to the locked domains, in any case, named or not", async () => {
    const before = stack.vendors.resend.received.length;
    for (const message of [
      email("a@example.com"),
      email("A.Person@EXAMPLE.COM"),
      email("Ann Example <ann@example.com>", { cc: "b@partner.io", bcc: ["c@example.com"] }),
    ]) {
      const { error } = await resend.emails.send(message);
      assert.equal(error, null);
    }
    const batch = await resend.batch.send([email("a@example.com"), email(["b@partner.io", "c@partner.io"])]);
    assert.equal(batch.error, null);
    assert.equal(stack.vendors.resend.received.length, before + 4);
  });

  it("refuses any recipient outside them, whatever its name says; Resend receives nothing", async () => {
    const before = stack.vendors.resend.received.length;
    const refused: Array<[string, () => Promise<{ error: unknown }>, string[]]> = [
      [
        "a named address at another domain",
        () => resend.emails.send(email("Example Support <x@evil.com>")),
        ["evil.com"],
      ],
      ["an allowed address as its name", () => resend.emails.send(email('"a@example.com" <x@evil.com>')), ["evil.com"]],
      ["a subdomain", () => resend.emails.send(email("a@mail.example.com")), ["mail.example.com"]],
      ["a lookalike suffix", () => resend.emails.send(email("a@notexample.com")), ["notexample.com"]],
      ["a cc", () => resend.emails.send(email("a@example.com", { cc: "x@evil.com" })), ["evil.com"]],
      [
        "a bcc",
        () => resend.emails.send(email("a@example.com", { bcc: ["c@example.com", "X@EVIL.COM"] })),
        ["evil.com"],
      ],
      [
        "a batch with one bad recipient",
        () =>
          resend.batch.send([email("a@example.com"), email(["b@partner.io", "x@evil.com"]), email("c@example.com")]),
        ["evil.com"],
      ],
    ];
    for (const [what, send, attempted] of refused) {
      const { error } = await send();
      const e = error as { statusCode: number; name: string; keybrake_code: string; counterparty: unknown };
      assert.deepEqual(
        [e.statusCode, e.name, e.keybrake_code, e.counterparty],
        [
          403,
          "invalid_access",
          "counterparty_not_allowed",
          { field: "recipient_domains", attempted, allowed: ["example.com", "partner.io"] },
        ],
        what,
      );
      await assertRefusedRecord(stack, keyId, {
        field: "recipient_domains",
        attempted,
        allowed: ["example.com", "partner.io"],
      });
    }
    assert.equal(stack.vendors.resend.received.length, before);
    const audit = JSON.stringify(stack.audit);
    assert.ok(!/x@evil|X@EVIL|a@mail/.test(audit), "the audit trail names domains, never addresses");
  });
});

describe("issuing a locked key", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("refuses a malformed lock with 400 naming the field; nothing is stored", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...STRIPE_KEY_REQUEST, counterparty: { to_prefixes: ["+1415"] } }, "counterparty.to_prefixes"],
      [{ ...STRIPE_KEY_REQUEST, counterparty: { stripe_customer: "cus_1", extra: 1 } }, "counterparty.extra"],
      [{ ...STRIPE_KEY_REQUEST, counterparty: { stripe_customer: "acct_1" } }, "counterparty.stripe_customer"],
      [{ ...STRIPE_KEY_REQUEST, counterparty: {} }, "counterparty"],
      [{ ...STRIPE_KEY_REQUEST, counterparty: null }, "counterparty"],
      [
        { ...STRIPE_KEY_REQUEST, vendor: "resend", counterparty: { recipient_domains: ["Example.COM"] } },
        "counterparty.recipient_domains",
      ],
    ];
    for (const [body, field] of cases) {
      const res = await stack.issuer("POST", "/vault/keys", body);
      assert.deepEqual([res.status, res.body.error.code, res.body.error.field], [400, "invalid_request", field]);
    }
    assert.equal(stack.audit.filter((r) => r.event === "key_issued").length, 0);
  });

  it("an issuer declared with require_counterparty grants locked keys only (403 naming the ceiling)", async () => {
    const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    const table = `t_${randomBytes(6).toString("hex")}`;
    await ensureLedgerTable(db, table);
    const token = "kbt_billing_0123456789abcdef";
    const app = createIssuerApp({
      db,
      table,
      issuers: [
        {
          name: "billing",
          tokenSha256: sha256Hex(token),
          ceilings: parseCeilings({ require_counterparty: true }, "issuers.billing"),
        },
      ],
      enabledVendors: new Set(["stripe"]),
      clock: systemClock,
      audit: memorySink([]),
      log: { error: () => undefined },
    });
    const issue = (body: object) =>
      app.request("/vault/keys", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    try {
      const unlocked = await issue(STRIPE_KEY_REQUEST);
      assert.equal(unlocked.status, 403);
      assert.deepEqual(((await unlocked.json()) as { error: unknown }).error, {
        code: "above_issuer_ceiling",
        message: "issuer billing: every key must carry a counterparty lock",
        ceiling: "require_counterparty",
      });
      const locked = await issue({ ...STRIPE_KEY_REQUEST, counterparty: { stripe_customer: "cus_123" } });
      assert.equal(locked.status, 201);
      assert.deepEqual(((await locked.json()) as { counterparty: unknown }).counterparty, {
        stripe_customer: "cus_123",
      });
    } finally {
      db.destroy();
    }
  });
});

describe("the counterparty examples of docs/http-api.md", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("issues the documented key and answers the documented refusals, Stripe's and Resend's", async () => {
    const issued = await stack.issuer(
      "POST",
      "/vault/keys",
      JSON.parse(snippet("docs/http-api.md", "counterparty-request")),
    );
    assert.equal(issued.status, 201);
    const charge = await fetch(`${stack.url}/stripe/v1/payment_intents`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${issued.body.vault_key}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "amount=2999&currency=usd&customer=cus_456",
    });
    const stripeBody = await charge.text();
    assert.equal(charge.status, 403);
    assert.ok(shapeMatches(stripeBody, snippet("docs/http-api.md", "counterparty-refusal-stripe")), stripeBody);

    const mailKey = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "resend",
      allowed_endpoints: ["POST /emails"],
      counterparty: { recipient_domains: ["example.com"] },
    });
    const mail = await fetch(`${stack.url}/resend/emails`, {
      method: "POST",
      headers: { authorization: `Bearer ${mailKey.vault_key}`, "content-type": "application/json" },
      body: JSON.stringify({ from: "a@example.com", to: "x@evil.com", subject: "s", text: "t" }),
    });
    const resendBody = await mail.text();
    assert.equal(mail.status, 403);
    assert.ok(shapeMatches(resendBody, snippet("docs/http-api.md", "counterparty-refusal-resend")), resendBody);
    assert.equal(stack.vendors.all().length, 0, "nothing reached a vendor");
  });
});
