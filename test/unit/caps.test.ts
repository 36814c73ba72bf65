// The pure pieces of caps that stack (docs/guarantees.md#9-caps-stack).
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { spendCaps, validateArgs } from "../../components/args";
import { checkStackConfigKeys } from "../../deploy/config";
import { capEventPublisher, capThresholdEntry } from "../../lambda/audit/events";
import { metricsFor } from "../../lambda/audit/metrics";
import type { CallRecord, CapThresholdRecord } from "../../lambda/audit/record";
import { MAX_PARTS, parseSpendCaps, partShares, spendCapsJson } from "../../lambda/core/caps";
import { microToDecimal } from "../../lambda/core/money";
import { validateBudgetRequest, validateKeyRequest } from "../../lambda/issuer/validate";
import { budgetIdOfPart, levelsFor } from "../../lambda/ledger/budget-record";
import { marshalMarker, unmarshalMarker } from "../../lambda/ledger/key-record";
import { partMoves } from "../../lambda/ledger/settlement";
import { snippet } from "../support/markdown";

describe("part shares", () => {
  it("sum exactly to the cap, the remainder spread one micro-USD at a time", () => {
    assert.deepEqual(partShares(150_000_000, 4), [37_500_000, 37_500_000, 37_500_000, 37_500_000]);
    assert.deepEqual(partShares(10, 3), [4, 3, 3]);
    for (const [cap, parts] of [
      [1, 1],
      [7, 7],
      [999_999_999, 16],
      [150_000_001, 8],
    ] as const) {
      const shares = partShares(cap, parts);
      assert.equal(shares.length, parts);
      assert.equal(
        shares.reduce((a, b) => a + b, 0),
        cap,
      );
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
    }
  });
});

describe("KEYBRAKE_SPEND_CAPS", () => {
  it("round-trips what the component writes, with defaults for parts and mode", () => {
    const caps = parseSpendCaps(
      JSON.stringify({
        deployment: { stripe: { daily_usd_cap: 2000 } },
        issuers: { billing: { stripe: { daily_usd_cap: 500.5, parts: 2, mode: "shadow" } } },
      }),
    );
    assert.deepEqual(caps, {
      deployment: { stripe: { capMicro: 2_000_000_000, parts: 4, mode: "enforce" } },
      issuers: { billing: { stripe: { capMicro: 500_500_000, parts: 2, mode: "shadow" } } },
    });
    assert.deepEqual(parseSpendCaps(spendCapsJson(caps)), caps);
    assert.deepEqual(parseSpendCaps(undefined), { deployment: {}, issuers: {} });
  });

  it("refuses what it cannot read, naming the field", () => {
    for (const [text, message] of [
      ["{", /not valid JSON/],
      ["[]", /must be an object/],
      [JSON.stringify({ deployment: { stripe: { daily_usd_cap: 1, parts: MAX_PARTS + 1 } } }), /parts/],
      [JSON.stringify({ deployment: { stripe: { cap: 1 } } }), /deployment\.stripe\.cap is not a known field/],
      [JSON.stringify({ issuers: { billing: { mail: { daily_usd_cap: 1 } } } }), /issuers\.billing\.mail/],
      [JSON.stringify({ deployment: { stripe: { daily_usd_cap: -1 } } }), /daily_usd_cap must be > 0/],
    ] as const) {
      assert.throws(() => parseSpendCaps(text), message, text);
    }
  });
});

