// The pricing hazards of issue #10, end to end through local mode with the fake vendors: bodies read exactly as the
// vendor reads them (point 4), the priced-from-a-read calls that a free call cannot undercut, the headers a pricing
// read must share with the call, and a Twilio price above the reservation (point 5).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import twilio from "twilio";
import type { CallRecord } from "../../lambda/audit/record";
import { SECRETS } from "../support/fake-vendors";
import { rawRequest } from "../support/raw-http";
import { STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { postPermissiveResendBatch, stripeVia, TWILIO_MESSAGES } from "../support/vendor-calls";

const SID = SECRETS.TWILIO_ACCOUNT_SID;
const FORM = "application/x-www-form-urlencoded";

const lastCall = (stack: Stack, label: string) =>
  stack.audit.filter((r): r is CallRecord => r.event === "call" && r.agent_run_label === label).at(-1)!;

describe("a Twilio price above the reservation", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  /** One SMS through twilio-node on a fresh $1 key while Twilio reports `price` for it; the key and the client. */
  async function smsPricedAt(label: string, price: string) {
    const key = await stack.issue({
      vendor: "twilio",
      daily_usd_cap: 1,
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
      expires_in: "1h",
      agent_run_label: label,
    });
    const client = twilio(SID, key.vault_key);
    client.api.baseUrl = `${stack.url}/twilio`;
    stack.vendors.twilio.respond = () => ({ status: 201, body: { sid: "SM1", price, price_unit: "USD" } });
    try {
      await client.messages.create({ to: "+14155550100", from: "+14155550199", body: "hi" });
    } finally {
      stack.vendors.twilio.respond = undefined;
    }
    return { key, client };
  }

  it("is kept as charged, stops the key, and is loud: overage_usd in the audit record", async () => {
    // Reserved: one GSM-7 segment to a US number, 0.02 USD. Twilio reports 1.20 USD (a price the estimate missed).
    const { key, client } = await smsPricedAt("overage/sms", "-1.20000");
    const state = await stack.keyState(key.key_id);
    assert.deepEqual([state.spent_today_usd, state.remaining_today_usd], [1.2, 0], "the real spend, over the cap");
    const record = lastCall(stack, "overage/sms");
    assert.deepEqual(
      [record.reserved_usd, record.settled_usd, record.spent_usd, record.overage_usd, record.settlement],
      [0.02, 1.2, 1.2, 1.18, "settled"],
    );

    // No further reservation fits: the next message is refused and reaches nothing.
    const before = stack.vendors.twilio.received.length;
    const error = await client.messages
      .create({ to: "+14155550100", from: "+14155550199", body: "again" })
      .catch((e: { status: number }) => e);
    assert.equal((error as { status: number }).status, 429);
    assert.equal(stack.vendors.twilio.received.length, before);
  });

  it("a price at or below the reservation carries no overage_usd", async () => {
    await smsPricedAt("overage/none", "-0.02");
    await stack.server.idle();
    const record = lastCall(stack, "overage/none");
    assert.equal(record.settled_usd, 0.02);
    assert.equal("overage_usd" in record, false);
  });
});

