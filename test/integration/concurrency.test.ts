// The hard cap under load (docs/guarantees.md#1-hard-cap): a key whose cap fits exactly N calls gets exactly N through,
// however many arrive at once and however many proxy instances share the ledger.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type FakeVendors, startFakeVendors } from "../support/fake-vendors";
import { type LocalProcess, localEnv, spawnInstances, spawnLocal } from "../support/processes";
import { issuerAt, STRIPE_KEY_REQUEST, type Stack, startStack, tally } from "../support/stack";

const CALLS = 300;
const FITS = 37;
const PRICE_CENTS = 125; // 1.25 USD; the cap is FITS x 1.25 USD

function charge(baseUrl: string, vaultKey: string, n: number): Promise<number> {
  return fetch(`${baseUrl}/v1/payment_intents`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${vaultKey}`,
      "content-type": "application/x-www-form-urlencoded",
      "idempotency-key": `call-${n}`,
    },
    body: `amount=${PRICE_CENTS}&currency=usd`,
  }).then(async (res) => {
    await res.arrayBuffer();
    return res.status;
  });
}

const keyRequest = { ...STRIPE_KEY_REQUEST, daily_usd_cap: (FITS * PRICE_CENTS) / 100 };

describe("hard cap under concurrency", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it(`lets exactly ${FITS} of ${CALLS} simultaneous calls through on one instance`, async () => {
    const key = await stack.issue(keyRequest);
    const statuses = await Promise.all(Array.from({ length: CALLS }, (_, n) => charge(stack.url, key.vault_key, n)));
    assert.deepEqual(tally(statuses), { 200: FITS, 429: CALLS - FITS });
    assert.equal(stack.vendors.stripe.received.length, FITS);
    await stack.server.idle();
    const state = (await stack.issuer("GET", `/vault/keys/${key.key_id}`)).body;
    assert.equal(state.spent_today_usd, (FITS * PRICE_CENTS) / 100);
    assert.equal(state.remaining_today_usd, 0);
  });
});

describe("hard cap across several proxy processes sharing one table", () => {
  let vendors: FakeVendors;
  let instances: LocalProcess[];
  before(async () => {
    vendors = await startFakeVendors();
    instances = await spawnInstances(
      await localEnv(vendors, { KEYBRAKE_AUDIT_FILE: `/tmp/keybrake-concurrency-${process.pid}.jsonl` }),
    );
  });
  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await vendors.close();
  });

  it(`lets exactly ${FITS} of ${CALLS} calls through, spread over 3 instances`, async () => {
    const issued = await issuerAt(instances[0]!.url)("POST", "/vault/keys", keyRequest);
    assert.equal(issued.status, 201);
    const key = issued.body as { vault_key: string; key_id: string };
    const statuses = await Promise.all(
      Array.from({ length: CALLS }, (_, n) => charge(instances[n % instances.length]!.url, key.vault_key, n)),
    );
    assert.deepEqual(tally(statuses), { 200: FITS, 429: CALLS - FITS });
    assert.equal(vendors.stripe.received.length, FITS);
    const state = (await issuerAt(instances[1]!.url)("GET", `/vault/keys/${key.key_id}`)).body;
    assert.equal(state.spent_today_usd, (FITS * PRICE_CENTS) / 100);
    assert.equal(state.remaining_today_usd, 0);
  });
});

describe("two first starts at once on a fresh table", () => {
  it("both come up and serve the same ledger", async () => {
    const vendors = await startFakeVendors();
    const env = await localEnv(vendors, { KEYBRAKE_AUDIT_FILE: `/tmp/keybrake-first-start-${process.pid}.jsonl` });
    const started = await Promise.allSettled([spawnLocal(env), spawnLocal(env)]);
    const up = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    try {
      assert.deepEqual(
        started.map((s) => (s.status === "rejected" ? String(s.reason) : "up")),
        ["up", "up"],
      );
      const key = (await issuerAt(up[0]!.url)("POST", "/vault/keys", STRIPE_KEY_REQUEST)).body as { key_id: string };
      const shown = await issuerAt(up[1]!.url)("GET", `/vault/keys/${key.key_id}`);
      assert.equal(shown.status, 200);
    } finally {
      await Promise.all(up.map((p) => p.stop()));
      await vendors.close();
    }
  });
});
