// twilio-node with only `client.api.baseUrl` changed and the vault key as its auth token.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import twilio from "twilio";
import { SECRETS } from "../support/fake-vendors";
import { type Stack, startStack } from "../support/stack";

const SID = SECRETS.TWILIO_ACCOUNT_SID;
const SMS_KEY = {
  vendor: "twilio",
  daily_usd_cap: 1,
  allowed_endpoints: [`POST /2010-04-01/Accounts/${SID}/Messages.json`],
  expires_in: "1h",
  agent_run_label: "modal-notify/run-7",
};

function twilioClient(stack: Stack, vaultKey: string) {
  const client = twilio(SID, vaultKey);
  client.api.baseUrl = `${stack.url}/twilio`;
  return client;
}

const keyState = (stack: Stack, keyId: string) => stack.keyState(keyId);

describe("Twilio through the proxy with the twilio npm SDK", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("sends an SMS with the real credentials and reserves segments x the per-segment price", async () => {
    const key = await stack.issue(SMS_KEY);
    const message = await twilioClient(stack, key.vault_key).messages.create({
      to: "+15005550006",
      from: "+15005550001",
      body: "a".repeat(161), // GSM-7, two segments
    });
    assert.match(message.sid, /^SM/);
    const received = stack.vendors.twilio.received.at(-1)!;
    assert.equal(received.url, `/2010-04-01/Accounts/${SID}/Messages.json`);
    const expectedAuth = `Basic ${Buffer.from(`${SID}:${SECRETS.TWILIO_AUTH_TOKEN}`).toString("base64")}`;
    assert.equal(received.headers.authorization, expectedAuth);
    assert.equal(new URLSearchParams(received.body).get("Body"), "a".repeat(161));
    assert.ok(!JSON.stringify(received).includes(key.vault_key));
    // No price in Twilio's answer (it comes later): the estimate stands, 2 x 0.02 USD.
    assert.equal((await keyState(stack, key.key_id)).spent_today_usd, 0.04);
  });

  it("settles to the price Twilio reports when its answer carries one", async () => {
    const key = await stack.issue(SMS_KEY);
    stack.vendors.twilio.respond = () => ({ status: 201, body: { sid: "SM1", price: "-0.00790", price_unit: "USD" } });
    try {
      await twilioClient(stack, key.vault_key).messages.create({
        to: "+15005550006",
        from: "+15005550001",
        body: "héllo ç",
      });
    } finally {
      stack.vendors.twilio.respond = undefined;
    }
    const state = await keyState(stack, key.key_id);
    assert.equal(state.spent_today_usd, 0.0079);
    const record = stack.audit.filter((r) => r.event === "call" && r.key_id === key.key_id).at(-1)!;
    assert.deepEqual(
      record.event === "call" && {
        reserved: record.reserved_usd,
        settled: record.settled_usd,
        settlement: record.settlement,
      },
      { reserved: 0.02, settled: 0.0079, settlement: "settled" },
    );
  });

  it("prices UCS-2 bodies and international numbers higher, and refuses what would cross the cap", async () => {
    const key = await stack.issue(SMS_KEY);
    const client = twilioClient(stack, key.vault_key);
    await client.messages.create({ to: "+15005550006", from: "+15005550001", body: "ç".repeat(71) }); // 2 UCS-2 segments x 0.02
    await client.messages.create({ to: "+447700900123", from: "+15005550001", body: "ç".repeat(70) }); // 1 segment x 0.50
    assert.equal((await keyState(stack, key.key_id)).spent_today_usd, 0.54);
    const before = stack.vendors.twilio.received.length;
    const error = await client.messages
      .create({ to: "+447700900123", from: "+15005550001", body: "ç" }) // 1 segment x 0.50 > 0.46 left
      .catch((e: unknown) => e as { status: number; code: number; message: string });
    assert.equal((error as { status: number }).status, 429);
    assert.equal((error as { code: number }).code, 20429);
    assert.equal(stack.vendors.twilio.received.length, before);
  });

  it("prices an MMS at what Twilio bills when it converts it to an SMS carrying a link to the media", async () => {
    // Twilio's MMS Converter (on by default) sends an MMS to a number or country that cannot take MMS as an SMS
    // with a short link per media, billed as that SMS: to +44, a picture alone is one international segment
    // (0.50), not the flat MMS price (0.05). A $0.10 key must not let it through.
    const key = await stack.issue({ ...SMS_KEY, daily_usd_cap: 0.1, agent_run_label: "mms/converted" });
    const error = await twilioClient(stack, key.vault_key)
      .messages.create({ to: "+447700900123", from: "+15005550001", mediaUrl: ["https://example.com/a.png"] })
      .catch((e: unknown) => e as { status: number });
    assert.equal((error as { status: number }).status, 429);
    assert.equal(stack.vendors.twilio.received.filter((r) => r.body.includes("a.png")).length, 0);
  });

  it("refuses another account's path, and a Stripe key on /twilio", async () => {
    const key = await stack.issue({ ...SMS_KEY, allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"] });
    const other = twilio("AC00000000000000000000000000000999", key.vault_key);
    other.api.baseUrl = `${stack.url}/twilio`;
    const wrongAccount = await other.messages
      .create({ to: "+15005550006", from: "+15005550001", body: "x" })
      .catch((e) => e);
    assert.equal(wrongAccount.status, 403);
    assert.match(wrongAccount.message, /own Twilio account/);

    const stripeKey = await stack.issue();
    const wrongVendor = await twilioClient(stack, stripeKey.vault_key)
      .messages.create({ to: "+15005550006", from: "+15005550001", body: "x" })
      .catch((e) => e);
    assert.equal(wrongVendor.status, 403);
    assert.match(wrongVendor.message, /for stripe, not twilio/);
    assert.equal(stack.vendors.twilio.received.filter((r) => r.url.includes("999")).length, 0);
  });
});