describe("the levels a key draws from", () => {
  const caps = parseSpendCaps(
    JSON.stringify({
      deployment: { stripe: { daily_usd_cap: 2000, parts: 8 } },
      issuers: { billing: { stripe: { daily_usd_cap: 500, parts: 2 } }, ops: { twilio: { daily_usd_cap: 5 } } },
    }),
  );
  const key = { issuer: "billing", vendor: "stripe" as const };

  it("none for a key standing alone: its reservation stays one UpdateItem", () => {
    assert.deepEqual(levelsFor({ issuer: "ops", vendor: "stripe" }, { deployment: {}, issuers: {} }), []);
    assert.deepEqual(levelsFor({ issuer: "ops", vendor: "resend" }, caps), []);
  });

  it("its budget, its issuer's budget for its vendor, the deployment's cap: most specific first", () => {
    const budget = { id: "0123456789abcdef", capMicro: 150_000_000, parts: 4, mode: "enforce" as const, expiresAt: 1 };
    assert.deepEqual(
      levelsFor({ ...key, budget }, caps).map((l) => [l.kind, l.id, l.capMicro, l.parts, l.signature]),
      [
        ["budget", "B#0123456789abcdef", 150_000_000, 4, undefined],
        ["issuer", "I#billing#stripe", 500_000_000, 2, "500000000/2"],
        ["deployment", "D#stripe", 2_000_000_000, 8, "2000000000/8"],
      ],
    );
    assert.equal(budgetIdOfPart("B#0123456789abcdef#3"), "0123456789abcdef");
    assert.equal(budgetIdOfPart("D#stripe#3"), undefined);
  });
});

describe("a reservation's marker and the money its endings move", () => {
  it("carries the part charges, and reads back what it wrote", () => {
    const marker = {
      kind: "e" as const,
      amountMicro: 29_990_000,
      expiresAt: 5,
      charges: { "B#0123456789abcdef#1": 20_000_000, "B#0123456789abcdef#3": 9_990_000, "D#stripe#0": 29_990_000 },
    };
    assert.deepEqual(unmarshalMarker(marshalMarker(marker)), marker);
    assert.deepEqual(marshalMarker({ kind: "e", amountMicro: 1, expiresAt: 5 }).M!.b, undefined, "no map when none");
  });

  const charges = { "B#0123456789abcdef#1": 20_000_000, "B#0123456789abcdef#3": 9_990_000, "D#stripe#0": 29_990_000 };
  const moves = (delta: number, unsettled = 0) =>
    partMoves("t", "w20261201", charges, delta, unsettled).map((item) => [
      item.Update!.Key!.pk!.S,
      item.Update!.UpdateExpression,
      item.Update!.ExpressionAttributeValues,
    ]);

  it("a release gives every level back what it was charged, part by part", () => {
    assert.deepEqual(moves(29_990_000), [
      ["B#0123456789abcdef#1", "ADD #s :s", { ":s": { N: "-20000000" } }],
      ["B#0123456789abcdef#3", "ADD #s :s", { ":s": { N: "-9990000" } }],
      ["D#stripe#0", "ADD #s :s", { ":s": { N: "-29990000" } }],
    ]);
  });

  it("a settlement below the reservation gives the difference back from the first parts; above, adds it to one", () => {
    assert.deepEqual(moves(25_000_000), [
      ["B#0123456789abcdef#1", "ADD #s :s", { ":s": { N: "-20000000" } }],
      ["B#0123456789abcdef#3", "ADD #s :s", { ":s": { N: "-5000000" } }],
      ["D#stripe#0", "ADD #s :s", { ":s": { N: "-25000000" } }],
    ]);
    assert.deepEqual(moves(-1_000), [
      ["B#0123456789abcdef#1", "ADD #s :s", { ":s": { N: "1000" } }],
      ["D#stripe#0", "ADD #s :s", { ":s": { N: "1000" } }],
    ]);
  });

  it("an unsettled ending counts on the user budget only, and moves no spend", () => {
    assert.deepEqual(moves(0, 29_990_000), [["B#0123456789abcdef#1", "ADD u :u", { ":u": { N: "29990000" } }]]);
  });
});

describe("budget and key requests", () => {
  const base = { vendor: "stripe", daily_usd_cap: 150, expires_in: "1h", agent_run_label: "modal-billing/batch-1" };
  it("a budget: one part and enforced unless said", () => {
    assert.deepEqual(validateBudgetRequest(base), {
      vendor: "stripe",
      capMicro: 150_000_000,
      expiresInSeconds: 3600,
      label: "modal-billing/batch-1",
      parts: 1,
      mode: "enforce",
    });
    assert.equal(validateBudgetRequest({ ...base, parts: 16, mode: "shadow" }).parts, 16);
    assert.throws(() => validateBudgetRequest({ ...base, daily_usd_cap: 0.000003, parts: 4 }), /parts/);
  });

  it("a key may name a budget and shadow mode", () => {
    const key = validateKeyRequest({
      ...base,
      daily_usd_cap: 50,
      allowed_endpoints: ["POST /v1/payment_intents"],
      budget_id: "0123456789abcdef",
      mode: "shadow",
    });
    assert.deepEqual([key.budgetId, key.mode], ["0123456789abcdef", "shadow"]);
    const plain = validateKeyRequest({ ...base, allowed_endpoints: ["POST /v1/payment_intents"], mode: "enforce" });
    assert.deepEqual([plain.budgetId, plain.mode], [undefined, undefined]);
  });
});

