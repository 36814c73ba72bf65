// Classification and the named pricing rules, pure: a request goes through the same steps as in the proxy (canonical
// target, classify, read the body, the row's rule), with a fake Stripe for the priced-from-the-object reads. The
// end-to-end versions are in test/integration/closed-world.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KeybrakeError } from "../../lambda/core/errors";
import { parsePricing } from "../../lambda/core/pricing";
import { VENDORS, type Vendor } from "../../lambda/core/vendors";
import { adapters, vendorForPath } from "../../lambda/vendors";
import type { ProxiedRequest, Quote, UpstreamReply } from "../../lambda/vendors/adapter";
import { classify } from "../../lambda/vendors/classify";
import { PRICING_RULES, vendorRoutes } from "../../lambda/vendors/operations";
import { destinationClass } from "../../lambda/vendors/twilio";
import { quoteAsProxy, refusalOf, proxiedRequest as request } from "../support/proxy-steps";

const pricing = parsePricing({});
/** Priced as the proxy prices it, with the Twilio guard's secret; a missing Stripe object is Stripe's 404. */
const price = (
  vendor: Vendor,
  req: ProxiedRequest,
  objects: Record<string, unknown> = {},
  secret: unknown = { accountSid: "AC1", authToken: "t" },
) => quoteAsProxy(vendor, req, { pricing, objects, secret, missing: { error: { type: "invalid_request_error" } } });

const refusal = (work: Promise<unknown>) => refusalOf(KeybrakeError, work);

const reply = (status: number, body: unknown, headers: Record<string, string> = {}): UpstreamReply => ({
  status,
  headers,
  body: Buffer.from(JSON.stringify(body)),
});

describe("every rule a table names is a function of its adapter, and every function is named by a row", () => {
  for (const vendor of VENDORS) {
    it(vendor, () => {
      const implemented = Object.keys(adapters[vendor].rules).sort();
      assert.deepEqual(implemented, [...PRICING_RULES[vendor]].sort());
      const named = new Set(vendorRoutes[vendor].routes.flatMap((r) => (r.class === "priced" ? [r.rule] : [])));
      assert.deepEqual([...named].sort(), implemented);
      for (const rule of implemented) {
        assert.equal(typeof (adapters[vendor].rules as Record<string, unknown>)[rule], "function");
      }
    });
  }
});

describe("docs/pricing.md is checked against the tables", () => {
  it("names every rule, and every priced route by its path", () => {
    const doc = readFileSync(join(__dirname, "..", "..", "docs", "pricing.md"), "utf8");
    const missing = VENDORS.flatMap((vendor) =>
      vendorRoutes[vendor].routes.flatMap((row) =>
        row.class !== "priced"
          ? []
          : [`\`${row.rule}\``, row.path.replace(/\{[^}]+\}/g, (p) => (vendor === "stripe" ? "{id}" : p))].filter(
              (text) => !doc.includes(text),
            ),
      ),
    );
    assert.deepEqual(missing, []);
  });
});

describe("the vendor a bare path names, for refusals before the key is known", () => {
  it("answers in the shape of the API the path belongs to", () => {
    const vendor = (path: string) => vendorForPath(path.split("/").slice(1));
    assert.equal(vendor("/2010-04-01/Accounts/AC1/Messages.json"), "twilio");
    assert.equal(vendor("/v1/payment_intents"), "stripe");
    assert.equal(vendor("/oauth/token"), "stripe");
    for (const path of ["/emails", "/contacts/c_1", "/segments", "/broadcasts/b_1/send", "/api-keys"]) {
      assert.equal(vendor(path), "resend", path);
    }
    assert.equal(vendor("/anything"), "stripe");
  });
});

