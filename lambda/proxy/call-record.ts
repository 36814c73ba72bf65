// The audit record of one proxied call, as the call's flow fills it in: where it went, whose key it was,
// what the vendor answered, and the money. Pure shaping; writing it is the sink's job.
import type { CallRecord, UpstreamFailure } from "../audit/record";
import type { Ending } from "../core/ending";
import { UpstreamTimeoutError } from "../core/errors";
import { microToUsd, sumUsd } from "../core/money";
import type { KeyRecord } from "../ledger/key-record";
import type { UpstreamReply, VendorAdapter } from "../vendors/adapter";
import { UpstreamUnreachableError } from "./forward";
import type { RawTarget } from "./request";

/** A record for a call that has just arrived: refused, nothing reserved, until the flow says otherwise. */
export function newCallRecord(input: RawTarget, started: number): CallRecord {
  return {
    event: "call",
    time: new Date(started).toISOString(),
    vendor: "stripe",
    method: input.method.toUpperCase(),
    endpoint: input.target.split("?")[0]!,
    decision: "refused",
    reserved_usd: 0,
    settled_usd: 0,
    unsettled_usd: 0,
    spent_usd: 0,
    settlement: "none",
    latency_ms: 0,
    ledger_writes: 0,
  };
}

/** Says whose key the call came with (a genuine key, even when it is refused for its state). */
export function describeKey(record: CallRecord, key: KeyRecord): void {
  record.key_id = key.keyId;
  record.issuer = key.issuer;
  record.agent_run_label = key.label;
  record.vendor = key.vendor;
}

/** What the vendor answered, or why it gave no answer. */
export function recordAnswer(
  record: CallRecord,
  adapter: VendorAdapter,
  reply: UpstreamReply | undefined,
  failure: unknown,
): void {
  if (!reply) {
    record.upstream_error = upstreamFailure(failure);
    return;
  }
  record.upstream_status = reply.status;
  const ids = adapter.replyIds(reply);
  record.vendor_object_id = ids.objectId;
  record.vendor_request_id = ids.requestId;
}

/**
 * The money, once the reservation has ended as `settlement` says: what this record carries of it. A `swept`
 * reservation's amount is carried by the sweep's own record, never by this one.
 */
export function recordMoney(
  record: CallRecord,
  settlement: CallRecord["settlement"],
  reservedMicro: number,
  ending: Ending,
): void {
  record.settlement = settlement;
  if (settlement === "settled" && ending.kind === "settled") {
    record.settled_usd = microToUsd(ending.actualMicro);
    // The vendor charged more than was reserved: kept as it is, and said out loud.
    if (ending.actualMicro > reservedMicro) record.overage_usd = microToUsd(ending.actualMicro - reservedMicro);
  }
  if (settlement === "unsettled") record.unsettled_usd = microToUsd(reservedMicro);
  record.spent_usd = sumUsd([record.settled_usd, record.unsettled_usd]);
}

function upstreamFailure(failure: unknown): UpstreamFailure {
  if (failure instanceof UpstreamUnreachableError) return "upstream_unreachable";
  if (failure instanceof UpstreamTimeoutError) return "upstream_timeout";
  return "upstream_failed";
}
