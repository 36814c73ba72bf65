// Ledger writes under faults, one at a time (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice): a write
// DynamoDB applied whose answer was lost, one that never got through, one the SDK retried after it was applied. Faults
// are injected around the real client's sends (or inside its retries); the ledger is DynamoDB Local. After each, the
// ledger and the audit trail must agree, and nothing unreserved may reach the vendor.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  type DynamoDBClient,
  type TransactWriteItemsCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { reservationTotals } from "../../lambda/audit/accounting";
import { isSpendRecord } from "../../lambda/audit/filter";
import type { CallRecord } from "../../lambda/audit/record";
import { SecretUnavailableError } from "../../lambda/core/errors";
import { secretsManagerSource } from "../../lambda/core/secrets";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { keyPk } from "../../lambda/ledger/key-record";
import { getKey } from "../../lambda/ledger/keys";
import { dynamoEndpoint, STRIPE_KEY_REQUEST, type Stack, startStack } from "../support/stack";
import { postPaymentIntent, postTwilioMessage, stripeVia, TWILIO_MESSAGES } from "../support/vendor-calls";

type Mode = "lost_answer" | "never_applied" | "retried_by_sdk";
type Write = "reserve" | "settle" | "compensate";
const WRITE_OF: Array<[Write, string]> = [
  ["reserve", ":marker"],
  ["settle", ":to"],
  ["compensate", ":stone"],
];
const timeout = () => Object.assign(new Error("socket timed out"), { name: "TimeoutError", $metadata: {} });