describe("classification", () => {
  const kind = (vendor: Vendor, method: string, target: string, headers: Record<string, string> = {}) =>
    classify(vendor, request(method, target, "", headers)).kind;

  it("GET and HEAD are reads; free and priced rows are what the table says", () => {
    assert.equal(kind("stripe", "GET", "/v1/customers/cus_1"), "read");
    assert.equal(kind("stripe", "HEAD", "/v1/customers/cus_1"), "read");
    assert.equal(kind("stripe", "POST", "/v1/customers"), "free");
    assert.equal(kind("stripe", "POST", "/v1/payment_intents"), "priced");
    assert.equal(kind("twilio", "POST", "/2010-04-01/Accounts/AC1/Messages.json"), "priced");
    assert.equal(kind("resend", "DELETE", "/contacts/a@b.io"), "free");
  });

  const refused: Array<[string, Vendor, string, string, Record<string, string>, RegExp]> = [
    [
      "a refused row, naming the operation and why",
      "stripe",
      "POST",
      "/v1/subscriptions",
      {},
      /\(subscriptions\.create\) is refused by keybrake: /,
    ],
    [
      "an unclassified mutating route",
      "stripe",
      "POST",
      "/v1/not_a_resource",
      {},
      /not an operation keybrake has classified/,
    ],
    ["a case variant of a priced route", "stripe", "POST", "/v1/Payment_Intents", {}, /not an operation/],
    [
      "a Stripe route on a Resend key",
      "resend",
      "POST",
      "/v1/payment_intents",
      {},
      /not an operation keybrake has classified for resend/,
    ],
    ["OPTIONS", "stripe", "OPTIONS", "/v1/payment_intents", {}, /does not forward OPTIONS/],
    ["TRACE", "stripe", "TRACE", "/v1/payment_intents", {}, /does not forward TRACE/],
    ["a WebDAV method", "resend", "PROPFIND", "/emails", {}, /does not forward PROPFIND/],
    ["X-HTTP-Method-Override", "stripe", "POST", "/v1/customers", { "x-http-method-override": "DELETE" }, /override/],
    ["X-HTTP-Method on a read", "stripe", "GET", "/v1/customers", { "x-http-method": "POST" }, /x-http-method header/],
    ["X-Method-Override", "resend", "POST", "/emails", { "x-method-override": "PUT" }, /x-method-override/],
    ["_method in the query", "stripe", "POST", "/v1/customers?_method=DELETE", {}, /_method/],
    [
      "a query string on a priced call",
      "stripe",
      "POST",
      "/v1/payment_intents?expand[]=x",
      {},
      /refuses a query string/,
    ],
    ["Twilio credential minting", "twilio", "POST", "/2010-04-01/Accounts/AC1/Keys.json", {}, /refused by keybrake/],
  ];
  for (const [what, vendor, method, target, headers, message] of refused) {
    it(`refuses ${what} with 400 unpriceable_request`, () => {
      let error: unknown;
      try {
        classify(vendor, request(method, target, "", headers));
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof KeybrakeError, what);
      assert.deepEqual([error.status, error.code], [400, "unpriceable_request"]);
      assert.match(error.message, message);
    });
  }

  it("says which operation a refused row is and why, in the refusal's details", () => {
    try {
      classify("stripe", request("POST", "/v1/ephemeral_keys"));
      assert.fail("refused");
    } catch (error) {
      assert.ok(error instanceof KeybrakeError);
      assert.equal(error.details.operation, "ephemeralKeys.create");
      assert.equal(error.details.route, "POST /v1/ephemeral_keys");
      assert.ok(typeof error.details.why === "string" && error.details.why.length > 0);
    }
  });
});

