// Table tests for the pure parsers every request and every deployment goes through: money, durations,
// allowlist entries, the vault key's place in Authorization, key requests, issuer ceilings, and the contract
// between the component and the handlers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDurationSeconds } from "../../lambda/core/duration";
import { matchesEndpoint, parseEndpointPattern, patternWithin } from "../../lambda/core/endpoints";
import { InvalidRequestError } from "../../lambda/core/errors";
import { decimalToMicro, sumUsd, usdNumberToMicro } from "../../lambda/core/money";
import {
  issuerEnvironment,
  proxyEnvironment,
  readIssuerConfig,
  readProxyConfig,
  readSweepConfig,
  sweepEnvironment,
} from "../../lambda/handlers/config";
import { parseCeilings, parseIssuers } from "../../lambda/issuer/ceilings";
import { enforceCeilings } from "../../lambda/issuer/service";
import { validateKeyRequest, validateRevokeRequest } from "../../lambda/issuer/validate";
import { presentedVaultKey } from "../../lambda/proxy/key-cache";

describe("money: decimal text and USD numbers as integer micro-USD", () => {
  const decimals: Array<[string, number | undefined]> = [
    ["12", 12_000_000],
    ["0.0083", 8_300],
    ["-0.00750", -7_500],
    ["0.0000001", 1], // below a micro-USD rounds away from zero: a price is an upper bound
    ["-0.0000001", -1],
    ["1.999999", 1_999_999],
    [" 3.5 ", 3_500_000],
    ["1e3", undefined],
    ["0x10", undefined],
    ["", undefined],
    ["1.", undefined],
    [".5", undefined],
    ["1234567890123", undefined],
  ];
  for (const [text, micro] of decimals) {
    it(`decimalToMicro(${JSON.stringify(text)}) = ${micro}`, () => assert.equal(decimalToMicro(text), micro));
  }
  const numbers: Array<[number, number | undefined]> = [
    [50, 50_000_000],
    [29.99, 29_990_000],
    [0.000001, 1],
    [0.0000001, undefined], // more than 6 decimals is refused, not rounded
    [Number.NaN, undefined],
    [Number.POSITIVE_INFINITY, undefined],
  ];
  for (const [value, micro] of numbers) {
    it(`usdNumberToMicro(${value}) = ${micro}`, () => assert.equal(usdNumberToMicro(value), micro));
  }
  it("sums USD amounts exactly", () => assert.equal(sumUsd([0.1, 0.2, 29.99]), 30.29));
});

describe("durations", () => {
  const cases: Array<[unknown, number | undefined]> = [
    ["30s", 30],
    ["5m", 300],
    ["2h", 7200],
    ["1d", 86_400],
    ["90", 90],
    [90, 90],
    [0, undefined],
    ["0s", undefined],
    [1.5, undefined],
    ["1w", undefined],
    ["-5m", undefined],
    [" 5m", undefined],
    [null, undefined],
  ];
  for (const [input, seconds] of cases) {
    it(`${JSON.stringify(input)} → ${seconds}`, () => assert.equal(parseDurationSeconds(input), seconds));
  }
});

describe("allowlist entries", () => {
  const valid = ["POST /v1/payment_intents", "GET /v1/customers/*", "DELETE /emails/*", "POST /v1/*/*/*"];
  for (const text of valid) it(`accepts ${text}`, () => assert.ok(parseEndpointPattern(text)));
  const invalid = [
    "post /v1/payment_intents", // methods are upper case
    "POST v1/payment_intents",
    "POST  /v1/x",
    "HEAD /v1/x",
    "POST /v1/../customers",
    "POST /v1/./x",
    "POST /v1/a%2Fb",
    "POST /v1/x?y=1",
    "POST /v1/x y",
    `POST /${"a".repeat(300)}`,
    42,
  ];
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseEndpointPattern(text), undefined));
  }
  it("`*` matches exactly one segment, of the same method and length", () => {
    const pattern = parseEndpointPattern("POST /v1/payment_intents/*/confirm")!;
    assert.equal(matchesEndpoint(pattern, "POST", ["v1", "payment_intents", "pi_1", "confirm"]), true);
    assert.equal(matchesEndpoint(pattern, "GET", ["v1", "payment_intents", "pi_1", "confirm"]), false);
    assert.equal(matchesEndpoint(pattern, "POST", ["v1", "payment_intents", "confirm"]), false);
    assert.equal(matchesEndpoint(pattern, "POST", ["v1", "payment_intents", "pi_1", "capture"]), false);
  });
  it("an entry is within a ceiling only when every request it matches is matched by the ceiling", () => {
    const p = (text: string) => parseEndpointPattern(text)!;
    assert.equal(patternWithin(p("POST /v1/payment_intents"), p("POST /v1/*")), true);
    assert.equal(patternWithin(p("POST /v1/*"), p("POST /v1/payment_intents")), false);
    assert.equal(patternWithin(p("POST /v1/refunds"), p("GET /v1/*")), false);
  });
});

