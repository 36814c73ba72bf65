// The budgets contract around the seed (docs/http-api.md#budgets): validation, the issuer's and the deployment's caps
// declared as code and enforced in the same decision, the agent's own view (`GET /vault/keys/self`, the
// `Keybrake-Remaining-Usd` header), money returned to every level, shadow mode and the 80 % / 100 % warnings.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { AuditRecord, CallRecord, CapThresholdRecord } from "../../lambda/audit/record";
import { memorySink } from "../../lambda/audit/sink";
import { type LocalServer, startLocalServer } from "../../lambda/local";
import { runCli } from "../support/cli";
import { type FakeVendors, startFakeVendors } from "../support/fake-vendors";
import { dynamoEndpoint, ISSUER_TOKEN, STRIPE_KEY_REQUEST, type Stack, startStack, tally } from "../support/stack";
import { postTwilioMessage, TWILIO_MESSAGES } from "../support/vendor-calls";

async function answer(res: Response) {
  const text = await res.text();
  return { status: res.status, remaining: res.headers.get("keybrake-remaining-usd"), body: JSON.parse(text) };
}

const charge = (url: string, vaultKey: string, cents: number, customer = "cus_1") =>
  fetch(`${url}/v1/payment_intents`, {
    method: "POST",
    headers: { authorization: `Bearer ${vaultKey}`, "content-type": "application/x-www-form-urlencoded" },
    body: `amount=${cents}&currency=usd&customer=${customer}`,
  }).then(answer);

const self = (url: string, authorization: string) =>
  fetch(`${url}/vault/keys/self`, { headers: { authorization } }).then(answer);

const calls = (audit: AuditRecord[], keyId: string) =>
  audit.filter((r): r is CallRecord => r.event === "call" && r.key_id === keyId);
const thresholds = (audit: AuditRecord[]) => audit.filter((r): r is CapThresholdRecord => r.event === "cap_threshold");

