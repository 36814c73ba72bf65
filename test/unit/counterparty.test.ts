// The counterparty lock, pure: the issuing parser (what `POST /vault/keys` accepts as `counterparty`), the issuer
// ceiling that requires one, the ledger item round trip, and the proxy's checks on requests and quotes. The end to
// end versions, through local mode with each vendor's SDK, are in test/integration/counterparty.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type CounterpartyLock,
  CounterpartyNotAllowedError,
  counterpartyBody,
  parseCounterparty,
} from "../../lambda/core/counterparty";
import { KeybrakeError } from "../../lambda/core/errors";
import { parsePricing } from "../../lambda/core/pricing";
import type { Vendor } from "../../lambda/core/vendors";
import { parseCeilings } from "../../lambda/issuer/ceilings";
import { validateKeyRequest } from "../../lambda/issuer/validate";
import { type KeyRecord, marshalKey, unmarshalKey } from "../../lambda/ledger/key-record";
import { adapters } from "../../lambda/vendors";
import type { ProxiedRequest, Quote } from "../../lambda/vendors/adapter";
import { readBody } from "../../lambda/vendors/body";
import { classify, quoteCall } from "../../lambda/vendors/classify";
import { checkActingAccount, checkCounterparty, phonePrefix } from "../../lambda/vendors/counterparty";
import { recipientDomain } from "../../lambda/vendors/resend";
import { quoteAsProxy, refusalOf, proxiedRequest as request } from "../support/proxy-steps";

const KEY = {
  daily_usd_cap: 50,
  allowed_endpoints: ["POST /v1/payment_intents"],
  expires_in: "5m",
  agent_run_label: "modal-billing/cus_123",
};
const keyFor = (vendor: Vendor, counterparty: unknown) => ({ ...KEY, vendor, counterparty });

