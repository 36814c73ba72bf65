// docs/guarantees.md#5-secrets-stay-put: vendor secrets never appear in a response, a log line or an audit record, and
// vault keys never appear in either. Local mode runs as `npm start` would; everything it prints and writes, and every
// answer it gives, is searched.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Resend } from "resend";
import Stripe from "stripe";
import twilio from "twilio";
import { type FakeVendors, SECRETS, startFakeVendors } from "../support/fake-vendors";
import { type LocalProcess, spawnLocal } from "../support/processes";
import { dynamoEndpoint, ISSUER_TOKEN } from "../support/stack";

describe("secrets stay put", () => {
  let vendors: FakeVendors;
  let local: LocalProcess;
  let auditFile: string;
  const answers: string[] = [];
  const vaultKeys: string[] = [];

  before(async () => {
    vendors = await startFakeVendors();
    auditFile = join(mkdtempSync(join(tmpdir(), "keybrake-audit-")), "audit.jsonl");
    local = await spawnLocal({
      ...vendors.env,
      KEYBRAKE_DYNAMODB_ENDPOINT: await dynamoEndpoint(),
      KEYBRAKE_TABLE: `t_${randomBytes(6).toString("hex")}`,
      KEYBRAKE_API_KEY: ISSUER_TOKEN,
      KEYBRAKE_AUDIT_FILE: auditFile,
    });
  });
  after(async () => {
    await local.stop();
    await vendors.close();
  });

  async function issue(body: object): Promise<{ vault_key: string; key_id: string }> {
    const res = await fetch(`${local.url}/vault/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ISSUER_TOKEN}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    answers.push(text);
    const key = JSON.parse(text) as { vault_key: string; key_id: string };
    vaultKeys.push(key.vault_key);
    return key;
  }

  it("never prints, records or answers with a secret or a vault key", async () => {
    const base = { daily_usd_cap: 1, expires_in: "5m", agent_run_label: "secrets/test" };
    const stripeKey = await issue({ ...base, vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"] });
    const twilioKey = await issue({
      ...base,
      vendor: "twilio",
      allowed_endpoints: [`POST /2010-04-01/Accounts/${SECRETS.TWILIO_ACCOUNT_SID}/Messages.json`],
    });
    const resendKey = await issue({ ...base, vendor: "resend", allowed_endpoints: ["POST /emails"] });
    const url = new URL(local.url);
    const stripe = new Stripe(stripeKey.vault_key, {
      host: url.hostname,
      port: Number(url.port),
      protocol: "http",
      maxNetworkRetries: 0,
    });

    const capture = (p: Promise<unknown>) =>
      p.then(
        (v) => answers.push(JSON.stringify(v)),
        (e) => answers.push(JSON.stringify(e), String(e)),
      );
    await capture(stripe.paymentIntents.create({ amount: 50, currency: "usd" })); // forwarded
    await capture(stripe.paymentIntents.create({ amount: 5000, currency: "usd" })); // over the cap
    await capture(stripe.customers.create({})); // outside the allowlist
    vendors.stripe.respond = () => ({ status: 500, body: { error: { message: "vendor down" } } });
    await capture(stripe.paymentIntents.create({ amount: 10, currency: "usd" })); // vendor failure
    vendors.stripe.respond = undefined;
    const sms = twilio(SECRETS.TWILIO_ACCOUNT_SID, twilioKey.vault_key);
    sms.api.baseUrl = `${local.url}/twilio`;
    await capture(sms.messages.create({ to: "+15005550006", from: "+15005550001", body: "hi" }));
    process.env.RESEND_BASE_URL = `${local.url}/resend`;
    const resend = new Resend(resendKey.vault_key);
    delete process.env.RESEND_BASE_URL;
    await capture(resend.emails.send({ from: "a@example.com", to: "b@example.com", subject: "s", text: "t" }));
    for (const key of vaultKeys) {
      await capture(
        fetch(`${local.url}/vault/keys/${key.split("_")[1]}`, {
          headers: { authorization: `Bearer ${ISSUER_TOKEN}` },
        }).then((r) => r.text()),
      );
    }
    await new Promise((r) => setTimeout(r, 300)); // the audit stream is flushed asynchronously
    await local.stop();

    const audit = readFileSync(auditFile, "utf8");
    assert.ok(audit.split("\n").filter(Boolean).length >= 9, "the audit file holds the calls and key events");
    const haystacks = { output: local.output(), audit, answers: answers.join("\n") };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [name, secret] of Object.entries(SECRETS)) {
        if (name === "TWILIO_ACCOUNT_SID") continue; // an account id, not a secret (it is in every Twilio path)
        assert.ok(!text.includes(secret), `${name} appears in the ${where}`);
      }
      if (where !== "answers")
        for (const key of vaultKeys) assert.ok(!text.includes(key), `a vault key appears in the ${where}`);
      assert.ok(!text.includes(ISSUER_TOKEN), `the issuer token appears in the ${where}`);
    }
    // Answers may carry a vault key only where it is issued.
    const leaks = answers.filter((a) => vaultKeys.some((k) => a.includes(k)) && !a.includes('"vault_key"'));
    assert.deepEqual(leaks, []);
  });
});
