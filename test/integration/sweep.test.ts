// A proxy that dies between reserve and settle leaves no dangling reservation: the pending marker expires and the sweep
// ends it conservatively (kept as spent, counted unsettled), exactly once.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import twilio from "twilio";
import { memorySink } from "../../lambda/audit/sink";
import type { IssuedKeyBody } from "../../lambda/issuer/service";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { getKey, putKey } from "../../lambda/ledger/keys";
import { sweep } from "../../lambda/ledger/sweep";
import { ensureLedgerTable } from "../../lambda/ledger/table";
import { runSweep } from "../../lambda/sweep/run";
import { type FakeVendors, SECRETS, startFakeVendors } from "../support/fake-vendors";
import { type LocalProcess, localEnv, spawnLocal } from "../support/processes";
import { dynamoEndpoint, freshTable, issuerAt } from "../support/stack";
import { TWILIO_MESSAGES } from "../support/vendor-calls";

/** A $1 Twilio key issued by `local`, a twilio-node client on it, and the fake Twilio set to never answer. */
async function smsKeyWithTwilioHanging(local: LocalProcess, vendors: FakeVendors, label: string) {
  const key = (
    await issuerAt(local.url)("POST", "/vault/keys", {
      vendor: "twilio",
      daily_usd_cap: 1,
      allowed_endpoints: [`POST ${TWILIO_MESSAGES}`],
      expires_in: "1h",
      agent_run_label: label,
    })
  ).body as IssuedKeyBody;
  vendors.twilio.respond = () => "hang";
  const client = twilio(SECRETS.TWILIO_ACCOUNT_SID, key.vault_key);
  client.api.baseUrl = `${local.url}/twilio`;
  return { key, client };
}

describe("orphaned reservations", () => {
  let vendors: FakeVendors;
  let local: LocalProcess;
  const table = freshTable();

  before(async () => {
    vendors = await startFakeVendors();
    local = await spawnLocal(
      await localEnv(vendors, {
        KEYBRAKE_TABLE: table,
        KEYBRAKE_AUDIT_FILE: `/tmp/keybrake-sweep-${process.pid}.jsonl`,
      }),
    );
  });
  after(async () => {
    await local.stop();
    await vendors.close();
  });

  it("are swept as unsettled after their expiry when the proxy crashed mid-call", async () => {
    const { key, client } = await smsKeyWithTwilioHanging(local, vendors, "crash/1");
    const call = client.messages.create({ to: "+15005550006", from: "+15005550001", body: "hello" }).catch((e) => e);
    while (vendors.twilio.received.length === 0) await new Promise((r) => setTimeout(r, 20));
    await local.stop("SIGKILL"); // a crash mid-call: the settlement never runs
    await call;

    const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    try {
      const before = await getKey(db, table, key.key_id);
      assert.equal(before!.remainingByDay.values().next().value, 980_000, "the 0.02 USD reservation is held");
      assert.deepEqual(await sweep(db, table, Date.now()), { swept: [], expired: [] }, "not swept before its expiry");

      const later = Date.now() + 60 * 60_000; // past the marker's expiry and the key's
      const { swept, expired } = await sweep(db, table, later);
      assert.equal(swept.length, 1);
      assert.match(swept[0]!.rid, /^r[\w-]{11}$/);
      assert.deepEqual(
        { ...swept[0], rid: undefined, marker: { ...swept[0]!.marker, expiresAt: undefined } },
        {
          keyId: key.key_id,
          issuer: "local",
          label: "crash/1",
          vendor: "twilio",
          rid: undefined,
          marker: { kind: "r", amountMicro: 20_000, expiresAt: undefined },
          unsettled: true,
        },
      );
      assert.deepEqual(
        expired.map((k) => [k.keyId, k.unsettledMicro]),
        [[key.key_id, 20_000]],
        "the expiry is noted after the orphan is kept",
      );
      assert.deepEqual(await sweep(db, table, later), { swept: [], expired: [] }, "exactly once");
      const after = await getKey(db, table, key.key_id);
      assert.equal(after!.unsettledMicro, 20_000);
      assert.equal(after!.remainingByDay.values().next().value, 980_000, "kept as spent");
    } finally {
      db.destroy();
      vendors.twilio.respond = undefined;
    }
  });

  it("also closes a pending marker written before markers had kinds (an upgrade mid-call)", async () => {
    // (The proxy of the test above is gone: the key is written straight into the ledger.)
    const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    const key = { key_id: "00000000000000aa" };
    await putKey(db, table, {
      keyId: key.key_id,
      keyHash: "00",
      vendor: "twilio",
      issuer: "local",
      label: "crash/legacy",
      capMicro: 1_000_000,
      allowedEndpoints: [],
      createdAt: Date.now(),
      expiresAt: Date.now() + 86_400_000,
    });
    try {
      const window = `w${new Date().toISOString().slice(0, 10).replace(/-/g, "")}`;
      await db.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: `K#${key.key_id}` } },
          UpdateExpression: "SET #w = :left, p.#rid = :old",
          ExpressionAttributeNames: { "#w": window, "#rid": "rlegacy1" },
          ExpressionAttributeValues: {
            ":left": { N: "950000" },
            ":old": { M: { a: { N: "50000" }, w: { S: window }, x: { N: String(Date.now()) } } },
          },
        }),
      );
      const { swept } = await sweep(db, table, Date.now() + 60_000);
      assert.deepEqual(
        swept.map((s) => [s.rid, s.marker.kind, s.unsettled]),
        [["rlegacy1", "r", true]],
      );
      assert.equal((await getKey(db, table, key.key_id))!.unsettledMicro, 50_000);
    } finally {
      db.destroy();
    }
  });
});