describe("POST /vault/keys: counterparty", () => {
  const good: Array<[Vendor, unknown, CounterpartyLock]> = [
    ["stripe", { stripe_customer: "cus_123" }, { stripeCustomer: "cus_123" }],
    ["stripe", { stripe_account: "acct_1Nv0FGQ9RKHgCVdK" }, { stripeAccount: "acct_1Nv0FGQ9RKHgCVdK" }],
    [
      "stripe",
      { stripe_customer: "cus_Q2x", stripe_account: "acct_9" },
      { stripeCustomer: "cus_Q2x", stripeAccount: "acct_9" },
    ],
    ["twilio", { to_prefixes: ["+1415", "+44"] }, { toPrefixes: ["+1415", "+44"] }],
    ["twilio", { to_prefixes: ["+123456789012345"] }, { toPrefixes: ["+123456789012345"] }],
    [
      "resend",
      { recipient_domains: ["example.com", "mail.example.co.uk", "xn--bcher-kva.example"] },
      { recipientDomains: ["example.com", "mail.example.co.uk", "xn--bcher-kva.example"] },
    ],
  ];
  for (const [vendor, counterparty, lock] of good) {
    it(`reads ${JSON.stringify(counterparty)} for ${vendor}, and answers it in the API's spelling`, () => {
      const request = validateKeyRequest(keyFor(vendor, counterparty));
      assert.deepEqual(request.counterparty, lock);
      assert.deepEqual(counterpartyBody(request.counterparty!), counterparty);
    });
  }

  it("a key without one has none", () => {
    assert.equal(validateKeyRequest(keyFor("stripe", undefined)).counterparty, undefined);
  });

  const bad: Array<[Vendor, unknown, string, RegExp]> = [
    ["stripe", null, "counterparty", /must be an object/],
    ["stripe", ["cus_1"], "counterparty", /must be an object/],
    ["stripe", "cus_1", "counterparty", /must be an object/],
    ["stripe", {}, "counterparty", /at least one of stripe_customer and\/or stripe_account/],
    ["stripe", { customer: "cus_1" }, "counterparty.customer", /unknown field counterparty\.customer/],
    // Names an object inherits are no lock field either.
    ["stripe", { constructor: "cus_1" }, "counterparty.constructor", /unknown field counterparty\.constructor/],
    ["twilio", { toString: ["+1"] }, "counterparty.toString", /unknown field counterparty\.toString/],
    [
      "resend",
      JSON.parse('{"__proto__":["a.com"]}'),
      "counterparty.__proto__",
      /unknown field counterparty\.__proto__/,
    ],
    ["stripe", { to_prefixes: ["+1"] }, "counterparty.to_prefixes", /locks twilio keys, not stripe keys/],
    ["twilio", { stripe_customer: "cus_1" }, "counterparty.stripe_customer", /locks stripe keys, not twilio/],
    ["resend", { to_prefixes: ["+1"] }, "counterparty.to_prefixes", /locks twilio keys, not resend/],
    ["twilio", { recipient_domains: ["a.com"] }, "counterparty.recipient_domains", /locks resend keys/],
    ["stripe", { stripe_customer: "cus_1", stripe_acount: "acct_1" }, "counterparty.stripe_acount", /unknown field/],
    ["stripe", { stripe_customer: "cus_" }, "counterparty.stripe_customer", /cus_ followed by letters and digits/],
    ["stripe", { stripe_customer: "acct_1" }, "counterparty.stripe_customer", /cus_/],
    ["stripe", { stripe_customer: "cus_1 " }, "counterparty.stripe_customer", /cus_/],
    ["stripe", { stripe_customer: "cus_1\n" }, "counterparty.stripe_customer", /cus_/],
    ["stripe", { stripe_customer: "cus_a/b" }, "counterparty.stripe_customer", /cus_/],
    ["stripe", { stripe_customer: `cus_${"a".repeat(252)}` }, "counterparty.stripe_customer", /cus_/],
    ["stripe", { stripe_customer: 123 }, "counterparty.stripe_customer", /cus_/],
    ["stripe", { stripe_account: "cus_1" }, "counterparty.stripe_account", /acct_ followed/],
    ["stripe", { stripe_account: "acct_1\u0000" }, "counterparty.stripe_account", /acct_/],
    ["twilio", { to_prefixes: [] }, "counterparty.to_prefixes", /1 to 20 entries/],
    ["twilio", { to_prefixes: "+1415" }, "counterparty.to_prefixes", /1 to 20 entries/],
    [
      "twilio",
      { to_prefixes: Array.from({ length: 21 }, (_, i) => `+${i + 1}`) },
      "counterparty.to_prefixes",
      /1 to 20/,
    ],
    [
      "twilio",
      { to_prefixes: ["1415"] },
      "counterparty.to_prefixes",
      /to_prefixes\[0\] must be "\+" and 1 to 15 digits/,
    ],
    ["twilio", { to_prefixes: ["+"] }, "counterparty.to_prefixes", /\+/],
    ["twilio", { to_prefixes: ["+1 415"] }, "counterparty.to_prefixes", /\+/],
    ["twilio", { to_prefixes: ["+1234567890123456"] }, "counterparty.to_prefixes", /\+/],
    ["twilio", { to_prefixes: ["whatsapp:+1"] }, "counterparty.to_prefixes", /\+/],
    ["twilio", { to_prefixes: ["+１"] }, "counterparty.to_prefixes", /\+/],
    ["twilio", { to_prefixes: ["+1", 44] }, "counterparty.to_prefixes", /to_prefixes\[1\].*got number/],
    ["twilio", { to_prefixes: ["+1415", "+1415"] }, "counterparty.to_prefixes", /repeats \+1415/],
    ["resend", { recipient_domains: [] }, "counterparty.recipient_domains", /1 to 50 entries/],
    [
      "resend",
      { recipient_domains: Array.from({ length: 51 }, (_, i) => `d${i}.com`) },
      "counterparty.recipient_domains",
      /1 to 50/,
    ],
    ["resend", { recipient_domains: ["Example.com"] }, "counterparty.recipient_domains", /lower-case DNS name/],
    ["resend", { recipient_domains: ["*.example.com"] }, "counterparty.recipient_domains", /no wildcard/],
    ["resend", { recipient_domains: ["example.com."] }, "counterparty.recipient_domains", /lower-case/],
    ["resend", { recipient_domains: ["localhost"] }, "counterparty.recipient_domains", /lower-case/],
    ["resend", { recipient_domains: ["a@example.com"] }, "counterparty.recipient_domains", /lower-case/],
    ["resend", { recipient_domains: ["-a.example.com"] }, "counterparty.recipient_domains", /lower-case/],
    ["resend", { recipient_domains: ["a..com"] }, "counterparty.recipient_domains", /lower-case/],
    ["resend", { recipient_domains: ["bücher.example"] }, "counterparty.recipient_domains", /xn-- form/],
    ["resend", { recipient_domains: ["exa mple.com"] }, "counterparty.recipient_domains", /lower-case/],
    ["resend", { recipient_domains: ["example.com\t"] }, "counterparty.recipient_domains", /lower-case/],
    [
      "resend",
      { recipient_domains: [`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`] },
      "counterparty.recipient_domains",
      /lower-case/,
    ],
    ["resend", { recipient_domains: [`${"a".repeat(64)}.com`] }, "counterparty.recipient_domains", /lower-case/],
    ["resend", { recipient_domains: ["a.com", "a.com"] }, "counterparty.recipient_domains", /repeats a\.com/],
  ];
  for (const [vendor, counterparty, field, message] of bad) {
    it(`refuses ${JSON.stringify(counterparty)} on a ${vendor} key, naming ${field}`, () =>
      assert.throws(
        () => validateKeyRequest(keyFor(vendor, counterparty)),
        (e: KeybrakeError & { field?: string }) =>
          e.status === 400 && e.field === field && e.details.field === field && message.test(e.message),
      ));
  }

  it("253 characters is the longest name", () => {
    const longest = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    assert.equal(longest.length, 253);
    assert.deepEqual(parseCounterparty({ recipient_domains: [longest] }, "resend"), { recipientDomains: [longest] });
  });
});