describe("the vault key's place in Authorization", () => {
  const vk = `vk_0123456789abcdef_${"a".repeat(43)}`;
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const cases: Array<[string | null, string | undefined, string]> = [
    [`Bearer ${vk}`, vk, "Bearer (stripe-node, Resend)"],
    [`bearer   ${vk}`, vk, "scheme in any case, extra spaces"],
    [basic(vk, ""), vk, "Basic with the key as user name (curl -u vk_…:)"],
    [basic("AC00000000000000000000000000000001", vk), vk, "Basic with the key as password (Twilio)"],
    [basic("AC1", "sk_live_real"), undefined, "a Basic pair with no vault key"],
    ["Bearer ", undefined, "an empty Bearer"],
    [null, undefined, "no header"],
    [`Token ${vk}`, undefined, "another scheme"],
  ];
  for (const [header, expected, what] of cases) {
    it(what, () => assert.equal(presentedVaultKey(header), expected));
  }
});

describe("POST /vault/keys bodies", () => {
  const good = {
    vendor: "stripe",
    daily_usd_cap: 50,
    allowed_endpoints: ["POST /v1/payment_intents"],
    expires_in: "5m",
    agent_run_label: "modal-billing/cus_123",
  };
  it("reads a good body", () => {
    const request = validateKeyRequest(good);
    assert.equal(request.capMicro, 50_000_000);
    assert.equal(request.expiresInSeconds, 300);
    assert.deepEqual(
      request.allowedEndpoints.map((p) => p.text),
      ["POST /v1/payment_intents"],
    );
  });
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ ...good, vendor: "paypal" }, "vendor"],
    [{ ...good, daily_usd_cap: 0 }, "daily_usd_cap"],
    [{ ...good, daily_usd_cap: "50" }, "daily_usd_cap"],
    [{ ...good, daily_usd_cap: 1_000_001 }, "daily_usd_cap"],
    [{ ...good, daily_usd_cap: 0.0000001 }, "daily_usd_cap"],
    [{ ...good, max_request_usd: 60 }, "max_request_usd"],
    [{ ...good, allowed_endpoints: [] }, "allowed_endpoints"],
    [{ ...good, allowed_endpoints: ["POST /v1/../x"] }, "allowed_endpoints"],
    [{ ...good, expires_in: "31d" }, "expires_in"],
    [{ ...good, agent_run_label: "" }, "agent_run_label"],
    [{ ...good, agent_run_label: "a\nb" }, "agent_run_label"],
    [{ ...good, agent_run_label: "a\u009b31mb" }, "agent_run_label"], // C1 controls: an 8-bit CSI
    [{ ...good, agent_run_label: "a\u0085b" }, "agent_run_label"],
    [{ ...good, agent_run_label: "a\ud800b" }, "agent_run_label"], // half a surrogate pair: no character at all
    [{ ...good, agent_run_label: "a\udc00" }, "agent_run_label"],
    [{ ...good, agent_run_label: "x".repeat(257) }, "agent_run_label"],
    [{ ...good, daily_cap: 50 }, "daily_cap"],
  ];
  for (const [body, field] of bad) {
    it(`refuses a bad ${field}, naming it`, () =>
      assert.throws(
        () => validateKeyRequest(body),
        (e: { field?: string }) => e.field === field,
      ));
  }
});

