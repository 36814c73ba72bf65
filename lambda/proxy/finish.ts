// How a forwarded call ends: the vendor's answer (or its absence) decides how the reservation ends, the
// ledger is told, and the call's audit record is written
// (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice). Nothing here can throw: whatever the vendor
// answered and whatever the ledger did, the call gets exactly one record and the ledger and the audit agree.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CallRecord } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import type { Clock } from "../core/clock";
import type { Ending } from "../core/ending";
import type { Log } from "../core/log";
import type { Reservation } from "../ledger/reservations";
import { endReservation, TOMBSTONE_TTL_MS } from "../ledger/settlement";
import type { ProxiedRequest, Quote, UpstreamReply, VendorAdapter } from "../vendors/adapter";
import { recordAnswer, recordMoney } from "./call-record";
import { release } from "./deadline";
import { UpstreamTooLargeError, UpstreamUnreachableError } from "./forward";
import type { Upkeep } from "./upkeep";

export interface FinishDeps {
  db: DynamoDBClient;
  table: string;
  clock: Clock;
  audit: AuditSink;
  log: Log;
  upkeep: Upkeep;
}

export interface ForwardedCall {
  /** Absent for an idempotent retry, which rode on an earlier call's reservation. */
  reservation?: Reservation;
  adapter: VendorAdapter;
  req: ProxiedRequest;
  quote: Quote;
  reply?: UpstreamReply;
  failure?: unknown;
  started: number;
  /** The settlement write's abort signal, made when it starts. */
  settleSignal(): AbortSignal;
}

/**
 * A 2xx settles as the adapter reads it; a 4xx is the vendor's definitive refusal (released), unless the adapter
 * reads that the vendor acted all the same; anything else is unknown.
 */
function endingFor(call: ForwardedCall): Ending {
  const { reply, failure } = call;
  if (!reply) return failure instanceof UpstreamUnreachableError ? { kind: "released" } : { kind: "unsettled" };
  if (reply.status >= 200 && reply.status < 300)
    return checked(call.adapter.settleSuccess(call.req, call.quote, reply));
  if (reply.status >= 400 && reply.status < 500) {
    const ending = call.adapter.settleRefusal?.(call.req, call.quote, reply);
    return ending ? checked(ending) : { kind: "released" };
  }
  return { kind: "unsettled" };
}

/** An adapter's reading that is not a whole, non-negative amount is no reading: keep the reservation. */
function checked(ending: Ending): Ending {
  if (ending.kind === "settled" && !(Number.isSafeInteger(ending.actualMicro) && ending.actualMicro >= 0)) {
    return { kind: "unsettled" };
  }
  return ending;
}

/** Ends a forwarded call's reservation as its answer says, then writes its audit record. Never throws. */
export async function finishForwarded(deps: FinishDeps, record: CallRecord, call: ForwardedCall): Promise<void> {
  try {
    await endAndRecord(deps, record, call);
  } catch (error) {
    // Only a bug gets here; the record is still written, carrying nothing (the sweep records the marker).
    deps.log.error("keybrake.call could not finish", { error, key_id: record.key_id });
    try {
      record.settlement = call.reservation ? "swept" : record.settlement;
      record.settled_usd = 0;
      record.unsettled_usd = 0;
      record.spent_usd = 0;
      await deps.audit.write(record);
    } catch {
      // The sink itself failed: nothing more can be done here.
    }
  }
}

async function endAndRecord(deps: FinishDeps, record: CallRecord, call: ForwardedCall): Promise<void> {
  try {
    recordAnswer(record, call.adapter, call.reply, call.failure);
  } catch (error) {
    deps.log.error("keybrake.call could not read the vendor's answer", { error, key_id: record.key_id });
  }
  if (call.failure instanceof UpstreamTooLargeError) {
    record.upstream_status = call.failure.upstreamStatus;
    record.upstream_error = "response_too_large";
  }
  record.latency_ms = deps.clock() - call.started;
  const { reservation } = call;
  if (!reservation) {
    await deps.audit.write(record);
    return;
  }
  let ending: Ending;
  try {
    ending = endingFor(call);
  } catch (error) {
    // The vendor acted but its answer could not be read: keep the reservation, the conservative side.
    deps.log.error("keybrake.call could not settle from the vendor's answer", { error, key_id: record.key_id });
    ending = { kind: "unsettled" };
  }
  let settlement: CallRecord["settlement"] = ending.kind;
  let cleanup: number | undefined;
  try {
    const signal = call.settleSignal();
    const result = await endReservation(deps.db, deps.table, reservation, ending, signal).finally(() =>
      release(signal),
    );
    record.ledger_writes += result.writes;
    if (result.ending) {
      ending = result.ending;
      settlement = ending.kind;
    }
    if (result.outcome === "ended") {
      // The sweep ended it first (a very late answer): its record carries the amount, this one must not.
      settlement = "swept";
    } else {
      // This instance may remove the marker in passing once this record is written; a tombstone, or the marker
      // of a reservation write sent more than once, only once no copy of that write can still be in flight.
      cleanup = ending.kind === "released" || reservation.resent ? Date.now() + TOMBSTONE_TTL_MS : 0;
    }
  } catch {
    // Unknown outcome: the ledger may or may not hold this ending. Either way the marker is still there (open,
    // or rewritten to its final amount) unless the reservation was released, so this record carries nothing
    // and the sweep's record, once the marker expires, carries what the ledger kept.
    record.ledger_writes += 1;
    record.ledger_error = "settlement_write_failed";
    settlement = "swept";
  }
  recordMoney(record, settlement, reservation.amountMicro, ending);
  try {
    await deps.audit.write(record);
  } catch (error) {
    // Not known to be written: leave the marker for the sweep, whose record will carry the amount.
    deps.log.error("keybrake.call could not write its audit record", { error, key_id: record.key_id });
    return;
  }
  if (cleanup !== undefined) deps.upkeep.ended(reservation.keyId, reservation.rid, cleanup);
}
