// The README's Python example (the Modal billing agent rewritten against keybrake), run for real with Debian's
// python3-stripe and python3-httpx against local mode.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { BudgetEventRecord, KeyIssuedRecord, KeyRevokedRecord } from "../../lambda/audit/record";
import { SECRETS } from "../support/fake-vendors";
import { snippet } from "../support/markdown";
import { ISSUER_TOKEN, type Stack, startStack } from "../support/stack";

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
    // The seed's pattern: one budget for the batch, one key per invocation locked to its customer and drawing from
    // the budget, revoked when the invocation returns (the refused one too).
    await stack.server.idle();
    const [budget, ...others] = stack.audit.filter((r): r is BudgetEventRecord => r.event === "budget_created");
    assert.equal(others.length, 0);
    assert.deepEqual(
      [budget!.daily_usd_cap, budget!.parts, budget!.agent_run_label],
      [150, 4, "modal-billing/batch-1"],
    );
    const issued = stack.audit.filter((r): r is KeyIssuedRecord => r.event === "key_issued");
    assert.deepEqual(
      issued.map((r) => [r.agent_run_label, r.budget_id, r.counterparty]),
      [
        ["modal-billing/cus_123", budget!.budget_id, { stripe_customer: "cus_123" }],
        ["modal-billing/cus_456", budget!.budget_id, { stripe_customer: "cus_456" }],
      ],
    );
    assert.deepEqual(
      stack.audit.filter((r): r is KeyRevokedRecord => r.event === "key_revoked").map((r) => r.key_id),
      issued.map((r) => r.key_id),
      "each invocation's key is revoked when it returns",
    );
    const shown = await stack.issuer("GET", `/vault/budgets/${budget!.budget_id}`);
    assert.deepEqual([shown.body.spent_today_usd, shown.body.keys], [29.99, 2]);
  });
});