describe("Stripe rules", () => {
  const usd = (amount: number) => amount * 10_000; // minor units (cents) to micro-USD

  it("amount: from the form body; free rows cost 0 without a read", async () => {
    const { quote } = await price("stripe", request("POST", "/v1/payment_intents", "amount=2999&currency=usd"));
    assert.equal(quote.amountMicro, usd(2999));
    const free = await price("stripe", request("POST", "/v1/customers", "balance=100000"));
    assert.deepEqual([free.quote.amountMicro, free.reads], [0, []]);
  });

  it("refund without amount: reserves what the charge moved, not amount − amount_refunded, then settles to the refund", async () => {
    const charge = { id: "ch_1", amount: 5000, amount_refunded: 4000, currency: "usd" };
    const { quote, reads } = await price("stripe", request("POST", "/v1/refunds", "charge=ch_1"), {
      "/v1/charges/ch_1": charge,
    });
    assert.deepEqual(reads, ["/v1/charges/ch_1"]);
    assert.equal(quote.amountMicro, usd(5000));
    assert.equal(quote.settlesFromReply, true);
    const settled = adapters.stripe.settleSuccess(
      request("POST", "/v1/refunds"),
      quote,
      reply(200, { object: "refund", amount: 1000, currency: "usd" }),
    );
    assert.deepEqual(settled, { kind: "settled", actualMicro: usd(1000) });
    // An answer that is not the refund it asked for keeps the reservation.
    const odd = adapters.stripe.settleSuccess(request("POST", "/v1/refunds"), quote, reply(200, { object: "x" }));
    assert.deepEqual(odd, { kind: "settled", actualMicro: usd(5000) });
  });

  it("refund: an id that is not a Stripe id is never read", async () => {
    const error = await refusal(price("stripe", request("POST", "/v1/refunds", "charge=..%2F..%2Fv1%2Fbalance")));
    assert.equal(error.details.param, "charge");
  });

  it("invoice pay: only an open invoice's amount_remaining", async () => {
    const open = { id: "in_1", status: "open", amount_remaining: 1234, currency: "usd" };
    const { quote } = await price("stripe", request("POST", "/v1/invoices/in_1/pay"), { "/v1/invoices/in_1": open });
    assert.equal(quote.amountMicro, usd(1234));
    const draft = { ...open, status: "draft" };
    const error = await refusal(
      price("stripe", request("POST", "/v1/invoices/in_1/pay"), { "/v1/invoices/in_1": draft }),
    );
    assert.match(error.message, /open invoice only; this one is "draft"/);
  });

  it("confirm and capture read the intent the path names", async () => {
    const pi = { id: "pi_1", amount: 700, amount_capturable: 300, currency: "usd" };
    const objects = { "/v1/payment_intents/pi_1": pi };
    assert.equal(
      (await price("stripe", request("POST", "/v1/payment_intents/pi_1/confirm"), objects)).quote.amountMicro,
      usd(700),
    );
    assert.equal(
      (await price("stripe", request("POST", "/v1/payment_intents/pi_1/capture"), objects)).quote.amountMicro,
      usd(300),
    );
    const increment = request("POST", "/v1/payment_intents/pi_1/increment_authorization", "amount=1000");
    assert.equal((await price("stripe", increment, objects)).quote.amountMicro, usd(300));
  });

  // Beyond the table (which already refuses every mutating route below): reads, and headers.
  const guarded: Array<[string, string, string, Record<string, string>, RegExp]> = [
    ["a format suffix on a read", "GET", "/v1/payment_intents.json", {}, /no dots/],
    ["a dotted id on a free route", "POST", "/v1/charges/ch_1.json", {}, /no dots/],
    ["an OAuth read (connect.stripe.com)", "GET", "/oauth/authorize", {}, /connect\.stripe\.com/],
    [
      "a Stripe-Version later than the table's",
      "POST",
      "/v1/customers",
      { "stripe-version": "2099-01-01" },
      /later than/,
    ],
    ["a malformed Stripe-Version", "GET", "/v1/customers", { "stripe-version": "latest" }, /malformed/],
    [
      "two Stripe-Version headers",
      "POST",
      "/v1/customers",
      { "stripe-version": "2024-06-20, 2099-01-01" },
      /malformed/,
    ],
  ];
  for (const [what, method, target, headers, message] of guarded) {
    it(`refuses ${what}`, async () => {
      const error = await refusal(price("stripe", request(method, target, "", headers)));
      assert.equal(error.status, 400);
      assert.match(error.message, message);
    });
  }

  it("refuses reading file contents, which files.stripe.com serves", async () => {
    assert.match(
      (await refusal(price("stripe", request("GET", "/v1/files/file_1/contents")))).message,
      /files\.stripe/,
    );
  });

  it("passes the table's Stripe-Version, an earlier one, or none", async () => {
    for (const version of [vendorRoutes.stripe.specVersion, "2024-06-20", "2026-06-24.dahlia"]) {
      const req = request("POST", "/v1/payment_intents", "amount=1&currency=usd", { "stripe-version": version });
      assert.equal((await price("stripe", req)).quote.amountMicro, 10_000, version);
    }
  });
});