describe("ledger writes under faults", () => {
  let stack: Stack;
  let db: DynamoDBClient;
  const faults = new Map<Write, Mode>();
  /** How many more times each write's fault fires (once unless set). */
  const times = new Map<Write, number>();
  const fired = (write: Write) => {
    const left = (times.get(write) ?? 1) - 1;
    if (left > 0) times.set(write, left);
    else {
      times.delete(write);
      faults.delete(write);
    }
  };
  const seen: Array<{ write: Write; input: UpdateItemCommandInput }> = [];
  /** Which write this is: an UpdateItem's values, or a transaction's first item (a budget key's own item). */
  const writeOf = (input: UpdateItemCommandInput & TransactWriteItemsCommandInput) => {
    const values = input.ExpressionAttributeValues ?? input.TransactItems?.[0]?.Update?.ExpressionAttributeValues;
    return WRITE_OF.find(([, value]) => values?.[value] !== undefined)?.[0];
  };

  before(async () => {
    db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    // Around the SDK's retries: the caller sees the fault.
    db.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as UpdateItemCommandInput & TransactWriteItemsCommandInput;
        const write = writeOf(input);
        if (write) seen.push({ write, input });
        const mode = write ? faults.get(write) : undefined;
        if (mode === "never_applied") {
          fired(write!);
          throw timeout();
        }
        const out = await next(args);
        if (mode === "lost_answer") {
          fired(write!);
          throw timeout();
        }
        return out;
      },
      { step: "initialize", name: "outerFaults" },
    );
    // Inside the SDK's retries: the first attempt is applied, its answer lost, and the SDK sends it again.
    db.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const write = writeOf(
          (args as unknown as { input: UpdateItemCommandInput & TransactWriteItemsCommandInput }).input,
        );
        if (write && faults.get(write) === "retried_by_sdk") {
          faults.delete(write);
          throw timeout();
        }
        return out;
      },
      { step: "deserialize", name: "innerFaults" },
    );
    stack = await startStack({ db, upstreamTimeoutMs: 1_000 });
  });
  after(() => stack.close());
  beforeEach(() => {
    faults.clear();
    times.clear();
    seen.length = 0;
  });

  const calls = (keyId: string) => stack.audit.filter((r): r is CallRecord => r.event === "call" && r.key_id === keyId);
  /** The audit trail, per reservation at its largest amount, against the ledger, for one key. */
  async function assertBooksBalance(keyId: string): Promise<void> {
    const state = (await stack.keyState(keyId))!;
    const records = stack.audit.filter(isSpendRecord).filter((r) => r.key_id === keyId);
    assert.deepEqual(reservationTotals(records), {
      spent_usd: state.spent_today_usd,
      unsettled_usd: state.unsettled_usd,
    });
  }
  const sweepLater = async () => {
    stack.clock.shift(20 * 60_000);
    try {
      await stack.server.sweep();
    } finally {
      stack.clock.shift(-20 * 60_000);
    }
  };
  const twilioKey = () =>
    stack.issue({
      ...STRIPE_KEY_REQUEST,
      vendor: "twilio",
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
    });
  const sms = (vaultKey: string) => postTwilioMessage(stack.url, vaultKey);
  /** A 9 USD PaymentIntent that Stripe declines (402), with `mode` injected on the write that releases it. */
  async function declinedWithSettleFault(vaultKey: string, mode: Mode) {
    stack.vendors.stripe.respond = () => ({ status: 402, body: { error: { type: "card_error" } } });
    faults.set("settle", mode);
    try {
      assert.equal((await postPaymentIntent(stack.url, vaultKey, "amount=900&currency=usd")).status, 402);
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
  }
  /** One SMS on a fresh Twilio key, priced 0.0079 USD by Twilio, with `mode` injected on its settlement write. */
  async function smsWithSettleFault(mode: Mode, sid: string) {
    const key = await twilioKey();
    stack.vendors.twilio.respond = () => ({ status: 201, body: { sid, price: "-0.00790", price_unit: "USD" } });
    faults.set("settle", mode);
    try {
      assert.equal((await sms(key.vault_key)).status, 201);
    } finally {
      stack.vendors.twilio.respond = undefined;
    }
    await stack.server.idle();
    return key;
  }

  it("an SDK retry of an applied reservation finds its own marker: reserved once, forwarded once", async () => {
    const key = await stack.issue();
    const before = stack.vendors.stripe.received.length;
    faults.set("reserve", "retried_by_sdk");
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=1500&currency=usd")).status, 200);
    assert.equal(stack.vendors.stripe.received.length, before + 1);
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 15);
    assert.deepEqual(
      calls(key.key_id).map((r) => r.settlement),
      ["settled"],
    );
    await assertBooksBalance(key.key_id);
  });

  it("a reservation write the SDK sent twice keeps its marker past cleanup: a late copy can never land", async () => {
    const key = await stack.issue();
    faults.set("reserve", "retried_by_sdk");
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=1500&currency=usd")).status, 200);
    const write = seen.find((s) => s.write === "reserve")!.input;
    // The next calls on the key remove this process's ended markers in passing.
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=100&currency=usd")).status, 200);
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=100&currency=usd")).status, 200);
    // A copy of the first write still on its way (a request DynamoDB was holding) arrives now: refused.
    await assert.rejects(db.send(new UpdateItemCommand(write)), { name: "ConditionalCheckFailedException" });
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 17, "charged once");
    await sweepLater();
    await assertBooksBalance(key.key_id);
  });

  it("a reservation whose answer was lost: 503, nothing forwarded, compensated back to 0", async () => {
    const key = await stack.issue();
    const before = stack.vendors.stripe.received.length;
    faults.set("reserve", "lost_answer");
    const res = await postPaymentIntent(stack.url, key.vault_key, "amount=1500&currency=usd");
    assert.equal(res.status, 503);
    assert.equal(stack.vendors.stripe.received.length, before, "nothing was forwarded");
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0, "the reservation that landed was released");
    const rid = calls(key.key_id)[0]!.reservation_id!;
    assert.equal((await getKey(db, stack.server.table, key.key_id))!.markers.get(rid)?.kind, "x", "a tombstone");
    await assertBooksBalance(key.key_id);
  });

  it("a reservation DynamoDB rejects outright (its key's item at 400 KB): 503, nothing forwarded, nothing to compensate", async () => {
    const key = await stack.issue();
    // A hot key shared by a churning fleet can fill its item with markers; a filler stands in for them, as large
    // as DynamoDB takes (within 16 bytes of its 400 KB), so a reservation's marker no longer fits.
    for (let size = 409_600; ; size -= 16) {
      const filled = await db
        .send(
          new UpdateItemCommand({
            TableName: stack.server.table,
            Key: { pk: { S: keyPk(key.key_id) } },
            UpdateExpression: "SET filler = :f",
            ExpressionAttributeValues: { ":f": { S: "x".repeat(size) } },
          }),
        )
        .then(
          () => true,
          (error: Error) => (error.name === "ValidationException" ? false : Promise.reject(error)),
        );
      if (filled) break;
    }
    const before = stack.vendors.stripe.received.length;
    const compensationsBefore = seen.filter((w) => w.write === "compensate").length;
    const res = await postPaymentIntent(stack.url, key.vault_key, "amount=1500&currency=usd");
    assert.equal(res.status, 503);
    assert.equal(stack.vendors.stripe.received.length, before, "nothing was forwarded");
    await new Promise((resolve) => setTimeout(resolve, 300)); // a compensation would have been tried by now
    assert.equal(
      seen.filter((w) => w.write === "compensate").length,
      compensationsBefore,
      "no compensation: it never landed",
    );
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0);
    // The sweeps of later tests scan this item too.
    await db.send(
      new UpdateItemCommand({
        TableName: stack.server.table,
        Key: { pk: { S: keyPk(key.key_id) } },
        UpdateExpression: "REMOVE filler",
      }),
    );
  });

  it("a reservation that never landed gets a tombstone, and a late copy of its write can never land", async () => {
    const key = await stack.issue();
    faults.set("reserve", "never_applied");
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=1500&currency=usd")).status, 503);
    await stack.server.idle();
    const write = seen.find((s) => s.write === "reserve")!.input;
    // The same write arriving late (a request DynamoDB was still holding): refused by the tombstone.
    await assert.rejects(db.send(new UpdateItemCommand(write)), { name: "ConditionalCheckFailedException" });
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0);
    await assertBooksBalance(key.key_id);
  });

  it("stripe-node's retry of a 503 whose reservation did land rides on it, and the compensation keeps it", async () => {
    const key = await stack.issue();
    const before = stack.vendors.stripe.received.length;
    faults.set("reserve", "lost_answer");
    // The compensation is slow to get through (its first attempts fail), so the SDK's retry comes first.
    faults.set("compensate", "never_applied");
    times.set("compensate", 5);
    const pi = await stripeVia(stack.url, key.vault_key, { maxNetworkRetries: 1 }).paymentIntents.create({
      amount: 1300,
      currency: "usd",
    });
    assert.match(pi.id, /^pi_/);
    await stack.server.idle();
    assert.equal(stack.vendors.stripe.received.length, before + 1, "forwarded once, by the retry");
    assert.deepEqual(
      calls(key.key_id).map((r) => [r.reason ?? r.settlement, r.spent_usd]),
      [
        ["ledger_unavailable", 0],
        ["retry", 0],
      ],
    );
    const state = await getKey(db, stack.server.table, key.key_id);
    const rid = calls(key.key_id)[0]!.reservation_id!;
    assert.deepEqual([state!.markers.get(rid)?.kind, state!.markers.get(rid)?.ridden], ["e", true], "kept, ridden");
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 13, "the forwarded retry is paid for");
    await sweepLater();
    await assertBooksBalance(key.key_id);
  });

  it("stripe-node's retry of a 503 whose reservation was compensated first is reserved anew", async () => {
    const key = await stack.issue();
    const before = stack.vendors.stripe.received.length;
    faults.set("reserve", "lost_answer");
    const pi = await stripeVia(stack.url, key.vault_key, { maxNetworkRetries: 1 }).paymentIntents.create({
      amount: 1100,
      currency: "usd",
    });
    assert.match(pi.id, /^pi_/);
    await stack.server.idle();
    assert.equal(stack.vendors.stripe.received.length, before + 1);
    const [refused, retried] = calls(key.key_id);
    assert.deepEqual([refused!.reason, retried!.settlement, retried!.spent_usd], ["ledger_unavailable", "settled", 11]);
    assert.notEqual(retried!.reservation_id, refused!.reservation_id, "a reservation of its own");
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 11);
    await sweepLater();
    await assertBooksBalance(key.key_id);
  });

  it("a retry of a compensated call after its tombstone was swept is reserved anew, never free", async () => {
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, expires_in: "1d" });
    const before = stack.vendors.stripe.received.length;
    faults.set("reserve", "lost_answer");
    const body = "amount=1500&currency=usd";
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, body, "idem-compensated")).status, 503);
    await stack.server.idle();
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0, "compensated: released");
    // Two hours on: the tombstone has expired and the sweep drops it; Stripe's 24-hour window is still open, and
    // Stripe never saw the first request, so the retry is a first call there and must be paid for here.
    stack.clock.shift(2 * 3_600_000);
    try {
      await stack.server.sweep();
      assert.equal((await postPaymentIntent(stack.url, key.vault_key, body, "idem-compensated")).status, 200);
      assert.equal(stack.vendors.stripe.received.length, before + 1, "forwarded once, by the retry");
      assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 15, "the forwarded retry is paid for");
      await stack.server.idle();
      const [, retried] = calls(key.key_id);
      assert.deepEqual([retried!.settlement, retried!.spent_usd], ["settled", 15]);
      await assertBooksBalance(key.key_id);
    } finally {
      stack.clock.shift(-2 * 3_600_000);
    }
  });

  it("a settlement whose answer was lost: the record carries nothing, the sweep records what the ledger kept", async () => {
    const key = await smsWithSettleFault("lost_answer", "SM1");
    const [record] = calls(key.key_id);
    assert.deepEqual(
      [record!.settlement, record!.spent_usd, record!.ledger_error],
      ["swept", 0, "settlement_write_failed"],
    );
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0.0079, "the settlement did apply");
    await sweepLater();
    await assertBooksBalance(key.key_id);
  });

  it("a settlement that never applied: the sweep keeps the estimate as unsettled, and the books balance", async () => {
    const key = await smsWithSettleFault("never_applied", "SM2");
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0.02, "the estimate stays reserved");
    // Until the marker expires the record (0) lags the ledger; the sweep's record then carries the amount.
    await sweepLater();
    const state = await stack.keyState(key.key_id);
    assert.deepEqual([state.spent_today_usd, state.unsettled_usd], [0.02, 0.02]);
    await assertBooksBalance(key.key_id);
  });

  it("a settlement the SDK sent again after it applied is counted once", async () => {
    const key = await smsWithSettleFault("retried_by_sdk", "SM3");
    assert.deepEqual(
      calls(key.key_id).map((r) => [r.settlement, r.settled_usd]),
      [["settled", 0.0079]],
    );
    await assertBooksBalance(key.key_id);
  });

  it("a release whose answer was lost: released in the ledger, nothing in the record, nothing for the sweep", async () => {
    const key = await stack.issue();
    await declinedWithSettleFault(key.vault_key, "lost_answer");
    await stack.server.idle();
    assert.equal((await stack.keyState(key.key_id)).spent_today_usd, 0);
    await sweepLater();
    await assertBooksBalance(key.key_id);
  });

  /** A key drawing from a fresh 100 USD budget in 2 parts, and the budget's spend as GET shows it. */
  const budgetKey = async () => {
    const budget = (
      await stack.issuer("POST", "/vault/budgets", {
        vendor: "stripe",
        daily_usd_cap: 100,
        expires_in: "1h",
        agent_run_label: "ledger-faults/budget",
        parts: 2,
      })
    ).body as { budget_id: string };
    const key = await stack.issue({ ...STRIPE_KEY_REQUEST, budget_id: budget.budget_id });
    const spent = async () => {
      await stack.server.idle();
      return (await stack.issuer("GET", `/vault/budgets/${budget.budget_id}`)).body.spent_today_usd as number;
    };
    return { key, spent };
  };

  it("a budget reservation the SDK sent again after it applied: one transaction's worth on key and budget", async () => {
    const { key, spent } = await budgetKey();
    const before = stack.vendors.stripe.received.length;
    faults.set("reserve", "retried_by_sdk");
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=1500&currency=usd")).status, 200);
    assert.equal(stack.vendors.stripe.received.length, before + 1);
    assert.deepEqual([(await stack.keyState(key.key_id)).spent_today_usd, await spent()], [15, 15]);
    await assertBooksBalance(key.key_id);
  });

  it("a budget reservation whose answer was lost: 503, nothing forwarded, compensated on the key and the budget", async () => {
    const { key, spent } = await budgetKey();
    const before = stack.vendors.stripe.received.length;
    faults.set("reserve", "lost_answer");
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=1500&currency=usd")).status, 503);
    assert.equal(stack.vendors.stripe.received.length, before);
    assert.deepEqual([(await stack.keyState(key.key_id)).spent_today_usd, await spent()], [0, 0]);
    await assertBooksBalance(key.key_id);
  });

  it("a budget release whose answer was lost, then retried: given back once on the key and the budget", async () => {
    const { key, spent } = await budgetKey();
    assert.equal((await postPaymentIntent(stack.url, key.vault_key, "amount=700&currency=usd")).status, 200);
    await declinedWithSettleFault(key.vault_key, "retried_by_sdk");
    assert.deepEqual([(await stack.keyState(key.key_id)).spent_today_usd, await spent()], [7, 7]);
    await sweepLater();
    await assertBooksBalance(key.key_id);
  });

  it("one deadline for the pricing read and the forward together: 504, kept as spent", async () => {
    const key = await stack.issue({
      ...STRIPE_KEY_REQUEST,
      allowed_endpoints: ["POST /v1/payment_intents/*/capture"],
    });
    // Each upstream request alone is well inside the 1 s budget; together they are not.
    stack.vendors.stripe.respond = (req) =>
      req.method === "GET"
        ? { status: 200, body: { id: "pi_1", amount: 800, amount_capturable: 800, currency: "usd" }, delayMs: 600 }
        : { status: 200, body: { id: "pi_1", object: "payment_intent" }, delayMs: 600 };
    try {
      const res = await fetch(`${stack.url}/v1/payment_intents/pi_1/capture`, {
        method: "POST",
        headers: { authorization: `Bearer ${key.vault_key}` },
      });
      assert.equal(res.status, 504);
    } finally {
      stack.vendors.stripe.respond = undefined;
    }
    await stack.server.idle();
    const [record] = calls(key.key_id);
    assert.deepEqual(
      [record!.decision, record!.upstream_error, record!.settlement, record!.unsettled_usd],
      ["forwarded", "upstream_timeout", "unsettled", 8],
    );
    await assertBooksBalance(key.key_id);
  });
});

describe("Secrets Manager that accepts and never answers", () => {
  it("the secret read gives up at the call's deadline", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const server = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    });
    try {
      const source = secretsManagerSource({ stripe: "arn:aws:secretsmanager:us-east-1:1:secret:s" });
      await assert.rejects(source.get("stripe", AbortSignal.timeout(300)), SecretUnavailableError);
    } finally {
      process.env = saved;
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
