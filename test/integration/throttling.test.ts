// A hot budget under DynamoDB's per-item write limit (docs/performance.md#a-hot-budget), simulated by a client
// middleware that refuses writes above the limit on any one item as DynamoDB does. What must hold while parts are
// throttled: the cap stays exact (a 429 only when the budget's total truly does not fit, never because a part was
// busy), a call the ledger could not decide in time is answered 503 and reaches nobody, and the audit trail, the key
// items and the budget's parts agree.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { reservationTotals } from "../../lambda/audit/accounting";
import { isSpendRecord } from "../../lambda/audit/filter";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { dynamoEndpoint, STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { type Throttle, throttleWrites } from "../support/throttle";

describe("a hot budget under a per-item write limit", () => {
  let stack: Stack;
  let throttle: Throttle;
  before(async () => {
    const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    throttle = throttleWrites(db, Number.POSITIVE_INFINITY);
    stack = await startStack({ db });
  });
  after(() => stack.close());

  it("stays exact: a 429 only once the budget is really full, 503 (never forwarded) when a part stayed busy", async () => {
    const budget = (
      await stack.issuer("POST", "/vault/budgets", {
        vendor: "stripe",
        daily_usd_cap: 150,
        expires_in: "1h",
        agent_run_label: "throttled/batch",
        parts: 4,
      })
    ).body as { budget_id: string };
    const keys = [];
    for (let i = 0; i < 120; i += 20) {
      keys.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, () => stack.issue({ ...STRIPE_KEY_REQUEST, budget_id: budget.budget_id })),
        )),
      );
    }
    // 8 writes a second on any one item, from here on: far below what 120 calls at once ask of 4 parts.
    throttle.setLimit(8);
    const before = stack.vendors.stripe.received.length;
    const answers = await Promise.all(
      keys.map(async (k) => {
        const res = await fetch(`${stack.url}/v1/payment_intents`, {
          method: "POST",
          headers: { authorization: `Bearer ${k.vault_key}`, "content-type": "application/x-www-form-urlencoded" },
          body: "amount=2999&currency=usd",
        });
        return { status: res.status, body: (await res.json()) as { error?: { code: string; cap?: string } } };
      }),
    );
    throttle.setLimit(Number.POSITIVE_INFINITY);
    const ok = answers.filter((a) => a.status === 200).length;
    const full = answers.filter((a) => a.status === 429);
    const busy = answers.filter((a) => a.status === 503);
    assert.equal(ok + full.length + busy.length, keys.length, "every call was decided or answered 503");
    assert.ok(
      [...throttle.refused.keys()].some((pk) => pk.startsWith(`B#${budget.budget_id}#`)),
      "the budget's parts were throttled",
    );
    assert.ok(ok <= 5, `at most 5 fit the budget, ${ok} went through`);
    if (full.length > 0) assert.equal(ok, 5, "refused as over the cap only once the budget was full");
    for (const refused of full) assert.equal(refused.body.error?.cap, "budget");
    for (const contended of busy) {
      assert.match(contended.body.error!.code, /^keybrake_(budget_contended|ledger_unavailable)$/);
    }
    assert.equal(stack.vendors.stripe.received.length - before, ok, "only the reserved calls reached Stripe");
    await stack.server.idle();
    const shown = (await stack.issuer("GET", `/vault/budgets/${budget.budget_id}`)).body;
    assert.equal(shown.spent_today_usd, Math.round(ok * 29.99 * 100) / 100);
    const audited = reservationTotals(
      stack.audit.filter(isSpendRecord).filter((r) => r.budget_id === budget.budget_id),
    );
    assert.equal(audited.spent_usd, shown.spent_today_usd);
    console.log(`throttled budget: ${ok} through, ${full.length} refused (full), ${busy.length} answered 503`);
  });
});