describe("bodies are read exactly as the vendor reads them", () => {
  let stack: Stack;
  let stripeKey: string;
  let resendKey: string;
  before(async () => {
    stack = await startStack();
    stripeKey = (await stack.issue(STRIPE_KEY_REQUEST)).vault_key;
    resendKey = (
      await stack.issue({
        vendor: "resend",
        daily_usd_cap: 1,
        allowed_endpoints: ["POST /emails", "POST /emails/batch"],
        expires_in: "1h",
        agent_run_label: "bodies/resend",
      })
    ).vault_key;
  });
  after(() => stack.close());

  const stripe = (body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}/stripe/v1/payment_intents`, {
      method: "POST",
      headers: { authorization: `Bearer ${stripeKey}`, "content-type": FORM, ...headers },
      body,
    });
  const resend = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}/resend${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${resendKey}`, "content-type": "application/json", ...headers },
      body,
    });

  const refused: Array<[string, () => Promise<Response>, number, RegExp]> = [
    [
      "a gzip-encoded form",
      () => stripe(gzipSync("amount=100&currency=usd"), { "content-encoding": "gzip" }),
      400,
      /Content-Encoding/,
    ],
    [
      "a Latin-1 form",
      () => stripe("amount=100&currency=usd", { "content-type": `${FORM}; charset=iso-8859-1` }),
      400,
      /charset/,
    ],
    [
      "a form whose media type ends in a no-break space (which the vendor would not read as a form)",
      () => stripe("amount=100&currency=usd", { "content-type": `${FORM}\u00a0` }),
      400,
      /Content-Type/,
    ],
    [
      "a form that is not UTF-8",
      () => stripe(Buffer.from([...Buffer.from("amount=100&currency=usd&d="), 0xe9])),
      400,
      /UTF-8/,
    ],
    [
      "an encoded duplicate of amount",
      () => stripe("amount=100&%61mount=900000&currency=usd"),
      400,
      /amount must be given exactly once/,
    ],
    ["a Rack-2 alias of amount", () => stripe("amount]=900000&currency=usd"), 400, /misplaced brackets/],
    ["a raw ; separator", () => stripe("amount=100&currency=usd;amount=900000"), 400, /raw ;/],
    ["a form nested too deep", () => stripe(`amount=1&currency=usd&a${"[b]".repeat(40)}=1`), 400, /nests deeper/],
    [
      "a 4.4 MB form of tiny parameters (under the body limit)",
      () => stripe("a=1&".repeat(1_100_000)),
      413,
      /more than 1000 parameters/,
    ],
    [
      "a JSON duplicate key spelled with escapes",
      () => resend("/emails", '{"from":"a@x.io","subject":"s","to":"b@x.io","t\\u006f":["c@x.io","d@x.io"]}'),
      400,
      /key "to" twice/,
    ],
    ["JSON nested four million deep", () => resend("/emails", "[".repeat(4_000_000)), 400, /nests JSON deeper/],
    [
      "a permissive batch whose recipients are all empty",
      () =>
        resend(
          "/emails/batch",
          JSON.stringify([
            { from: "a@x.io", to: [] },
            { from: "a@x.io", to: [] },
          ]),
          { "x-batch-validation": "permissive" },
        ),
      400,
      /at least one recipient/,
    ],
    [
      "a list of addresses in one string",
      () => resend("/emails", JSON.stringify({ from: "a@x.io", to: "b@x.io, c@x.io, d@x.io" })),
      400,
      /cannot count/,
    ],
  ];
  for (const [what, send, status, message] of refused) {
    it(`refuses ${what} with ${status}; the vendor receives nothing`, async () => {
      const before = stack.vendors.all().length;
      const res = await send();
      const body = (await res.json()) as { error?: { message: string }; message?: string };
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(body.error?.message ?? body.message ?? "", message);
      assert.equal(stack.vendors.all().length, before);
    });
  }

  it("settles a permissive batch to the recipients of the emails Resend accepted", async () => {
    const key = await stack.issue({
      vendor: "resend",
      daily_usd_cap: 1,
      allowed_endpoints: ["POST /emails/batch"],
      expires_in: "1h",
      agent_run_label: "bodies/permissive",
    });
    stack.vendors.resend.respond = () => ({
      status: 200,
      body: { data: [{ id: "em_1" }], errors: [{ index: 1, message: "x" }] },
    });
    try {
      const res = await postPermissiveResendBatch(stack.url, key.vault_key, [
        { from: "a@x.io", to: ["Ann <b@x.io>", "c@x.io"], subject: "s", text: "t" },
        { from: "a@x.io", to: "d@x.io", bcc: ["e@x.io", "f@x.io"], subject: "s", text: "t" },
      ]);
      assert.equal(res.status, 200);
    } finally {
      stack.vendors.resend.respond = undefined;
    }
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0.002);
    const record = lastCall(stack, "bodies/permissive");
    assert.deepEqual([record.reserved_usd, record.settled_usd], [0.005, 0.002]);
  });
});