describe("threshold events and metrics", () => {
  const record: CapThresholdRecord = {
    event: "cap_threshold",
    time: "2026-12-01T10:00:00.000Z",
    level: "budget",
    cap: "budget",
    threshold_pct: 80,
    trigger: "spend",
    mode: "enforce",
    cap_usd: 150,
    spent_usd: 119.96,
    day: "2026-12-01",
    vendor: "stripe",
    issuer: "billing",
    key_id: "0123456789abcdef",
    agent_run_label: "modal-billing/batch-1/cus_4",
    budget_id: "fedcba9876543210",
  };

  it("an EventBridge entry on the deployment's bus, the record as its detail", async () => {
    const entry = capThresholdEntry("kb-events", "kb", record);
    assert.deepEqual(
      { ...entry, Detail: JSON.parse(entry.Detail!) },
      {
        EventBusName: "kb-events",
        Source: "keybrake",
        DetailType: "keybrake.cap_threshold",
        Detail: { deployment: "kb", ...record },
      },
    );
    const sent: unknown[] = [];
    await capEventPublisher("kb-events", "kb", {
      put: async (e) => {
        sent.push(e);
        return { failed: 0 };
      },
    })(record);
    assert.equal(sent.length, 1);
    await assert.rejects(
      capEventPublisher("kb-events", "kb", { put: async () => ({ failed: 1 }) })(record),
      /EventBridge refused/,
    );
  });

  it("a threshold counts CapThresholds; a would-refuse call counts WouldRefuse", () => {
    assert.deepEqual(
      metricsFor(record).map((b) => b.metrics.map((m) => m.name)),
      [["CapThresholds"]],
    );
    const call = {
      event: "call",
      time: record.time,
      vendor: "stripe",
      issuer: "billing",
      method: "POST",
      endpoint: "/v1/payment_intents",
      decision: "forwarded",
      reserved_usd: 1,
      settled_usd: 1,
      unsettled_usd: 0,
      spent_usd: 1,
      settlement: "settled",
      latency_ms: 1,
      ledger_writes: 1,
      would_refuse: "budget",
    } satisfies CallRecord;
    assert.ok(metricsFor(call)[0]!.metrics.some((m) => m.name === "WouldRefuse"));
  });

  it("the remaining header is a plain decimal", () => {
    assert.deepEqual([20_010_000, 0, 1, 50_000_000, 123_456_789].map(microToDecimal), [
      "20.01",
      "0",
      "0.000001",
      "50",
      "123.456789",
    ]);
  });
});

describe("docs/deploy.md's caps as code", () => {
  it("is stack config the root program takes, and declares what it says", () => {
    const yaml = createRequire(require.resolve("@pulumi/pulumi"))("js-yaml") as { load(text: string): unknown };
    const { config } = yaml.load(snippet("docs/deploy.md", "caps-as-code")) as { config: Record<string, unknown> };
    checkStackConfigKeys(Object.fromEntries(Object.keys(config).map((k) => [k, "x"])));
    const args = {
      stripeSecretKey: "sk_test",
      dailyUsdCap: config["keybrake:dailyUsdCap"] as Record<string, number>,
      dailyUsdCapParts: config["keybrake:dailyUsdCapParts"] as number,
      issuers: config["keybrake:issuers"] as Record<string, object>,
    };
    validateArgs(args);
    assert.deepEqual(spendCaps(args), {
      deployment: { stripe: { capMicro: 2_000_000_000, parts: 8, mode: "enforce" } },
      issuers: { billing: { stripe: { capMicro: 500_000_000, parts: 4, mode: "enforce" } } },
    });
  });
});
