// Bad input on every route: always a clear 4xx naming the problem, never a 5xx, never a forwarded call. Raw node:http
// requests are used where fetch would normalise the path before sending it.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";

function raw(
  stack: Stack,
  method: string,
  target: string,
  headers: Record<string, string>,
  body = "",
): Promise<{ status: number; body: string }> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const framing = body ? { "content-length": String(Buffer.byteLength(body)) } : {};
    const req = request(
      { host: url.hostname, port: url.port, method, path: target, headers: { ...headers, ...framing } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on("error", reject);
    // A refused upload is cut off mid-write (EPIPE) after the answer arrived: that is the expected outcome.
    req.on("socket", (socket) => socket.on("error", () => undefined));
    req.end(body);
  });
}

describe("bad input on the issuer routes", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const cases: Array<[string, unknown, string]> = [
    ["malformed JSON", "{not json", "body"],
    ["an array body", [], "body"],
    ["an unknown field", { ...STRIPE_KEY_REQUEST, daily_cap: 5 }, "daily_cap"],
    ["an unknown vendor", { ...STRIPE_KEY_REQUEST, vendor: "paypal" }, "vendor"],
    ["a negative cap", { ...STRIPE_KEY_REQUEST, daily_usd_cap: -5 }, "daily_usd_cap"],
    ["a zero cap", { ...STRIPE_KEY_REQUEST, daily_usd_cap: 0 }, "daily_usd_cap"],
    ["an absurd cap", { ...STRIPE_KEY_REQUEST, daily_usd_cap: 1e12 }, "daily_usd_cap"],
    ["a cap as a string", { ...STRIPE_KEY_REQUEST, daily_usd_cap: "50" }, "daily_usd_cap"],
    ["a sub-micro cap", { ...STRIPE_KEY_REQUEST, daily_usd_cap: 0.0000001 }, "daily_usd_cap"],
    ["no endpoints", { ...STRIPE_KEY_REQUEST, allowed_endpoints: [] }, "allowed_endpoints"],
    [
      "a lowercase method",
      { ...STRIPE_KEY_REQUEST, allowed_endpoints: ["post /v1/payment_intents"] },
      "allowed_endpoints",
    ],
    ["a relative path", { ...STRIPE_KEY_REQUEST, allowed_endpoints: ["POST v1/payment_intents"] }, "allowed_endpoints"],
    ["a dot-dot path", { ...STRIPE_KEY_REQUEST, allowed_endpoints: ["POST /v1/../customers"] }, "allowed_endpoints"],
    ["a non-string endpoint", { ...STRIPE_KEY_REQUEST, allowed_endpoints: [42] }, "allowed_endpoints"],
    ["a bad duration", { ...STRIPE_KEY_REQUEST, expires_in: "5x" }, "expires_in"],
    ["a negative duration", { ...STRIPE_KEY_REQUEST, expires_in: -1 }, "expires_in"],
    ["a too long duration", { ...STRIPE_KEY_REQUEST, expires_in: "31d" }, "expires_in"],
    ["an oversized label", { ...STRIPE_KEY_REQUEST, agent_run_label: "x".repeat(257) }, "agent_run_label"],
    ["a label with a newline", { ...STRIPE_KEY_REQUEST, agent_run_label: "a\nb" }, "agent_run_label"],
    ["a per-call cap above the daily cap", { ...STRIPE_KEY_REQUEST, max_request_usd: 51 }, "max_request_usd"],
  ];
  for (const [what, body, field] of cases) {
    it(`refuses ${what} with 400 naming ${field}`, async () => {
      const res = await stack.issuer("POST", "/vault/keys", body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.field, field);
      assert.equal(res.body.error.code, "invalid_request");
    });
  }

  it("refuses a missing or wrong issuer token with 401", async () => {
    assert.equal((await stack.issuer("POST", "/vault/keys", STRIPE_KEY_REQUEST, "")).status, 401);
    const wrong = await stack.issuer("POST", "/vault/keys", STRIPE_KEY_REQUEST, "kbt_wrong");
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, "invalid_issuer_token");
  });

  it("refuses a huge body with 413", async () => {
    const res = await stack.issuer("POST", "/vault/keys", {
      ...STRIPE_KEY_REQUEST,
      agent_run_label: "x".repeat(200_000),
    });
    assert.equal(res.status, 413);
  });

  it("answers 404 for unknown keys and routes, and 400 for a bad revoke body", async () => {
    assert.equal((await stack.issuer("GET", "/vault/keys/0123456789abcdef")).status, 404);
    assert.equal((await stack.issuer("DELETE", "/vault/keys/nope")).status, 404);
    assert.equal((await stack.issuer("GET", "/vault/nothing")).status, 404);
    const revoke = await stack.issuer("POST", "/vault/revoke", { agent_run_label_prefix: 7 });
    assert.equal(revoke.status, 400);
    assert.equal(revoke.body.error.field, "agent_run_label_prefix");
  });
});