describe("issuer ceiling require_counterparty", () => {
  it("reads true and false, and refuses anything else naming it", () => {
    assert.equal(parseCeilings({ require_counterparty: true }, "issuers.billing").requireCounterparty, true);
    assert.equal(parseCeilings({ require_counterparty: false }, "issuers.billing").requireCounterparty, false);
    assert.throws(
      () => parseCeilings({ require_counterparty: "yes" }, "issuers.billing"),
      /issuers\.billing\.require_counterparty must be true or false/,
    );
  });
});

describe("the lock on the key's ledger item", () => {
  const base: KeyRecord = {
    keyId: "0123456789abcdef",
    keyHash: "h",
    vendor: "stripe",
    issuer: "local",
    label: "l",
    capMicro: 1,
    allowedEndpoints: ["POST /v1/payment_intents"],
    createdAt: 1,
    expiresAt: 2,
  };
  const locks: CounterpartyLock[] = [
    { stripeCustomer: "cus_1", stripeAccount: "acct_1" },
    { stripeCustomer: "cus_1" },
    { toPrefixes: ["+1415", "+44"] },
    { recipientDomains: ["example.com"] },
  ];
  for (const lock of locks) {
    it(`round-trips ${JSON.stringify(lock)}`, () => {
      assert.deepEqual(unmarshalKey(marshalKey({ ...base, counterparty: lock })).counterparty, lock);
    });
  }
  it("a key without one has none (keys issued before the lock existed included)", () => {
    const item = marshalKey(base);
    assert.equal("cp" in item, false);
    assert.equal(unmarshalKey(item).counterparty, undefined);
  });
});

const pricing = parsePricing({ fx_usd: { eur: "1.1" } });

/** Classify, read the body and quote as the proxy does, with this lock; objects answer the pricing reads. */
const quote = (
  vendor: Vendor,
  req: ProxiedRequest,
  lock: CounterpartyLock | undefined,
  objects: Record<string, unknown> = {},
) => quoteAsProxy(vendor, req, { pricing, lock, objects });

const refused = (work: Promise<unknown>) => refusalOf(CounterpartyNotAllowedError, work);

