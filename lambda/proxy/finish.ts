// How a forwarded call ends: the vendor's answer (or its absence) decides how the reservation ends, the
// ledger is told, and the call's audit record is written
// (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice).
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CallRecord } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import type { Clock } from "../core/clock";
import type { Ending } from "../core/ending";
import type { Log } from "../core/log";
import type { Reservation } from "../ledger/reservations";
import { endReservation } from "../ledger/settlement";
import type { ProxiedRequest, Quote, UpstreamReply, VendorAdapter } from "../vendors/adapter";
import { recordAnswer, recordMoney } from "./call-record";
import { UpstreamUnreachableError } from "./forward";

export interface FinishDeps {
  db: DynamoDBClient;
  table: string;
  clock: Clock;
  audit: AuditSink;
  log: Log;
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
}

/** A 2xx settles as the adapter reads it; a 4xx is the vendor's definitive refusal; anything else is unknown. */
function endingFor(call: ForwardedCall): Ending {
  const { reply, failure } = call;
  if (!reply) return failure instanceof UpstreamUnreachableError ? { kind: "released" } : { kind: "unsettled" };
  if (reply.status >= 200 && reply.status < 300) return call.adapter.settleSuccess(call.req, call.quote, reply);
  if (reply.status >= 400 && reply.status < 500) return { kind: "released" };
  return { kind: "unsettled" };
}

/** Ends a forwarded call's reservation as its answer says, then writes its audit record. Never throws. */
export async function finishForwarded(deps: FinishDeps, record: CallRecord, call: ForwardedCall): Promise<void> {
  try {
    recordAnswer(record, call.adapter, call.reply, call.failure);
  } catch (error) {
    deps.log.error("keybrake.call could not read the vendor's answer", { error, key_id: record.key_id });
  }
  record.latency_ms = deps.clock() - call.started;
  const { reservation } = call;
  if (reservation) {
    let ending: Ending;
    try {
      ending = endingFor(call);
    } catch (error) {
      // The vendor acted but its answer could not be read: keep the reservation, the conservative side.
      deps.log.error("keybrake.call could not settle from the vendor's answer", { error, key_id: record.key_id });
      ending = { kind: "unsettled" };
    }
    let settlement: CallRecord["settlement"] = ending.kind;
    try {
      const result = await endReservation(deps.db, deps.table, reservation, ending);
      record.ledger_writes += result.writes;
      // The sweep ended it first (a very late answer): its record carries the amount, this one must not.
      if (!result.applied) settlement = "swept";
    } catch {
      record.ledger_error = "settlement_write_failed";
      // A marked reservation is ended by the sweep, which records it; any other stays counted as reserved.
      settlement = reservation.pendingId !== undefined ? "swept" : "unsettled";
    }
    recordMoney(record, settlement, reservation.amountMicro, ending);
  }
  deps.audit.write(record);
}
