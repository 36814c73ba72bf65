// Which metrics each kind of audit record stands for (the EMF lines themselves:
// test/integration/lambda-handlers.test.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { metricsFor } from "../../lambda/audit/metrics";
import type { CallRecord } from "../../lambda/audit/record";

const call: CallRecord = {
  event: "call",
  time: "2026-11-24T10:00:00.000Z",
  key_id: "0123456789abcdef",
  issuer: "billing",
  agent_run_label: "modal-billing/cus_1",
  vendor: "twilio",
  method: "POST",
  endpoint: "/2010-04-01/Accounts/AC1/Messages.json",
  decision: "forwarded",
  reserved_usd: 0.02,
  settled_usd: 0,
  unsettled_usd: 0.02,
  spent_usd: 0.02,
  settlement: "unsettled",
  latency_ms: 25_000,
  ledger_writes: 2,
};
const names = (record: Parameters<typeof metricsFor>[0]) =>
  metricsFor(record).map((blob) => [blob.dimensionSets, blob.metrics.map((m) => `${m.name}=${m.value}`)]);
const spendSets = (vendor: string, issuer: string) => [{}, { vendor }, { issuer }];

describe("metricsFor", () => {
  it("counts an unknown outcome as spent and unsettled", () => {
    assert.deepEqual(names(call), [
      [
        spendSets("twilio", "billing"),
        ["Calls=1", "Forwarded=1", "SpendUSD=0.02", "LatencyMs=25000", "Unsettled=1", "UnsettledUSD=0.02"],
      ],
    ]);
  });

  it("counts a refusal by reason, under issuer `none` before the key is known", () => {
    const refused: CallRecord = {
      ...call,
      key_id: undefined,
      issuer: undefined,
      decision: "refused",
      reason: "missing_key",
      reserved_usd: 0,
      unsettled_usd: 0,
      spent_usd: 0,
      settlement: "none",
      latency_ms: 1,
      ledger_writes: 0,
    };
    assert.deepEqual(names(refused), [
      [spendSets("twilio", "none"), ["Calls=1", "Refusals=1", "SpendUSD=0", "LatencyMs=1"]],
      [[{ reason: "missing_key" }], ["Refusals=1"]],
    ]);
  });

  it("counts a failed settlement write as a ledger error, and an idempotent retry as a retry", () => {
    const failed: CallRecord = {
      ...call,
      settlement: "swept",
      unsettled_usd: 0,
      spent_usd: 0,
      ledger_error: "settlement_write_failed",
    };
    assert.deepEqual(names(failed)[0]![1], [
      "Calls=1",
      "Forwarded=1",
      "SpendUSD=0",
      "LatencyMs=25000",
      "LedgerErrors=1",
    ]);
    const retry: CallRecord = { ...call, settlement: "retry", reserved_usd: 0, unsettled_usd: 0, spent_usd: 0 };
    assert.deepEqual(names(retry)[0]![1], ["Calls=1", "Forwarded=1", "SpendUSD=0", "LatencyMs=25000", "Retried=1"]);
  });

  it("publishes a vendor price above the reservation as OverageUSD, the alarm's metric", () => {
    const over: CallRecord = {
      ...call,
      settlement: "settled",
      reserved_usd: 0.02,
      settled_usd: 1.2,
      unsettled_usd: 0,
      spent_usd: 1.2,
      overage_usd: 1.18,
    };
    assert.deepEqual(names(over), [
      [
        spendSets("twilio", "billing"),
        ["Calls=1", "Forwarded=1", "SpendUSD=1.2", "LatencyMs=25000", "Settled=1", "OverageUSD=1.18"],
      ],
    ]);
    const exact: CallRecord = { ...over, settled_usd: 0.02, spent_usd: 0.02, overage_usd: undefined };
    assert.ok(!metricsFor(exact)[0]!.metrics.some((m) => m.name === "OverageUSD"));
  });

  it("counts a swept pending reservation's spend, not an exact or settled leftover's; key events have no metrics", () => {
    const context = {
      time: call.time,
      key_id: "0123456789abcdef",
      issuer: "billing",
      agent_run_label: "x",
      vendor: "stripe" as const,
    };
    const swept = { event: "reservation_swept" as const, ...context, reservation_id: "r1", unsettled_usd: 1.5 };
    assert.deepEqual(names({ ...swept, swept_as: "pending", spent_usd: 1.5 }), [
      [spendSets("stripe", "billing"), ["Swept=1", "SpendUSD=1.5", "UnsettledUSD=1.5"]],
    ]);
    // Its call record most likely carried the amount already: counting it again would double SpendUSD.
    for (const swept_as of ["exact", "settled", "unsettled"] as const)
      assert.deepEqual(names({ ...swept, swept_as, unsettled_usd: 0, spent_usd: 2 }), [], swept_as);
    assert.deepEqual(names({ event: "key_revoked", ...context, revoked_by: "key_id" }), []);
  });
});