describe("Stripe: the customer a priced call acts on", () => {
  const lock = { stripeCustomer: "cus_A" };
  const pi = (body: string) => request("POST", "/v1/payment_intents", body);

  it("a create for the locked customer passes, priced as before", async () => {
    const { quote: q } = await quote("stripe", pi("amount=2999&currency=usd&customer=cus_A"), lock);
    assert.equal(q.amountMicro, 29_990_000);
    assert.deepEqual(q.counterparty, { kind: "stripe", customers: [{ customer: "cus_A", param: "customer" }] });
  });

  const refusedCreates: Array<[string, ProxiedRequest, string | null, string]> = [
    ["another customer", pi("amount=100&currency=usd&customer=cus_B"), "cus_B", "customer"],
    ["no customer", pi("amount=100&currency=usd"), null, "customer"],
    ["a customer in another case", pi("amount=100&currency=usd&customer=CUS_A"), "CUS_A", "customer"],
    [
      "an Account as customer besides the customer",
      pi("amount=100&currency=usd&customer=cus_A&customer_account=acct_1"),
      "acct_1",
      "customer_account",
    ],
    [
      "a charge debiting a connected account",
      request("POST", "/v1/charges", "amount=100&currency=usd&customer=cus_A&source=acct_1"),
      "acct_1",
      "source",
    ],
    [
      "a charge of another customer",
      request("POST", "/v1/charges", "amount=1&currency=usd&customer=cus_B"),
      "cus_B",
      "customer",
    ],
    ["a payout (no customer)", request("POST", "/v1/payouts", "amount=100&currency=usd"), null, "customer"],
    [
      "a transfer (no customer), even naming one",
      request("POST", "/v1/transfers", "amount=100&currency=usd&destination=acct_1&customer=cus_A"),
      null,
      "customer",
    ],
  ];
  for (const [what, req, attempted, param] of refusedCreates) {
    it(`refuses ${what}`, async () => {
      const error = await refused(quote("stripe", req, lock));
      assert.equal(error.status, 403);
      assert.equal(error.code, "counterparty_not_allowed");
      assert.deepEqual(error.counterparty, { field: "stripe_customer", attempted, allowed: "cus_A" });
      assert.equal(error.details.param, param);
    });
  }

  it("a customer given twice is unpriceable, locked or not (it could be read either way)", async () => {
    for (const l of [lock, undefined]) {
      await assert.rejects(
        quote("stripe", pi("amount=100&currency=usd&customer=cus_A&customer=cus_B"), l),
        (e: KeybrakeError) => e.code === "unpriceable_request" && e.details.param === "customer",
      );
    }
  });

  it("a call priced from a read checks the object's customer", async () => {
    const objects = {
      "/v1/payment_intents/pi_A": {
        id: "pi_A",
        customer: "cus_A",
        amount: 500,
        amount_capturable: 500,
        currency: "usd",
      },
      "/v1/payment_intents/pi_B": {
        id: "pi_B",
        customer: "cus_B",
        amount: 500,
        amount_capturable: 500,
        amount_received: 500,
        currency: "usd",
      },
      "/v1/payment_intents/pi_X": {
        id: "pi_X",
        customer: { id: "cus_A", object: "customer" },
        amount: 5,
        currency: "usd",
      },
      "/v1/payment_intents/pi_N": { id: "pi_N", customer: null, amount: 500, currency: "usd" },
      "/v1/charges/ch_A": { id: "ch_A", customer: "cus_A", amount: 700, amount_captured: 0, currency: "usd" },
      "/v1/charges/ch_B": { id: "ch_B", customer: "cus_B", amount: 700, amount_captured: 0, currency: "usd" },
      "/v1/invoices/in_A": { id: "in_A", customer: "cus_A", status: "open", amount_remaining: 100, currency: "usd" },
      "/v1/invoices/in_B": { id: "in_B", customer: "cus_B", status: "open", amount_remaining: 100, currency: "usd" },
    };
    const passes = [
      request("POST", "/v1/payment_intents/pi_A/confirm"),
      request("POST", "/v1/payment_intents/pi_A/capture"),
      request("POST", "/v1/payment_intents/pi_A/increment_authorization", "amount=900"),
      request("POST", "/v1/payment_intents/pi_X/confirm"),
      request("POST", "/v1/charges/ch_A/capture"),
      request("POST", "/v1/refunds", "charge=ch_A"),
      request("POST", "/v1/refunds", "payment_intent=pi_A&amount=100"),
      request("POST", "/v1/refunds", "charge=ch_A&customer=cus_A"),
      request("POST", "/v1/invoices/in_A/pay"),
    ];
    for (const req of passes) await quote("stripe", req, lock, objects);
    const refusals: Array<[ProxiedRequest, string | null, string]> = [
      [request("POST", "/v1/payment_intents/pi_B/confirm"), "cus_B", "payment_intent"],
      [request("POST", "/v1/payment_intents/pi_B/capture"), "cus_B", "payment_intent"],
      [request("POST", "/v1/payment_intents/pi_B/increment_authorization", "amount=900"), "cus_B", "payment_intent"],
      [request("POST", "/v1/payment_intents/pi_N/confirm"), null, "payment_intent"],
      [request("POST", "/v1/charges/ch_B/capture"), "cus_B", "charge"],
      [request("POST", "/v1/refunds", "charge=ch_B"), "cus_B", "charge"],
      [request("POST", "/v1/refunds", "charge=ch_B&amount=1"), "cus_B", "charge"],
      [request("POST", "/v1/refunds", "payment_intent=pi_B"), "cus_B", "payment_intent"],
      [request("POST", "/v1/refunds", "charge=ch_A&customer=cus_B"), "cus_B", "customer"],
      [request("POST", "/v1/invoices/in_B/pay"), "cus_B", "invoice"],
    ];
    for (const [req, attempted, param] of refusals) {
      const error = await refused(quote("stripe", req, lock, objects));
      assert.deepEqual([error.counterparty.attempted, error.details.param], [attempted, param], req.path);
    }
  });

  it("a key locked to an account only does not check customers", async () => {
    const acct = { stripeAccount: "acct_1" };
    const headers = { "stripe-account": "acct_1" };
    await quote("stripe", request("POST", "/v1/payment_intents", "amount=1&currency=usd", headers), acct);
    await quote("stripe", request("POST", "/v1/payouts", "amount=1&currency=usd", headers), acct);
  });

  it("an unlocked key is priced exactly as before", async () => {
    const { quote: q } = await quote("stripe", request("POST", "/v1/payouts", "amount=100&currency=eur"), undefined);
    assert.equal(q.amountMicro, 1_100_000);
  });
});