describe("calls priced from a read", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("read with the call's own Stripe-Account, Stripe-Context and Stripe-Version", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, allowed_endpoints: ["POST /v1/payment_intents/*/confirm"] });
    const before = stack.vendors.stripe.received.length;
    const headers = { "stripe-account": "acct_1", "stripe-context": "ctx_1", "stripe-version": "2024-06-20" };
    const res = await fetch(`${stack.url}/v1/payment_intents/pi_1/confirm`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.vault_key}`, ...headers },
    });
    assert.equal(res.status, 200);
    const [read, call] = stack.vendors.stripe.received.slice(before);
    for (const request of [read!, call!]) {
      for (const [name, value] of Object.entries(headers))
        assert.equal(request.headers[name], value, `${request.method} ${name}`);
    }
    assert.deepEqual(
      [read!.method, read!.url, call!.url],
      ["GET", "/v1/payment_intents/pi_1", "/v1/payment_intents/pi_1/confirm"],
    );
  });

  it("refuse a Stripe-Version later than the route table's before reading anything", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, allowed_endpoints: ["POST /v1/payment_intents/*/confirm"] });
    const before = stack.vendors.stripe.received.length;
    const res = await fetch(`${stack.url}/v1/payment_intents/pi_1/confirm`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.vault_key}`, "stripe-version": "2099-01-01.future" },
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { param: string } }).error.param, "stripe-version");
    assert.equal(stack.vendors.stripe.received.length, before);
  });

  it("a refund of what is left reserves what the charge moved, then settles to the refund Stripe made", async () => {
    const key = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      allowed_endpoints: ["POST /v1/refunds"],
      agent_run_label: "hazard/refund",
    });
    stack.vendors.stripe.respond = (req) =>
      req.method === "GET"
        ? { status: 200, body: { id: "ch_1", object: "charge", amount: 4000, amount_refunded: 3000, currency: "usd" } }
        : { status: 200, body: { id: "re_1", object: "refund", amount: 1000, currency: "usd" } };
    try {
      const refund = await stripeVia(stack.url, key.vault_key).refunds.create({ charge: "ch_1" });
      assert.equal(refund.id, "re_1");
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 10);
    const record = lastCall(stack, "hazard/refund");
    assert.deepEqual([record.reserved_usd, record.settled_usd], [40, 10]);
  });

  it("pay only an open invoice: a draft's total can still grow", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, allowed_endpoints: ["POST /v1/invoices/*/pay"] });
    stack.vendors.stripe.respond = () => ({
      status: 200,
      body: { id: "in_1", object: "invoice", status: "draft", amount_remaining: 100, currency: "usd" },
    });
    const before = stack.vendors.stripe.received.length;
    try {
      const error = await stripeVia(stack.url, key.vault_key)
        .invoices.pay("in_1")
        .catch((e: { statusCode: number; message: string }) => e);
      assert.equal((error as { statusCode: number }).statusCode, 400);
      assert.match((error as { message: string }).message, /open invoice only/);
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    assert.deepEqual(
      stack.vendors.stripe.received.slice(before).map((r) => `${r.method} ${r.url}`),
      ["GET /v1/invoices/in_1"],
      "the read, never the payment",
    );
  });

  it("a PaymentIntent created and then confirmed through keybrake counts at both steps", async () => {
    const key = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      allowed_endpoints: ["POST /v1/payment_intents", "POST /v1/payment_intents/*/confirm"],
    });
    const stripe = stripeVia(stack.url, key.vault_key);
    await stripe.paymentIntents.create({ amount: 5000, currency: "usd" }); // not confirmed: still 50.00
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 50);
    const error = await stripe.paymentIntents.confirm("pi_1").catch((e: { statusCode: number }) => e);
    assert.equal((error as { statusCode: number }).statusCode, 429, "the confirm is priced again and does not fit");
  });

  it("a raw request with a format suffix on a read of a priced object reaches nothing", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, allowed_endpoints: ["GET /v1/payment_intents/*"] });
    const before = stack.vendors.stripe.received.length;
    const res = await rawRequest(stack.url, "GET /v1/payment_intents/pi_1.json HTTP/1.1", {
      authorization: `Bearer ${key.vault_key}`,
    });
    assert.equal(res.status, 400);
    assert.equal(stack.vendors.stripe.received.length, before);
  });
});