describe("Twilio rules", () => {
  const MESSAGES = "/2010-04-01/Accounts/AC1/Messages";
  const sms = async (body: string, form = ".json") =>
    (await price("twilio", request("POST", `${MESSAGES}${form}`, body))).quote;

  it("prices by destination class: US/Canada at the domestic price, NANP elsewhere and the rest higher", async () => {
    assert.equal(destinationClass("+14155550100"), "domestic");
    assert.equal(destinationClass("+16135550100"), "domestic"); // Ottawa
    for (const to of [
      "+18765550100",
      "+17875550100",
      "+447700900123",
      "whatsapp:+14155550100",
      "4155550100",
      "+1415555010",
      "12345",
    ]) {
      assert.equal(destinationClass(to), "international", to);
    }
    assert.equal((await sms("To=%2B14155550100&Body=hi")).amountMicro, pricing.twilioSegmentMicro);
    assert.equal((await sms("To=%2B18765550100&Body=hi")).amountMicro, pricing.twilioIntlSegmentMicro);
  });

  it("reads parameter names in any case, and refuses a pricing field given twice in any case", async () => {
    assert.equal((await sms(`to=%2B14155550100&body=${"a".repeat(161)}`)).amountMicro, 2 * pricing.twilioSegmentMicro);
    const error = await refusal(sms("To=%2B14155550100&Body=hi&body=long"));
    assert.equal(error.details.param, "Body");
  });

  it("prices a template at the longest body, and an MMS at the higher of the MMS and SMS bounds", async () => {
    assert.equal((await sms("To=%2B14155550100&ContentSid=HX1&Body=hi")).amountMicro, 24 * pricing.twilioSegmentMicro);
    assert.equal((await sms("To=%2B14155550100&MediaUrl=https://x/y.png")).amountMicro, pricing.twilioMmsMicro);
    // 200 UCS-2 units and the converter's link (at most 41 more) is 4 segments, not the body's 3.
    const longMms = await sms(`To=%2B14155550100&SendAsMms=True&Body=${"ç".repeat(200)}`);
    assert.equal(longMms.amountMicro, 4 * pricing.twilioSegmentMicro);
  });

  it("prices an MMS Twilio may convert to an SMS with its body and a link per media (MMS Converter)", async () => {
    // A picture alone to a number that cannot take MMS goes as an SMS of one link: one segment, here international.
    const intl = "To=%2B447700900123&MediaUrl=https://x/y.png";
    assert.equal((await sms(intl)).amountMicro, pricing.twilioIntlSegmentMicro);
    // A full 160-character GSM-7 body is one segment as an SMS, two once the link is appended.
    assert.equal((await sms(`${intl}&Body=${"a".repeat(160)}`)).amountMicro, 2 * pricing.twilioIntlSegmentMicro);
    // Each media gets its own link: 10 links of up to 41 characters are 3 segments.
    const ten = Array.from({ length: 10 }, (_, i) => `MediaUrl=https://x/${i}.png`).join("&");
    assert.equal((await sms(`To=%2B447700900123&${ten}`)).amountMicro, 3 * pricing.twilioIntlSegmentMicro);
  });

  it("prices Messages.json only: the .xml and bare forms answer in XML, which settlement cannot read", async () => {
    for (const form of [".xml", ""]) {
      assert.match((await refusal(sms("To=%2B14155550100&Body=hi", form))).message, /Messages\.json only/);
    }
  });

  it("settles to Twilio's price, above the reservation too", () => {
    const q: Quote = { amountMicro: 20_000, settlesFromReply: true, basis: {} };
    const settle = (body: unknown) =>
      adapters.twilio.settleSuccess(request("POST", `${MESSAGES}.json`), q, reply(201, body));
    assert.deepEqual(settle({ price: "-0.0079", price_unit: "USD" }), { kind: "settled", actualMicro: 7_900 });
    assert.deepEqual(settle({ price: "-0.35", price_unit: "USD" }), { kind: "settled", actualMicro: 350_000 });
    assert.deepEqual(settle({ price: null, price_unit: "USD" }), { kind: "settled", actualMicro: 20_000 });
    assert.deepEqual(settle({ price: "-0.35", price_unit: "EUR" }), { kind: "settled", actualMicro: 20_000 });
  });
});