describe("Stripe: the account every call of a locked key acts as", () => {
  const read = (headers: Record<string, string>) => request("GET", "/v1/customers/cus_A", "", headers);
  const customerOnly = { stripeCustomer: "cus_A" };
  const withAccount = { stripeCustomer: "cus_A", stripeAccount: "acct_1" };

  const cases: Array<[string, CounterpartyLock, Record<string, string>, string | null | undefined]> = [
    ["platform lock, no header", customerOnly, {}, undefined],
    ["platform lock, Stripe-Account", customerOnly, { "stripe-account": "acct_2" }, "acct_2"],
    ["platform lock, Stripe-Context", customerOnly, { "stripe-context": "acct_2" }, "acct_2"],
    ["platform lock, an empty Stripe-Account", customerOnly, { "stripe-account": "" }, ""],
    ["account lock, the account", withAccount, { "stripe-account": "acct_1" }, undefined],
    ["account lock, the account as context", withAccount, { "stripe-context": "acct_1" }, undefined],
    ["account lock, both", withAccount, { "stripe-account": "acct_1", "stripe-context": "acct_1" }, undefined],
    ["account lock, no header", withAccount, {}, null],
    ["account lock, another account", withAccount, { "stripe-account": "acct_2" }, "acct_2"],
    ["account lock, a prefix of it", withAccount, { "stripe-account": "acct_" }, "acct_"],
    [
      "account lock, another context",
      withAccount,
      { "stripe-account": "acct_1", "stripe-context": "acct_1/acct_2" },
      "acct_1/acct_2",
    ],
    ["account lock, another case", withAccount, { "stripe-account": "ACCT_1" }, "ACCT_1"],
  ];
  for (const [what, lock, headers, attempted] of cases) {
    it(`${what}: ${attempted === undefined ? "passes" : "refused"}`, () => {
      const check = () => checkActingAccount("stripe", lock, read(headers));
      if (attempted === undefined) return check();
      assert.throws(check, (e: CounterpartyNotAllowedError) => {
        assert.deepEqual(e.counterparty, {
          field: "stripe_account",
          attempted,
          allowed: lock.stripeAccount ?? null,
        });
        return true;
      });
    });
  }

  it("on every call: reads and free calls too, before a priced call's read", async () => {
    const { reads } = await quote("stripe", read({}), withAccount).catch(() => ({ reads: ["refused"] }));
    assert.deepEqual(reads, ["refused"]);
    const confirm = request("POST", "/v1/payment_intents/pi_1/confirm", "", { "stripe-account": "acct_2" });
    const seen: string[] = [];
    await refused(
      quoteCall(
        adapters.stripe as never,
        classify("stripe", confirm) as never,
        confirm,
        readBody(confirm, "form"),
        {
          pricing,
          lookup: async (path) => {
            seen.push(path);
            return { status: 404, headers: {}, body: Buffer.from("{}") };
          },
        },
        withAccount,
      ),
    );
    assert.deepEqual(seen, [], "refused before the PaymentIntent is read");
    const free = request("POST", "/v1/customers", "email=a%40b.com", { "stripe-account": "acct_2" });
    await refused(quote("stripe", free, customerOnly));
  });

  it("other vendors and unlocked keys have no account rule", async () => {
    checkActingAccount("twilio", { toPrefixes: ["+1"] }, read({ "stripe-account": "acct_2" }));
    await quote("stripe", request("GET", "/v1/customers/cus_A", "", { "stripe-account": "acct_2" }), undefined);
  });
});

