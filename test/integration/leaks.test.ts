// Thousands of calls leave nothing behind: the key cache stays within its bound, no settlement is left running, every
// reservation ended settled, released or unsettled (no open pending marker remains), each key's item keeps at most one
// exact call's marker (the others were removed in passing by the next reservation), and the sweep closes every marker
// once they expire.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { unmarshalKey } from "../../lambda/ledger/key-record";
import { sweep } from "../../lambda/ledger/sweep";
import { dynamoEndpoint, STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { postTwilioMessage, TWILIO_MESSAGES } from "../support/vendor-calls";

const KEYS = 150;
const CALLS_PER_KEY = 10;
const CACHE = 40;

describe("no leaks under many calls", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ keyCacheSize: CACHE });
  });
  after(() => stack.close());

  it(`${KEYS * CALLS_PER_KEY} calls over ${KEYS} keys keep every map bounded and end every reservation`, async () => {
    const keys = [];
    // Every third key is Twilio's: its reservations carry pending markers that settlement must close.
    const twilioKey = { ...STRIPE_KEY_REQUEST, vendor: "twilio", allowed_endpoints: [`POST ${TWILIO_MESSAGES}`] };
    for (let i = 0; i < KEYS; i++)
      keys.push(await stack.issue({ ...(i % 3 ? STRIPE_KEY_REQUEST : twilioKey), agent_run_label: `leak/${i}` }));
    // Some calls the vendor refuses (released), some time out... every ending is exercised.
    stack.vendors.stripe.respond = (req) => {
      const amount = Number(new URLSearchParams(req.body).get("amount"));
      if (amount % 7 === 0) return { status: 402, body: { error: { type: "card_error", message: "declined" } } };
      if (amount % 11 === 0) return { status: 500, body: { error: { type: "api_error", message: "boom" } } };
      return undefined;
    };
    stack.vendors.twilio.respond = (req) =>
      new URLSearchParams(req.body).get("Body")!.length % 5 === 0
        ? { status: 400, body: { code: 21211, message: "invalid To", status: 400 } }
        : undefined;
    let maxCache = 0;
    const statuses: number[] = [];
    for (let round = 0; round < CALLS_PER_KEY; round++) {
      await Promise.all(
        keys.map(async (key, i) => {
          const res =
            i % 3
              ? await fetch(`${stack.url}/v1/payment_intents`, {
                  method: "POST",
                  headers: {
                    authorization: `Bearer ${key.vault_key}`,
                    "content-type": "application/x-www-form-urlencoded",
                  },
                  body: `amount=${100 + ((i + round) % 30)}&currency=usd`,
                })
              : await postTwilioMessage(
                  stack.url,
                  key.vault_key,
                  `To=%2B15005550006&From=%2B15005550001&Body=${"x".repeat(1 + ((i + round) % 9))}`,
                );
          await res.arrayBuffer();
          statuses.push(res.status);
          maxCache = Math.max(maxCache, stack.server.keys.size);
        }),
      );
    }
    stack.vendors.stripe.respond = undefined;
    stack.vendors.twilio.respond = undefined;
    await stack.server.idle();
    assert.equal(statuses.length, KEYS * CALLS_PER_KEY);
    assert.ok(maxCache <= CACHE, `the key cache stayed within ${CACHE} (max seen ${maxCache})`);

    const endings = new Map<string, number>();
    for (const r of stack.audit)
      if (r.event === "call") endings.set(r.settlement, (endings.get(r.settlement) ?? 0) + 1);
    // On a busy machine the ledger may miss a call's deadline: that call is refused (503), nothing reserved.
    const refused = stack.audit.filter((r) => r.event === "call" && r.decision === "refused");
    assert.deepEqual(
      refused.filter((r) => r.event === "call" && (r.reason !== "ledger_unavailable" || r.settlement !== "none")),
      [],
      "the only refusals are ledger timeouts, which reserve nothing",
    );
    endings.delete("none");
    assert.deepEqual([...endings.keys()].sort(), ["released", "settled", "unsettled"]);
    assert.equal(
      [...endings.values()].reduce((a, b) => a + b, refused.length),
      KEYS * CALLS_PER_KEY,
    );

    const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    const markers = async () => {
      const { Items = [] } = await db.send(new ScanCommand({ TableName: stack.server.table }));
      return Items.map((item) => [...unmarshalKey(item).markers.values()]);
    };
    try {
      const perKey = await markers();
      assert.equal(perKey.length, KEYS);
      assert.equal(perKey.flat().filter((m) => m.kind === "r").length, 0, "no pending reservation is left open");
      const live = perKey.map((ms) => ms.filter((m) => m.kind !== "x").length);
      assert.ok(
        Math.max(...live) <= 1,
        `at most one ended marker per key waits for cleanup (max ${Math.max(...live)})`,
      );
      await sweep(db, stack.server.table, Date.now() + 2 * 3_600_000);
      assert.deepEqual((await markers()).flat(), [], "the sweep closes every marker and drops every tombstone");
    } finally {
      db.destroy();
    }
  });
});