describe("bad input on the proxy routes", () => {
  let stack: Stack;
  let vaultKey: string;
  before(async () => {
    stack = await startStack();
    vaultKey = (
      await stack.issue({
        ...STRIPE_KEY_REQUEST,
        allowed_endpoints: ["POST /v1/payment_intents", "GET /v1/customers/*"],
      })
    ).vault_key;
  });
  after(() => stack.close());

  const form = () => ({ authorization: `Bearer ${vaultKey}`, "content-type": "application/x-www-form-urlencoded" });
  const tricks: Array<[string, string, string, number]> = [
    ["a dot-dot segment", "POST", "/stripe/v1/../v1/payment_intents", 400],
    ["an encoded dot-dot", "POST", "/stripe/v1/%2e%2e/v1/payment_intents", 400],
    ["an encoded slash", "GET", "/stripe/v1/customers/cus_1%2F..%2F..%2Fpayment_intents", 400],
    ["an encoded backslash", "GET", "/stripe/v1/customers/cus_1%5Cx", 400],
    ["a malformed escape", "GET", "/stripe/v1/customers/%zz", 400],
    ["an absolute-form target", "POST", "http://evil.example/v1/payment_intents", 400],
    ["another vendor's path", "POST", "/twilio/2010-04-01/Accounts/AC1/Messages.json", 403],
    ["a vendor prefix alone", "GET", "/stripe", 400],
    ["an endpoint outside the allowlist", "POST", "/v1/customers", 403],
    ["an empty segment", "GET", "/v1//customers/cus_1", 400],
  ];
  for (const [what, method, target, status] of tricks) {
    it(`refuses ${what} with ${status} and forwards nothing`, async () => {
      const res = await raw(stack, method, target, form(), "amount=100&currency=usd");
      assert.equal(res.status, status, res.body);
      const parsed = JSON.parse(res.body);
      assert.ok((parsed.error?.message ?? parsed.message).length > 0, "the refusal says why");
      assert.equal(stack.vendors.all().length, 0);
    });
  }

  it("refuses missing, malformed and foreign credentials with 401", async () => {
    for (const authorization of [
      "",
      "Bearer",
      "Bearer sk_live_not_a_vault_key",
      "Basic !!!",
      `Bearer ${vaultKey.slice(0, -1)}x`,
      "Digest abc",
    ]) {
      const res = await raw(
        stack,
        "POST",
        "/v1/payment_intents",
        { authorization, "content-type": "application/x-www-form-urlencoded" },
        "amount=1&currency=usd",
      );
      assert.equal(res.status, 401, authorization);
    }
    assert.equal(stack.vendors.all().length, 0);
  });

  it("refuses bodies that cannot be priced, and huge bodies", async () => {
    const json = await raw(
      stack,
      "POST",
      "/v1/payment_intents",
      { authorization: `Bearer ${vaultKey}`, "content-type": "application/json" },
      '{"amount":100,"currency":"usd"}',
    );
    assert.equal(json.status, 400);
    const missing = await raw(stack, "POST", "/v1/payment_intents", form(), "currency=usd");
    assert.equal(missing.status, 400);
    assert.equal(JSON.parse(missing.body).error.param, "amount");
    const huge = await raw(
      stack,
      "POST",
      "/v1/payment_intents",
      form(),
      `amount=100&currency=usd&description=${"x".repeat(6 * 1024 * 1024)}`,
    );
    assert.equal(huge.status, 413);
    assert.equal(stack.vendors.all().length, 0);
  });
});