describe("Twilio: To against to_prefixes", () => {
  const lock = { toPrefixes: ["+1415", "+44"] };
  const sid = "AC1";
  const sms = (body: string) => request("POST", `/2010-04-01/Accounts/${sid}/Messages.json`, body);
  const passes = ["+14155550100", "+447700900123", "+1415"];
  for (const to of passes) {
    it(`sends to ${to}`, async () => {
      await quote("twilio", sms(`To=${encodeURIComponent(to)}&From=%2B15005550001&Body=hi`), lock);
    });
  }
  const refusedTo: Array<[string, string, string | null]> = [
    ["another area code", "To=%2B14165550100&Body=hi", "+1416"],
    ["another country", "To=%2B33612345678&Body=hi", "+3361"],
    ["a WhatsApp address", "To=whatsapp%3A%2B14155550100&Body=hi", "whats"],
    ["spaces", "To=%2B1+415+555+0100&Body=hi", "+1 41"],
    ["a national number", "To=4155550100&Body=hi", "41555"],
    ["a number with a letter", "To=%2B1415555010O&Body=hi", "+1415"],
    ["full-width digits", `To=${encodeURIComponent("+１４１５５５５０１００")}&Body=hi`, "+１４１５"],
    ["more than 15 digits", `To=%2B1415${"5".repeat(12)}&Body=hi`, "+1415"],
    ["a leading space", "To=+%2B14155550100&Body=hi", " +141"],
    ["no To", "Body=hi", null],
    ["to in lower case, read as Twilio does", "to=%2B14165550100&Body=hi", "+1416"],
  ];
  for (const [what, body, attempted] of refusedTo) {
    it(`refuses ${what}`, async () => {
      const error = await refused(quote("twilio", sms(body), lock));
      assert.deepEqual(error.counterparty, { field: "to_prefixes", attempted, allowed: ["+1415", "+44"] });
      assert.equal(error.details.param, "To");
    });
  }
  it("To given twice in two cases is unpriceable, not guessed", async () => {
    await assert.rejects(
      quote("twilio", sms("To=%2B14155550100&to=%2B14165550100&Body=hi"), lock),
      (e: KeybrakeError) => e.code === "unpriceable_request",
    );
  });
  it("the audit's prefix is never the whole number: five characters, at most half of it", () => {
    assert.equal(phonePrefix("+14155550100"), "+1415");
    assert.equal(phonePrefix("+1234"), "+1");
    assert.equal(phonePrefix("12345"), "12");
    assert.equal(phonePrefix(""), "");
  });
});

