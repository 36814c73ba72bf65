// The seed's scenario (docs/guarantees.md#9-caps-stack): a Modal `.map()` whose batch was expected to cost $150, each
// invocation allowed $50 and locked to its own customer. Before budgets, 400 keys of $50 could move $20,000; with one
// $150 budget they draw from, 400 concurrent $29.99 PaymentIntents get exactly 5 through (5 x 29.99 = 149.95; a sixth
// would cross), whatever the budget's number of parts, on one process or three.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { reservationTotals } from "../../lambda/audit/accounting";
import { isSpendRecord } from "../../lambda/audit/filter";
import type { AuditRecord } from "../../lambda/audit/record";
import { type FakeVendors, startFakeVendors } from "../support/fake-vendors";
import { shapeMatches, snippet } from "../support/markdown";
import { type LocalProcess, localEnv, spawnInstances } from "../support/processes";
import { type Issuer, issuerAt, type Stack, startStack, tally } from "../support/stack";
import { postTwilioMessage, TWILIO_MESSAGES } from "../support/vendor-calls";

const KEYS = 400;

interface Issued {
  key_id: string;
  vault_key: string;
}

/** Issues `count` keys, 16 at a time (issuance is not what these tests measure). */
async function issueAll(issuer: Issuer, count: number, body: (i: number) => unknown): Promise<Issued[]> {
  const keys: Issued[] = [];
  for (let at = 0; at < count; at += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, count - at) }, (_, j) => issuer("POST", "/vault/keys", body(at + j))),
    );
    for (const res of batch) {
      assert.equal(res.status, 201, JSON.stringify(res.body));
      keys.push(res.body);
    }
  }
  return keys;
}

interface Answer {
  status: number;
  remaining: string | null;
  body: any;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  return { status: res.status, remaining: res.headers.get("keybrake-remaining-usd"), body: JSON.parse(text) };
}

/** keybrake's code in any vendor's error shape: Stripe's `error.code` (prefixed), Twilio's and Resend's `keybrake_code`. */
const keybrakeCode = (body: Answer["body"]): string | undefined =>
  body?.keybrake_code ?? body?.error?.code?.replace(/^keybrake_/, "");

/**
 * Exactly five calls through (`forwarded`); every other one refused at the cap (429) or, when its budget's parts
 * stayed contended until its reservation's time ran out (a busy machine), answered 503 `budget_contended`. Neither
 * reaches the vendor: each caller also counts what the vendor received.
 */
function assertFiveThrough(answers: Answer[], forwarded = 200): void {
  const counts = JSON.stringify(tally(answers));
  assert.equal(answers.filter((a) => a.status === forwarded).length, 5, counts);
  for (const a of answers.filter((a) => a.status !== forwarded)) {
    if (a.status === 503) assert.equal(keybrakeCode(a.body), "budget_contended", counts);
    else assert.equal(a.status, 429, counts);
  }
}

/** A PaymentIntent for one customer, as stripe-python sends it (the seed's `charge_customer`). */
const chargeCustomer = (url: string, vaultKey: string, customer: string, amountCents = 2999) =>
  fetch(`${url}/stripe/v1/payment_intents`, {
    method: "POST",
    headers: { authorization: `Bearer ${vaultKey}`, "content-type": "application/x-www-form-urlencoded" },
    body: `amount=${amountCents}&currency=usd&customer=${customer}`,
  }).then(answer);

const seedKey = (budgetId: string) => (i: number) => ({
  vendor: "stripe",
  daily_usd_cap: 50,
  allowed_endpoints: ["POST /v1/payment_intents"],
  expires_in: "5m",
  agent_run_label: `modal-billing/batch-1/cus_${i}`,
  budget_id: budgetId,
  counterparty: { stripe_customer: `cus_${i}` },
});

const seedBudget = (parts: number) => ({
  vendor: "stripe",
  daily_usd_cap: 150,
  expires_in: "1h",
  agent_run_label: "modal-billing/batch-1",
  parts,
});

/** What the audit trail says a budget spent: its reservations' records, each counted once at its largest. */
function auditedSpend(records: AuditRecord[], budgetId: string): number {
  return reservationTotals(records.filter(isSpendRecord).filter((r) => r.budget_id === budgetId)).spent_usd;
}