describe("issuer ceilings, parsed once for the component and the issuer Lambda", () => {
  it("reads every ceiling", () => {
    const ceilings = parseCeilings(
      {
        vendors: ["stripe"],
        max_daily_usd_cap: 150,
        max_request_usd: 40,
        max_expires_in: "1h",
        allowed_endpoints: ["POST /v1/*"],
        label_prefix: "modal-billing/",
      },
      "issuers.billing",
    );
    assert.equal(ceilings.maxDailyCapMicro, 150_000_000);
    assert.equal(ceilings.maxRequestMicro, 40_000_000);
    assert.equal(ceilings.maxExpiresInSeconds, 3600);
    assert.equal(ceilings.labelPrefix, "modal-billing/");
  });
  const bad: Array<[unknown, RegExp]> = [
    [{ max_daily_cap: 150 }, /issuers\.billing\.max_daily_cap is not a known field/],
    [{ label_prefx: "a/" }, /issuers\.billing\.label_prefx is not a known field/],
    [{ max_daily_usd_cap: "150" }, /max_daily_usd_cap must be > 0.*the string "150" \(write a number\)/],
    [{ max_daily_usd_cap: 0 }, /max_daily_usd_cap must be > 0/],
    [{ vendors: "stripe" }, /vendors must be a list/],
    [{ vendors: ["strpe"] }, /vendors: unknown vendor strpe/],
    [{ max_expires_in: "forever" }, /max_expires_in/],
    [{ allowed_endpoints: ["payment_intents"] }, /allowed_endpoints\[0\]/],
    [{ label_prefix: "" }, /label_prefix/],
    ["stripe", /issuers\.billing must be an object/],
  ];
  for (const [raw, message] of bad) {
    it(`refuses ${JSON.stringify(raw)}`, () => assert.throws(() => parseCeilings(raw, "issuers.billing"), message));
  }
  it("a key in shadow mode has no hard cap, so an issuer with a cap ceiling may not grant one (403 naming it)", () => {
    const key = validateKeyRequest({
      vendor: "stripe",
      daily_usd_cap: 5,
      max_request_usd: 1,
      allowed_endpoints: ["POST /v1/payment_intents"],
      expires_in: "5m",
      agent_run_label: "modal-billing/x",
      mode: "shadow",
    });
    const issuer = (ceilings: object) => ({
      name: "billing",
      tokenSha256: "a".repeat(64),
      ceilings: parseCeilings(ceilings, "issuers.billing"),
    });
    const ceilingOf = (ceilings: object) => {
      try {
        enforceCeilings(issuer(ceilings), key);
        return undefined;
      } catch (error) {
        return [(error as { status: number }).status, (error as { details: { ceiling: string } }).details.ceiling];
      }
    };
    assert.deepEqual(ceilingOf({ max_daily_usd_cap: 150 }), [403, "max_daily_usd_cap"]);
    assert.deepEqual(ceilingOf({ max_request_usd: 40 }), [403, "max_request_usd"]);
    // Without a cap ceiling, shadow mode is the issuer's to choose; the same key in enforce mode passes both.
    assert.equal(ceilingOf({ label_prefix: "modal-billing/", daily_usd_budget: { stripe: 100 } }), undefined);
    const { mode: _m, ...enforced } = key;
    assert.doesNotThrow(() => enforceCeilings(issuer({ max_daily_usd_cap: 150, max_request_usd: 40 }), enforced));
  });
  it("the Lambda's KEYBRAKE_ISSUERS carries each token's hash, and refuses a misspelled ceiling too", () => {
    const hash = "a".repeat(64);
    const [issuer] = parseIssuers({ billing: { token_sha256: hash, max_daily_usd_cap: 5 } });
    assert.equal(issuer?.tokenSha256, hash);
    assert.throws(() => parseIssuers({ billing: { token_sha256: hash, max_daily_cap: 5 } }), /max_daily_cap/);
    assert.throws(() => parseIssuers({ billing: { token_sha256: "nope" } }), /token_sha256/);
    assert.throws(() => parseIssuers({ "bad name": { token_sha256: hash } }), /issuer names/);
    assert.throws(
      () => parseIssuers({ billing: { token_sha256: hash }, notify: { token_sha256: hash } }),
      /issuers\.notify\.token_sha256 is another issuer's token too/,
    );
  });
  it("POST /vault/revoke takes agent_run_label_prefix and nothing else", () => {
    assert.equal(validateRevokeRequest({ agent_run_label_prefix: "modal-billing/" }), "modal-billing/");
    for (const [body, field] of [
      [{ agent_run_label_prefix: "x", foo: 1 }, "foo"],
      [{ agent_run_label: "x" }, "agent_run_label"],
      [{}, "agent_run_label_prefix"],
      [{ agent_run_label_prefix: "" }, "agent_run_label_prefix"],
      [[], "body"],
    ] as const) {
      assert.throws(
        () => validateRevokeRequest(body),
        (e: unknown) => e instanceof InvalidRequestError && e.field === field,
        JSON.stringify(body),
      );
    }
  });
});

describe("the component's environment is what the handlers read", () => {
  it("issuer", () => {
    const issuersJson = JSON.stringify({ billing: { token_sha256: "b".repeat(64), vendors: ["stripe"] } });
    const env = issuerEnvironment({ table: "ledger", issuersJson, enabledVendors: ["stripe", "resend"] });
    const config = readIssuerConfig(env);
    assert.equal(config.table, "ledger");
    assert.deepEqual([...config.enabledVendors], ["stripe", "resend"]);
    assert.deepEqual(config.issuers[0]?.ceilings.vendors, ["stripe"]);
  });
  it("proxy", () => {
    const env = proxyEnvironment({
      table: "ledger",
      secretArns: { stripe: "arn:stripe", twilio: "arn:twilio" },
      pricing: { resend_email_usd: "0.002" },
    });
    const config = readProxyConfig(env);
    assert.deepEqual(config.secretArns, { stripe: "arn:stripe", twilio: "arn:twilio" });
    assert.equal(config.pricing.resendEmailMicro, 2_000);
    assert.equal(config.upstreams.stripe, "https://api.stripe.com");
  });
  it("sweep", () => assert.deepEqual(readSweepConfig(sweepEnvironment({ table: "ledger" })), { table: "ledger" }));
  it("a handler without its table fails at init, naming the variable", () =>
    assert.throws(() => readSweepConfig({}), /KEYBRAKE_TABLE is required/));
});