describe("a sweep cut short", () => {
  /**
   * Four keys, each with an orphan priced from the answer (0.02 USD held), swept by a client whose closes of
   * pending markers fail as `fault` says; then a sweep without faults. Every orphan must be closed and recorded
   * exactly once, whatever the first run managed.
   */
  async function sweepWithFaults(fault: (close: number) => "never_applied" | "lost_answer" | undefined) {
    const table = freshTable();
    const plain = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
    let closes = 0;
    db.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { UpdateExpression?: string };
        const mode = input.UpdateExpression?.startsWith("ADD unsettled") ? fault(++closes) : undefined;
        const timeout = () => Object.assign(new Error("socket timed out"), { name: "TimeoutError", $metadata: {} });
        if (mode === "never_applied") throw timeout();
        const out = await next(args);
        if (mode === "lost_answer") throw timeout();
        return out;
      },
      { step: "initialize", name: "cutShort" },
    );
    const window = `w${new Date().toISOString().slice(0, 10).replace(/-/g, "")}`;
    const keyIds = ["00000000000000b1", "00000000000000b2", "00000000000000b3", "00000000000000b4"];
    try {
      await ensureLedgerTable(plain, table);
      for (const keyId of keyIds) {
        await putKey(plain, table, {
          keyId,
          keyHash: "00",
          vendor: "twilio",
          issuer: "local",
          label: `cut/${keyId}`,
          capMicro: 1_000_000,
          allowedEndpoints: [],
          createdAt: Date.now(),
          expiresAt: Date.now() + 86_400_000,
        });
        await plain.send(
          new UpdateItemCommand({
            TableName: table,
            Key: { pk: { S: `K#${keyId}` } },
            UpdateExpression: "SET #w = :left, p.#rid = :open",
            ExpressionAttributeNames: { "#w": window, "#rid": `r${keyId}` },
            ExpressionAttributeValues: {
              ":left": { N: "980000" },
              ":open": { M: { k: { S: "r" }, a: { N: "20000" }, x: { N: String(Date.now()) } } },
            },
          }),
        );
      }
      const audit = memorySink();
      const later = Date.now() + 60_000;
      const first = await runSweep(db, table, later, audit).then(
        () => "finished",
        () => "cut short",
      );
      await runSweep(db, table, later, audit);
      for (const keyId of keyIds) {
        const state = (await getKey(plain, table, keyId))!;
        assert.equal(state.markers.size, 0, "every orphan is closed");
        const recorded = audit.records
          .filter((r) => r.event === "reservation_swept" && r.key_id === keyId)
          .map((r) => (r as { unsettled_usd: number }).unsettled_usd);
        assert.deepEqual(recorded, [0.02], `${keyId}: one record for the orphan the ledger kept`);
        assert.equal(state.unsettledMicro, 20_000);
      }
      return first;
    } finally {
      db.destroy();
      plain.destroy();
    }
  }

  it("a key whose closes keep failing: the others are closed and recorded, the next sweep gets it", async () => {
    const first = await sweepWithFaults((close) => (close >= 2 && close <= 4 ? "never_applied" : undefined));
    assert.equal(first, "cut short", "the run says it did not finish");
  });

  it("a close applied whose answer was lost is recorded once, by the send that learns it", async () => {
    const first = await sweepWithFaults((close) => (close === 2 ? "lost_answer" : undefined));
    assert.equal(first, "finished");
  });
});

describe("local mode's timings from its environment", () => {
  it("a vendor timeout, the pending grace and the sweep interval, exercised from outside in a second", async () => {
    const vendors = await startFakeVendors();
    const auditFile = `/tmp/keybrake-timings-${process.pid}.jsonl`;
    const local = await spawnLocal({
      ...(await localEnv(vendors)),
      KEYBRAKE_AUDIT_FILE: auditFile,
      KEYBRAKE_UPSTREAM_TIMEOUT_MS: "300",
      KEYBRAKE_PENDING_GRACE_MS: "200",
      KEYBRAKE_SWEEP_INTERVAL_MS: "250",
    });
    try {
      const { key, client } = await smsKeyWithTwilioHanging(local, vendors, "timings/1");
      const error = (await client.messages
        .create({ to: "+15005550006", from: "+15005550001", body: "hi" })
        .catch((e: unknown) => e)) as { status?: number };
      assert.equal(error.status, 504, "the vendor timeout came from KEYBRAKE_UPSTREAM_TIMEOUT_MS");
      // The process's own sweep closes the marker once the grace has passed.
      let swept: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && !swept; i++) {
        await new Promise((r) => setTimeout(r, 100));
        swept = readFileSync(auditFile, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .find((r) => r.event === "reservation_swept" && r.key_id === key.key_id);
      }
      assert.deepEqual(
        [swept?.swept_as, swept?.unsettled_usd, swept?.spent_usd],
        ["unsettled", 0.02, 0.02],
        "swept by local mode's own timer",
      );
    } finally {
      vendors.twilio.respond = undefined;
      await local.stop();
      await vendors.close();
    }
  });

  it("refuses a timing that is not a whole number of milliseconds, in one line", async () => {
    await assert.rejects(
      spawnLocal(await localEnv(undefined, { KEYBRAKE_SWEEP_INTERVAL_MS: "soon" })),
      /keybrake: KEYBRAKE_SWEEP_INTERVAL_MS must be a whole number of milliseconds above 0, got "soon"/,
    );
  });
});