describe("the seed's batch: a $150 budget, 400 keys of $50, 400 concurrent $29.99 PaymentIntents", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  for (const parts of [1, 4]) {
    it(`lets exactly 5 reach Stripe with the budget in ${parts} part${parts === 1 ? "" : "s"}, and stops the rest once deleted`, async () => {
      const issuer: Issuer = (method, path, body) => stack.issuer(method, path, body);
      const created = await issuer("POST", "/vault/budgets", seedBudget(parts));
      assert.equal(created.status, 201);
      const docs = parts === 4; // docs/http-api.md shows this run's answers
      if (docs) {
        assert.deepEqual(JSON.parse(snippet("docs/http-api.md", "budget-request")), seedBudget(parts));
        const body = JSON.stringify(created.body);
        assert.ok(shapeMatches(body, snippet("docs/http-api.md", "budget-created")), body);
      }
      const budget = created.body;
      assert.deepEqual(
        { ...budget, budget_id: undefined, expires_at: undefined },
        {
          budget_id: undefined,
          vendor: "stripe",
          daily_usd_cap: 150,
          agent_run_label: "modal-billing/batch-1",
          expires_at: undefined,
          parts,
          mode: "enforce",
        },
      );
      const keys = await issueAll(issuer, KEYS, seedKey(budget.budget_id));
      const before = stack.vendors.stripe.received.length;
      // Each key is locked to its own customer: it cannot charge another one, and that costs the budget nothing.
      const other = await chargeCustomer(stack.url, keys[0]!.vault_key, "cus_1");
      assert.equal(other.status, 403);
      assert.equal(other.body.error.code, "keybrake_counterparty_not_allowed");
      assert.equal(stack.vendors.stripe.received.length, before);

      const answers = await Promise.all(keys.map((k, i) => chargeCustomer(stack.url, k.vault_key, `cus_${i}`)));
      assertFiveThrough(answers);
      assert.equal(stack.vendors.stripe.received.length - before, 5, "exactly 5 reached Stripe");
      if (docs) {
        const body = JSON.stringify(answers.find((a) => a.status === 429)!.body);
        assert.ok(shapeMatches(body, snippet("docs/http-api.md", "budget-refusal")), body);
      }
      for (const refused of answers.filter((a) => a.status === 429)) {
        assert.equal(refused.body.error.code, "keybrake_cap_exceeded");
        assert.equal(refused.body.error.cap, "budget");
        assert.equal(refused.body.error.budget_id, budget.budget_id);
        assert.equal(refused.remaining, null, "a refusal was not forwarded: no header");
      }

      await stack.server.idle();
      const shown = await issuer("GET", `/vault/budgets/${budget.budget_id}`);
      assert.equal(shown.status, 200);
      if (docs) {
        const body = JSON.stringify(shown.body);
        assert.ok(shapeMatches(body, snippet("docs/http-api.md", "budget-status")), body);
      }
      assert.deepEqual(
        {
          status: shown.body.status,
          spent: shown.body.spent_today_usd,
          remaining: shown.body.remaining_today_usd,
          unsettled: shown.body.unsettled_usd,
          keys: shown.body.keys,
        },
        { status: "active", spent: 149.95, remaining: 0.05, unsettled: 0, keys: KEYS },
      );
      assert.equal(auditedSpend(stack.audit, budget.budget_id), 149.95, "the audit trail adds up to the budget");

      // The header, keys/self and the ledger agree, for a key that charged and for one that was refused.
      const charged = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
      for (const i of charged) {
        assert.equal(answers[i]!.remaining, "20.01");
        const self = await fetch(`${stack.url}/vault/keys/self`, {
          headers: { authorization: `Bearer ${keys[i]!.vault_key}` },
        }).then(answer);
        const ledger = await stack.keyState(keys[i]!.key_id);
        assert.equal(self.status, 200);
        if (docs) assert.ok(shapeMatches(JSON.stringify(self.body), snippet("docs/http-api.md", "key-self")));
        assert.deepEqual(
          {
            key_id: self.body.key_id,
            daily_usd_cap: self.body.daily_usd_cap,
            spent: self.body.spent_today_usd,
            remaining: self.body.remaining_today_usd,
            expires_at: self.body.expires_at,
            budget_id: self.body.budget_id,
            budget_remaining: self.body.budget_remaining_today_usd,
          },
          {
            key_id: keys[i]!.key_id,
            daily_usd_cap: 50,
            spent: ledger.spent_today_usd,
            remaining: ledger.remaining_today_usd,
            expires_at: ledger.expires_at,
            budget_id: budget.budget_id,
            budget_remaining: 0.05,
          },
        );
        assert.equal(ledger.remaining_today_usd, 20.01);
      }
      const idle = answers.findIndex((a) => a.status === 429);
      const untouched = await fetch(`${stack.url}/vault/keys/self`, {
        headers: { authorization: `Bearer ${keys[idle]!.vault_key}` },
      }).then(answer);
      assert.deepEqual([untouched.body.spent_today_usd, untouched.body.remaining_today_usd], [0, 50]);

      // Deleting the budget stops every key drawing from it, even for a call that would still fit (0.01 USD).
      const deleted = await issuer("DELETE", `/vault/budgets/${budget.budget_id}`);
      assert.deepEqual([deleted.status, deleted.body], [200, { budget_id: budget.budget_id, status: "revoked" }]);
      const afterDelete = await Promise.all(
        keys.slice(0, 20).map((k, i) => chargeCustomer(stack.url, k.vault_key, `cus_${i}`, 1)),
      );
      assert.deepEqual(tally(afterDelete), { 401: 20 });
      for (const refused of afterDelete) assert.equal(refused.body.error.code, "keybrake_revoked_budget");
      assert.equal(stack.vendors.stripe.received.length - before, 5, "nothing reached Stripe after the delete");
      assert.equal((await issuer("GET", `/vault/budgets/${budget.budget_id}`)).body.status, "revoked");
    });
  }
});