describe("budgets: the contract", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const budget = async (body: Record<string, unknown> = {}) => {
    const res = await stack.issuer("POST", "/vault/budgets", {
      vendor: "stripe",
      daily_usd_cap: 100,
      expires_in: "1h",
      agent_run_label: "caps/budget",
      ...body,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { budget_id: string; expires_at: string };
  };

  it("POST /vault/budgets validates like a key request, naming the field", async () => {
    const base = { vendor: "stripe", daily_usd_cap: 150, expires_in: "1h", agent_run_label: "caps/v" };
    for (const [body, field] of [
      [{ ...base, vendor: "paypal" }, "vendor"],
      [{ ...base, daily_usd_cap: 0 }, "daily_usd_cap"],
      [{ ...base, daily_usd_cap: 1.0000001 }, "daily_usd_cap"],
      [{ ...base, expires_in: "31d" }, "expires_in"],
      [{ ...base, agent_run_label: "" }, "agent_run_label"],
      [{ ...base, parts: 0 }, "parts"],
      [{ ...base, parts: 17 }, "parts"],
      [{ ...base, parts: 2.5 }, "parts"],
      [{ ...base, mode: "log" }, "mode"],
      [{ ...base, allowed_endpoints: ["POST /v1/refunds"] }, "allowed_endpoints"],
    ] as const) {
      const res = await stack.issuer("POST", "/vault/budgets", body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.field, field);
    }
    assert.equal((await stack.issuer("POST", "/vault/budgets", base, "kbt_wrong")).status, 401);
  });

  it("a key's budget must exist, be live and be of the key's vendor (400 naming budget_id)", async () => {
    const b = await budget();
    const refused = async (body: Record<string, unknown>) => {
      const res = await stack.issuer("POST", "/vault/keys", { ...STRIPE_KEY_REQUEST, ...body });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.field, "budget_id");
      return res.body.error.message as string;
    };
    assert.match(await refused({ budget_id: "0123456789abcdef" }), /no budget/);
    assert.match(await refused({ budget_id: "not-an-id" }), /budget id/);
    assert.match(
      await refused({
        budget_id: b.budget_id,
        vendor: "resend",
        allowed_endpoints: ["POST /emails"],
      }),
      /is for stripe/,
    );
    assert.equal((await stack.issuer("DELETE", `/vault/budgets/${b.budget_id}`)).status, 200);
    assert.match(await refused({ budget_id: b.budget_id }), /revoked/);
    assert.deepEqual((await stack.issuer("GET", "/vault/budgets/0123456789abcdef")).status, 404);
    assert.deepEqual((await stack.issuer("DELETE", "/vault/budgets/0123456789abcdef")).status, 404);
  });

  it("keys/self answers only the vault key itself, read-only, and agrees with the header and the ledger", async () => {
    const key = await stack.issue();
    assert.equal((await self(stack.url, `Bearer ${ISSUER_TOKEN}`)).status, 401);
    assert.equal((await self(stack.url, "")).status, 401);
    assert.equal((await self(stack.url, `Bearer ${key.vault_key.slice(0, -2)}xx`)).status, 401);
    const first = await charge(stack.url, key.vault_key, 1234);
    assert.equal(first.remaining, "37.66");
    const second = await charge(stack.url, key.vault_key, 2000);
    assert.equal(second.remaining, "17.66");
    const mine = await self(stack.url, `Bearer ${key.vault_key}`);
    const ledger = await stack.keyState(key.key_id);
    assert.deepEqual(mine.body, {
      key_id: key.key_id,
      vendor: "stripe",
      agent_run_label: STRIPE_KEY_REQUEST.agent_run_label,
      status: "active",
      daily_usd_cap: 50,
      spent_today_usd: ledger.spent_today_usd,
      remaining_today_usd: ledger.remaining_today_usd,
      expires_at: ledger.expires_at,
    });
    assert.equal(ledger.remaining_today_usd, 17.66);
    const put = await fetch(`${stack.url}/vault/keys/self`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${key.vault_key}` },
    });
    assert.equal(put.status, 401, "a vault key is no issuer token: it cannot revoke, even itself");
    await stack.issuer("DELETE", `/vault/keys/${key.key_id}`);
    const revoked = await self(stack.url, `Bearer ${key.vault_key}`);
    assert.deepEqual([revoked.status, revoked.body.error.code], [401, "revoked_key"]);
  });

  it("a vendor's refusal and a settlement below the estimate give the money back to the budget too", async () => {
    const stripeBudget = await budget({ daily_usd_cap: 100, parts: 2 });
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, budget_id: stripeBudget.budget_id });
    stack.vendors.stripe.respond = () => ({ status: 402, body: { error: { type: "card_error", message: "no" } } });
    try {
      assert.equal((await charge(stack.url, key.vault_key, 4000)).status, 402);
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    await stack.server.idle();
    assert.equal((await stack.issuer("GET", `/vault/budgets/${stripeBudget.budget_id}`)).body.spent_today_usd, 0);

    const smsBudget = await budget({ vendor: "twilio", daily_usd_cap: 1, parts: 3 });
    const sms = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "twilio",
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
      budget_id: smsBudget.budget_id,
    });
    stack.vendors.twilio.respond = () => ({ status: 201, body: { sid: "SM1", price: "-0.0079", price_unit: "USD" } });
    try {
      const res = await postTwilioMessage(stack.url, sms.vault_key);
      assert.equal(res.status, 201);
    } finally {
      stack.vendors.twilio.respond = undefined;
    }
    await stack.server.idle();
    const shown = (await stack.issuer("GET", `/vault/budgets/${smsBudget.budget_id}`)).body;
    assert.equal(shown.spent_today_usd, 0.0079, "settled at Twilio's price on the budget as on the key");
    assert.equal((await stack.keyState(sms.key_id)).spent_today_usd, 0.0079);
  });

  it("shadow mode: a key's or a budget's cap never refuses; what it would refuse is forwarded and recorded", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, mode: "shadow", max_request_usd: 40 });
    const first = await charge(stack.url, key.vault_key, 2999);
    const second = await charge(stack.url, key.vault_key, 2999);
    const third = await charge(stack.url, key.vault_key, 4500);
    assert.deepEqual([first.status, second.status, third.status], [200, 200, 200]);
    assert.equal(second.remaining, "0", "the header never goes below 0");
    await stack.server.idle();
    assert.deepEqual(
      calls(stack.audit, key.key_id).map((r) => r.would_refuse),
      [undefined, "daily_usd_cap", "max_request_usd"],
    );
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 104.98, "tracked whole");

    const shadow = await budget({ daily_usd_cap: 50, mode: "shadow", parts: 2 });
    const keys = await Promise.all(
      [0, 1, 2].map(() => stack.issue({ ...STRIPE_KEY_REQUEST, budget_id: shadow.budget_id })),
    );
    for (const k of keys) assert.equal((await charge(stack.url, k.vault_key, 2999)).status, 200);
    await stack.server.idle();
    assert.deepEqual(
      keys.map((k) => calls(stack.audit, k.key_id)[0]!.would_refuse),
      [undefined, "budget", "budget"],
    );
    const shown = (await stack.issuer("GET", `/vault/budgets/${shadow.budget_id}`)).body;
    assert.deepEqual([shown.mode, shown.spent_today_usd, shown.remaining_today_usd], ["shadow", 89.97, 0]);
    // Revocation is no cap: a shadow budget, once deleted, refuses.
    await stack.issuer("DELETE", `/vault/budgets/${shadow.budget_id}`);
    assert.equal((await charge(stack.url, keys[0]!.vault_key, 1)).status, 401);
  });

  it("warnings: each cap crossing 80 % and reaching 100 % is recorded once a day, by exactly one of many calls", async () => {
    const b = await budget({ daily_usd_cap: 100, parts: 2, agent_run_label: "caps/warn" });
    const keys = await Promise.all(
      Array.from({ length: 14 }, () => stack.issue({ ...STRIPE_KEY_REQUEST, budget_id: b.budget_id })),
    );
    const before = thresholds(stack.audit).length;
    // 14 calls of 10 USD at once: 10 fit the budget, so its spend crosses 80 % and reaches 100 %.
    const statuses = (await Promise.all(keys.map((k) => charge(stack.url, k.vault_key, 1000)))).map((a) => a.status);
    assert.deepEqual(tally(statuses), { 200: 10, 429: 4 });
    await stack.server.idle();
    const mine = thresholds(stack.audit)
      .slice(before)
      .filter((r) => r.budget_id === b.budget_id && r.level === "budget");
    assert.deepEqual(mine.map((r) => r.threshold_pct).sort(), [100, 80]);
    for (const r of mine) {
      assert.equal(r.cap, "budget");
      assert.equal(r.cap_usd, 100);
      assert.ok(r.spent_usd >= 80);
    }

    // A key's own cap: 80 % then 100 % by spend, once each.
    const key = await stack.issue();
    for (const cents of [3000, 1000, 500, 500]) await charge(stack.url, key.vault_key, cents);
    await stack.server.idle();
    const own = thresholds(stack.audit).filter((r) => r.key_id === key.key_id && r.level === "key");
    assert.deepEqual(
      own.map((r) => [r.threshold_pct, r.trigger, r.spent_usd]),
      [
        [80, "spend", 40],
        [100, "spend", 50],
      ],
    );
    // Refused past the wall: no third record the same day.
    assert.equal((await charge(stack.url, key.vault_key, 100)).status, 429);
    await stack.server.idle();
    assert.equal(thresholds(stack.audit).filter((r) => r.key_id === key.key_id && r.level === "key").length, 2);
  });
});

describe("caps as code: the issuer's budget and the deployment's cap, enforced", () => {
  let vendors: FakeVendors;
  const table = `t_${randomBytes(6).toString("hex")}`;
  const audit: AuditRecord[] = [];
  let server: LocalServer | undefined;
  before(async () => {
    vendors = await startFakeVendors();
  });
  after(async () => {
    await server?.close();
    await vendors.close();
  });

  /** Local mode on the same table with these caps declared (as `pulumi up` would change them). */
  async function deploy(caps: unknown): Promise<LocalServer> {
    await server?.close();
    server = await startLocalServer({
      dynamoEndpoint: await dynamoEndpoint(),
      issuerToken: ISSUER_TOKEN,
      env: { ...vendors.env, KEYBRAKE_SPEND_CAPS: JSON.stringify(caps) },
      table,
      audit: memorySink(audit),
    });
    return server;
  }
  const issue = async (url: string, body: Record<string, unknown> = {}) => {
    const res = await fetch(`${url}/vault/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ISSUER_TOKEN}` },
      body: JSON.stringify({ ...STRIPE_KEY_REQUEST, ...body }),
    });
    assert.equal(res.status, 201);
    return (await res.json()) as { key_id: string; vault_key: string };
  };
  const burst = async (url: string, keys: Array<{ vault_key: string }>) =>
    Promise.all(keys.map((k) => charge(url, k.vault_key, 2999)));

  it("the deployment's cap (4 parts) and the issuer's budget (2 parts) stack with the key's: most restrictive wins, atomically", async () => {
    const { url } = await deploy({ deployment: { stripe: { daily_usd_cap: 100, parts: 4 } } });
    const keys = await Promise.all(Array.from({ length: 12 }, () => issue(url)));
    let answers = await burst(url, keys);
    assert.deepEqual(tally(answers.map((a) => a.status)), { 200: 3, 429: 9 });
    assert.ok(answers.filter((a) => a.status === 429).every((a) => a.body.error.cap === "deployment_daily_usd_cap"));
    assert.equal(vendors.stripe.received.length, 3);

    // Declared next: a deployment cap of 500 and the issuer's budget of 60 (a new level, nothing spent on it): on
    // fresh keys, 2 more calls fit the issuer's budget, the tightest level.
    const second = await deploy({
      deployment: { stripe: { daily_usd_cap: 500, parts: 4 } },
      issuers: { local: { stripe: { daily_usd_cap: 60, parts: 2 } } },
    });
    keys.splice(0, keys.length, ...(await Promise.all(Array.from({ length: 12 }, () => issue(second.url)))));
    answers = await burst(second.url, keys);
    assert.deepEqual(tally(answers.map((a) => a.status)), { 200: 2, 429: 10 });
    assert.ok(answers.filter((a) => a.status === 429).every((a) => a.body.error.cap === "issuer_daily_usd_budget"));
    const mine = await self(second.url, `Bearer ${keys[11]!.vault_key}`);
    assert.equal(mine.body.budget_remaining_today_usd, 0.02, "the least left among the levels above the key");
  });

  it("a cap changed by a deploy applies at once and never resets the day's spend (parts re-laid out)", async () => {
    // The deployment has spent 5 x 29.99 = 149.95 so far today (the test above).
    const lower = await deploy({ deployment: { stripe: { daily_usd_cap: 120, parts: 2 } } });
    const keys = await Promise.all(Array.from({ length: 6 }, () => issue(lower.url)));
    assert.deepEqual(tally((await burst(lower.url, keys)).map((a) => a.status)), { 429: 6 });
    const higher = await deploy({ deployment: { stripe: { daily_usd_cap: 240, parts: 8 } } });
    // 240 - 149.95 = 90.05 left: exactly 3 of 6 fit, across parts laid out anew.
    const answers = await burst(higher.url, keys);
    assert.deepEqual(tally(answers.map((a) => a.status)), { 200: 3, 429: 3 });
    assert.equal(vendors.stripe.received.length, 8);
    const mine = await self(higher.url, `Bearer ${keys[0]!.vault_key}`);
    assert.equal(mine.body.budget_remaining_today_usd, 0.08);
  });

  it("refuses a malformed KEYBRAKE_SPEND_CAPS in one line, naming the field", async () => {
    await assert.rejects(deploy({ deployment: { stripe: { daily_usd_cap: 100, parts: 40 } } }), /parts/);
    await assert.rejects(deploy({ deployment: { paypal: { daily_usd_cap: 100 } } }), /paypal/);
    await assert.rejects(deploy({ deployments: {} }), /deployments is not a known field/);
    server = undefined;
  });
});

describe("keybrake audit --budget", () => {
  it("totals the reservations that charged a budget, each once, as GET /vault/budgets says", async () => {
    const auditFile = join(mkdtempSync(join(tmpdir(), "keybrake-budget-cli-")), "audit.jsonl");
    const stack = await startStack({ auditFile });
    try {
      const budget = (
        await stack.issuer("POST", "/vault/budgets", {
          vendor: "stripe",
          daily_usd_cap: 100,
          expires_in: "1h",
          agent_run_label: "cli/batch",
          parts: 2,
        })
      ).body as { budget_id: string };
      const keys = await Promise.all(
        [1, 2, 3].map((i) =>
          stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: `cli/batch/${i}`, budget_id: budget.budget_id }),
        ),
      );
      const outside = await stack.issue({ ...STRIPE_KEY_REQUEST, agent_run_label: "cli/batch/outside" });
      for (const k of [...keys, outside]) assert.equal((await charge(stack.url, k.vault_key, 1250)).status, 200);
      await stack.server.idle();
      const shown = (await stack.issuer("GET", `/vault/budgets/${budget.budget_id}`)).body;
      await stack.close();
      const run = await runCli(["audit", "--local", "--json", "--budget", budget.budget_id], {
        KEYBRAKE_AUDIT_FILE: auditFile,
      });
      assert.equal(run.code, 0, run.stderr);
      const { records, totals } = JSON.parse(run.stdout) as {
        records: Array<{ key_id: string }>;
        totals: Array<{ spent_usd: number }>;
      };
      assert.deepEqual(records.map((r) => r.key_id).sort(), keys.map((k) => k.key_id).sort());
      assert.equal(
        totals.reduce((sum, t) => sum + t.spent_usd, 0),
        shown.spent_today_usd,
      );
      assert.equal(shown.spent_today_usd, 37.5);
    } finally {
      await stack.close().catch(() => undefined);
    }
  });
});