describe("Resend rules", () => {
  const send = async (body: unknown, batch = false, headers: Record<string, string> = {}) =>
    (await price("resend", request("POST", batch ? "/emails/batch" : "/emails", JSON.stringify(body), headers))).quote;
  const mail = (fields: Record<string, unknown>) => ({ from: "a@x.io", subject: "s", text: "t", ...fields });

  it("counts each to, cc and bcc recipient; Name <a@b> and quoted names are one each", async () => {
    const quote = await send(
      mail({ to: ["Ann <ann@x.io>", '"Doe, John" <j@x.io>'], cc: "c@x.io", bcc: [], reply_to: "r@x.io" }),
    );
    assert.equal(quote.amountMicro, 3 * pricing.resendEmailMicro);
    assert.deepEqual(quote.basis, { emails: 1, recipients: 3 });
  });

  const refused: Array<[string, unknown, boolean, RegExp]> = [
    ["an empty to", mail({ to: [] }), false, /at least one recipient/],
    ["an empty recipient string", mail({ to: ["a@x.io", " "] }), false, /empty recipient/],
    ["a list in one string", mail({ to: "a@x.io, b@x.io" }), false, /cannot count/],
    ["a semicolon list", mail({ to: "a@x.io; b@x.io" }), false, /cannot count/],
    ["an unquoted name with a comma", mail({ to: "Doe, John <j@x.io>" }), false, /cannot count/],
    ["a non-string recipient", mail({ to: ["a@x.io", 7] }), false, /strings only/],
    ["an object recipient", mail({ to: { a: "a@x.io" } }), false, /string or an array/],
    ["a missing to", mail({}), false, /to is required/],
    ["more than 50 to", mail({ to: Array.from({ length: 51 }, (_, i) => `u${i}@x.io`) }), false, /more than 50/],
    ["a key repeated in another case", mail({ to: "a@x.io", TO: ["b@x.io", "c@x.io"] }), false, /different cases/],
    ["a recipient field in another case only", mail({ To: "a@x.io" }), false, /lower case/],
    ["a custom Bcc header", mail({ to: "a@x.io", headers: { "X-Entity": "1", Bcc: "b@y.io" } }), false, /"Bcc"/],
    ["a custom Resent-To header", mail({ to: "a@x.io", headers: { " resent-to": "b@y.io" } }), false, /resent-to/],
    ["custom To headers in a batch", [mail({ to: "a@x.io", Headers: { TO: "b@y.io" } })], true, /"TO"/],
    ["a batch that is not an array", mail({ to: "a@x.io" }), true, /JSON array of 1 to 100/],
    ["an empty batch", [], true, /JSON array of 1 to 100/],
    ["a permissive batch whose recipients are all empty", [mail({ to: [] }), mail({ to: [] })], true, /at least one/],
  ];
  for (const [what, body, batch, message] of refused) {
    it(`refuses ${what}`, async () =>
      assert.match((await refusal(send(body, batch, { "x-batch-validation": "permissive" }))).message, message));
  }

  it("lets custom headers through that address no one", async () => {
    const quote = await send(mail({ to: "a@x.io", headers: { "X-Entity-Ref-ID": "123", "Reply-To": "r@x.io" } }));
    assert.equal(quote.amountMicro, pricing.resendEmailMicro);
  });

  it("refuses a duplicate key written with escapes (the JSON reader unescapes before comparing)", async () => {
    const req = request("POST", "/emails", '{"from":"a@x.io","to":"b@x.io","t\\u006f":["c@x.io","d@x.io"]}');
    assert.match((await refusal(price("resend", req))).message, /key "to" twice/);
  });

  it("settles a permissive batch to the accepted emails' recipients, with integer math", async () => {
    const quote = await send(
      [mail({ to: ["a@x.io", "b@x.io"] }), mail({ to: "c@x.io", cc: "d@x.io" }), mail({ to: "e@x.io" })],
      true,
      {
        "x-batch-validation": "permissive",
      },
    );
    assert.equal(quote.amountMicro, 5 * pricing.resendEmailMicro);
    const settle = (body: unknown) =>
      adapters.resend.settleSuccess(request("POST", "/emails/batch"), quote, reply(200, body));
    assert.deepEqual(settle({ data: [{ id: "1" }], errors: [{ index: 1 }, { index: 2 }] }), {
      kind: "settled",
      actualMicro: 2 * pricing.resendEmailMicro,
    });
    assert.deepEqual(settle({ data: [], errors: [{ index: 0 }, { index: 1 }, { index: 2 }] }), {
      kind: "settled",
      actualMicro: 0,
    });
    assert.deepEqual(settle({ data: [{ id: "1" }, { id: "2" }, { id: "3" }] }), {
      kind: "settled",
      actualMicro: 5 * pricing.resendEmailMicro,
    });
    const strict = await send([mail({ to: "a@x.io" })], true);
    assert.equal(strict.settlesFromReply, false);
  });
});