describe("the seed's batch across three processes sharing the table (budget in 4 parts)", () => {
  let vendors: FakeVendors;
  let instances: LocalProcess[];
  before(async () => {
    vendors = await startFakeVendors();
    instances = await spawnInstances(
      await localEnv(vendors, { KEYBRAKE_AUDIT_FILE: `/tmp/keybrake-budgets-${process.pid}.jsonl` }),
    );
  });
  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await vendors.close();
  });

  it(`lets exactly 5 of ${KEYS} through, spread over 3 instances`, async () => {
    const issuers = instances.map((p) => issuerAt(p.url));
    const budget = (await issuers[0]!("POST", "/vault/budgets", seedBudget(4))).body;
    const keys = await issueAll(
      (method, path, body) => issuers[Math.floor(Math.random() * 3)]!(method, path, body),
      KEYS,
      seedKey(budget.budget_id),
    );
    const answers = await Promise.all(
      keys.map((k, i) => chargeCustomer(instances[i % 3]!.url, k.vault_key, `cus_${i}`)),
    );
    assertFiveThrough(answers);
    assert.equal(vendors.stripe.received.length, 5);
    const shown = (await issuers[2]!("GET", `/vault/budgets/${budget.budget_id}`)).body;
    assert.deepEqual([shown.spent_today_usd, shown.remaining_today_usd], [149.95, 0.05]);
    // Revoked on one instance: refused on every one.
    assert.equal((await issuers[1]!("DELETE", `/vault/budgets/${budget.budget_id}`)).status, 200);
    const afterDelete = await Promise.all(
      keys.slice(0, 9).map((k, i) => chargeCustomer(instances[i % 3]!.url, k.vault_key, `cus_${i}`, 1)),
    );
    assert.deepEqual(tally(afterDelete), { 401: 9 });
    assert.equal(vendors.stripe.received.length, 5);
  });
});

describe("budgets for Twilio and Resend", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());
  const CALLS = 60;

  const cases = [
    {
      name: `Twilio: a $0.10 budget in 2 parts lets exactly 5 of ${CALLS} concurrent SMS through (0.02 USD each)`,
      vendor: "twilio",
      budgetUsd: 0.1,
      keyUsd: 1,
      endpoint: `POST ${TWILIO_MESSAGES}`,
      label: "notify/batch",
      forwarded: 201,
      send: (k: Issued) => postTwilioMessage(stack.url, k.vault_key),
      // Twilio's error shape carries keybrake's code at the top level.
      refusal: (body: Answer["body"]) => body.keybrake_code === "cap_exceeded" && body.cap === "budget",
    },
    {
      name: `Resend: a $0.005 budget in 2 parts lets exactly 5 of ${CALLS} concurrent emails through (0.001 USD each)`,
      vendor: "resend",
      budgetUsd: 0.005,
      keyUsd: 0.01,
      endpoint: "POST /emails",
      label: "mail/batch",
      forwarded: 200,
      send: (k: Issued, i: number) =>
        fetch(`${stack.url}/resend/emails`, {
          method: "POST",
          headers: { authorization: `Bearer ${k.vault_key}`, "content-type": "application/json" },
          body: JSON.stringify({ from: "a@example.com", to: [`u${i}@example.com`], subject: "hi", text: "hi" }),
        }),
      refusal: (body: Answer["body"]) => body.cap === "budget",
    },
  ] as const;

  for (const c of cases) {
    it(c.name, async () => {
      const budget = (
        await stack.issuer("POST", "/vault/budgets", {
          vendor: c.vendor,
          daily_usd_cap: c.budgetUsd,
          expires_in: "1h",
          agent_run_label: c.label,
          parts: 2,
        })
      ).body;
      const keys = await issueAll(
        (m, p, b) => stack.issuer(m, p, b),
        CALLS,
        (i) => ({
          vendor: c.vendor,
          daily_usd_cap: c.keyUsd,
          allowed_endpoints: [c.endpoint],
          expires_in: "5m",
          agent_run_label: `${c.label}/${i}`,
          budget_id: budget.budget_id,
        }),
      );
      const received = stack.vendors[c.vendor].received;
      const before = received.length;
      const answers = await Promise.all(keys.map((k, i) => c.send(k, i).then(answer)));
      assertFiveThrough(answers, c.forwarded);
      assert.equal(received.length - before, 5);
      assert.ok(answers.filter((a) => a.status === 429).every((a) => c.refusal(a.body)));
      await stack.server.idle();
      const shown = (await stack.issuer("GET", `/vault/budgets/${budget.budget_id}`)).body;
      assert.deepEqual([shown.spent_today_usd, shown.remaining_today_usd], [c.budgetUsd, 0]);
      assert.equal(auditedSpend(stack.audit, budget.budget_id), c.budgetUsd);
    });
  }
});
