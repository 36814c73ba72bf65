import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { SECRETS } from "../support/fake-vendors";
import { snippet } from "../support/markdown";
import { ISSUER_TOKEN, type Stack, startStack } from "../support/stack";

/**
 * The README's Python example (the Modal billing agent rewritten against keybrake), run for real with
 * Debian's python3-stripe and python3-httpx against local mode.
 */
const ROOT = join(__dirname, "..", "..");
const EXAMPLE = join(ROOT, "examples", "modal_billing.py");
const PYTHON = "/usr/bin/python3";

describe("README Python example", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("is the example the README shows", () => {
    assert.equal(snippet("README.md", "modal-example"), readFileSync(EXAMPLE, "utf8"), "README.md embeds it verbatim");
  });

  it("charges inside the cap and is refused by keybrake past it", async () => {
    const { stdout } = await promisify(execFile)(PYTHON, [EXAMPLE], {
      env: { PATH: process.env.PATH, KEYBRAKE_URL: stack.url, KEYBRAKE_API_KEY: ISSUER_TOKEN },
    });
    assert.match(stdout, /^charged pi_[0-9a-f]+$/m);
    assert.match(stdout, /^refused by keybrake: 429 keybrake_cap_exceeded$/m);
    const received = stack.vendors.stripe.received;
    assert.equal(received.length, 1, "the 9,999 USD charge never reached Stripe");
    assert.equal(received[0]!.url, "/v1/payment_intents");
    assert.equal(received[0]!.headers.authorization, `Bearer ${SECRETS.STRIPE_SECRET_KEY}`);
    assert.equal(received[0]!.headers["idempotency-key"], "modal-cus_123-2999");
    assert.deepEqual(Object.fromEntries(new URLSearchParams(received[0]!.body)), {
      amount: "2999",
      currency: "usd",
      customer: "cus_123",
    });
  });
});