describe("Resend: recipient domains against recipient_domains", () => {
  const lock = { recipientDomains: ["example.com", "partner.io"] };
  const send = (email: object) =>
    request("POST", "/emails", JSON.stringify({ from: "me@ours.com", subject: "s", ...email }));
  const batch = (emails: object[]) =>
    request("POST", "/emails/batch", JSON.stringify(emails.map((e) => ({ from: "me@ours.com", subject: "s", ...e }))));

  it("reads each recipient's domain as it is delivered", () => {
    assert.equal(recipientDomain("a@example.com"), "example.com");
    assert.equal(recipientDomain(" A@EXAMPLE.COM "), "example.com");
    assert.equal(recipientDomain("Ann <ann@Example.com>"), "example.com");
    assert.equal(recipientDomain('"ann@example.com" <x@evil.com>'), "evil.com");
    assert.equal(recipientDomain('"a <b@example.com>" <x@evil.com>'), "evil.com");
    assert.equal(recipientDomain("x@ＥXAMPLE.com"), "Ｅxample.com", "only ASCII letters are folded");
  });

  const passes: Array<[string, ProxiedRequest]> = [
    ["one address", send({ to: "a@example.com" })],
    ["upper case", send({ to: "A@EXAMPLE.COM" })],
    ["a named address", send({ to: "Ann <ann@example.com>" })],
    ["to, cc and bcc", send({ to: ["a@example.com", "b@partner.io"], cc: "c@example.com", bcc: ["d@partner.io"] })],
    ["a batch", batch([{ to: "a@example.com" }, { to: "b@partner.io", cc: null }])],
  ];
  for (const [what, req] of passes) {
    it(`sends ${what}`, async () => {
      await quote("resend", req, lock);
    });
  }
  const refusedEmails: Array<[string, ProxiedRequest, string[]]> = [
    ["another domain", send({ to: "x@evil.com" }), ["evil.com"]],
    ["a name that looks allowed", send({ to: "Example Support <x@evil.com>" }), ["evil.com"]],
    ["a quoted allowed address as the name", send({ to: '"a@example.com" <x@evil.com>' }), ["evil.com"]],
    ["a subdomain", send({ to: "a@mail.example.com" }), ["mail.example.com"]],
    ["a parent domain", send({ to: "a@com.example" }), ["com.example"]],
    ["a suffix that is not a subdomain", send({ to: "a@badexample.com" }), ["badexample.com"]],
    ["a trailing dot", send({ to: "a@example.com." }), ["example.com."]],
    ["a cc outside", send({ to: "a@example.com", cc: ["b@evil.com"] }), ["evil.com"]],
    ["a bcc outside", send({ to: "a@example.com", bcc: "b@evil.com" }), ["evil.com"]],
    ["full-width letters", send({ to: "a@ｅxample.com" }), ["ｅxample.com"]],
    [
      "a batch with one bad recipient among many",
      batch([{ to: "a@example.com" }, { to: ["b@partner.io", "c@evil.com", "d@evil.com"] }, { to: "e@worse.org" }]),
      ["evil.com", "worse.org"],
    ],
  ];
  for (const [what, req, attempted] of refusedEmails) {
    it(`refuses ${what}, naming only the domains`, async () => {
      const error = await refused(quote("resend", req, lock));
      assert.deepEqual(error.counterparty, {
        field: "recipient_domains",
        attempted,
        allowed: ["example.com", "partner.io"],
      });
    });
  }
});

describe("a priced rule that reports no counterparty", () => {
  const bare: Quote = { amountMicro: 1, settlesFromReply: false, basis: {} };
  const locks: Array<[Vendor, CounterpartyLock]> = [
    ["stripe", { stripeCustomer: "cus_A" }],
    ["twilio", { toPrefixes: ["+1"] }],
    ["resend", { recipientDomains: ["example.com"] }],
  ];
  for (const [vendor, lock] of locks) {
    it(`is refused under a ${vendor} lock`, () => {
      assert.throws(() => checkCounterparty(vendor, lock, bare), /cannot tell whom this call acts on/);
    });
  }
  it("a Resend quote with no domains at all is refused too", () => {
    assert.throws(
      () =>
        checkCounterparty(
          "resend",
          { recipientDomains: ["example.com"] },
          { ...bare, counterparty: { kind: "resend", domains: [] } },
        ),
      CounterpartyNotAllowedError,
    );
  });
});

describe("the refusal in each vendor's shape", () => {
  const error = new CounterpartyNotAllowedError(
    "this vault key may act only on customer cus_A, not cus_B (customer)",
    { field: "stripe_customer", attempted: "cus_B", allowed: "cus_A" },
    "customer",
  );
  it("Stripe: a permission error with the param and the counterparty", () => {
    const shaped = adapters.stripe.refusal(error);
    assert.equal(shaped.status, 403);
    assert.equal(shaped.headers["stripe-should-retry"], "false");
    assert.deepEqual(shaped.body, {
      error: {
        type: "invalid_request_error",
        code: "keybrake_counterparty_not_allowed",
        message: error.message,
        param: "customer",
        counterparty: { field: "stripe_customer", attempted: "cus_B", allowed: "cus_A" },
      },
    });
  });
  it("Twilio and Resend: their 403 with keybrake_code", () => {
    const twilio = adapters.twilio.refusal(error).body as Record<string, unknown>;
    assert.deepEqual([twilio.status, twilio.code, twilio.keybrake_code], [403, 20403, "counterparty_not_allowed"]);
    const resend = adapters.resend.refusal(error).body as Record<string, unknown>;
    assert.deepEqual(
      [resend.statusCode, resend.name, resend.keybrake_code],
      [403, "invalid_access", "counterparty_not_allowed"],
    );
    assert.ok(error instanceof KeybrakeError);
  });
});
