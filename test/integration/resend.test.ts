// resend-node pointed at the proxy with RESEND_BASE_URL, the vault key as its API key.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Resend } from "resend";
import { SECRETS } from "../support/fake-vendors";
import { type Stack, startStack } from "../support/stack";

const EMAIL_KEY = {
  vendor: "resend",
  daily_usd_cap: 0.01,
  allowed_endpoints: ["POST /emails", "POST /emails/batch"],
  expires_in: 600,
  agent_run_label: "modal-mail/batch-1",
};

function resendClient(stack: Stack, vaultKey: string): Resend {
  process.env.RESEND_BASE_URL = `${stack.url}/resend`;
  try {
    return new Resend(vaultKey);
  } finally {
    delete process.env.RESEND_BASE_URL;
  }
}

const spentUsd = async (stack: Stack, keyId: string): Promise<number> => (await stack.keyState(keyId)).spent_today_usd;

describe("Resend through the proxy with the resend npm SDK", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("sends one email, priced per recipient, with the real API key", async () => {
    const key = await stack.issue(EMAIL_KEY);
    const { data, error } = await resendClient(stack, key.vault_key).emails.send({
      from: "agent@example.com",
      to: ["a@example.com", "b@example.com"],
      cc: "c@example.com",
      subject: "Your invoice",
      text: "Hello",
    });
    assert.equal(error, null);
    assert.match(data!.id, /^em_/);
    const received = stack.vendors.resend.received.at(-1)!;
    assert.equal(received.url, "/emails");
    assert.equal(received.headers.authorization, `Bearer ${SECRETS.RESEND_API_KEY}`);
    assert.deepEqual(JSON.parse(received.body).to, ["a@example.com", "b@example.com"]);
    assert.ok(!JSON.stringify(received).includes(key.vault_key));
    assert.equal(await spentUsd(stack, key.key_id), 0.003);
  });

  it("sends a batch priced per email, and refuses one that would cross the cap", async () => {
    const key = await stack.issue(EMAIL_KEY);
    const resend = resendClient(stack, key.vault_key);
    const email = (to: string) => ({ from: "agent@example.com", to, subject: "Hi", text: "x" });
    const batch = await resend.batch.send([email("a@example.com"), email("b@example.com"), email("c@example.com")]);
    assert.equal(batch.error, null);
    assert.equal(batch.data!.data.length, 3);
    assert.equal(JSON.parse(stack.vendors.resend.received.at(-1)!.body).length, 3);
    assert.equal(await spentUsd(stack, key.key_id), 0.003);

    const before = stack.vendors.resend.received.length;
    const tooMany = await resend.batch.send(Array.from({ length: 8 }, (_, i) => email(`u${i}@example.com`)));
    assert.equal(tooMany.data, null);
    assert.equal(tooMany.error!.name, "daily_quota_exceeded");
    assert.equal((tooMany.error as unknown as { statusCode: number }).statusCode, 429);
    assert.equal(stack.vendors.resend.received.length, before);
  });

  it("releases the reservation when Resend refuses the email", async () => {
    const key = await stack.issue(EMAIL_KEY);
    stack.vendors.resend.respond = () => ({
      status: 422,
      body: { statusCode: 422, name: "missing_required_field", message: "subject" },
    });
    try {
      const { error } = await resendClient(stack, key.vault_key).emails.send({
        from: "a@example.com",
        to: "b@example.com",
        subject: "",
        text: "x",
      });
      assert.equal(error!.name, "missing_required_field");
    } finally {
      stack.vendors.resend.respond = undefined;
    }
    assert.equal(await spentUsd(stack, key.key_id), 0);
  });
});
