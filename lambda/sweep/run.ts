// One sweep of the ledger and the audit records it stands for, shared by the sweep Lambda and local mode's timer.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type KeyEventRecord, keyContext } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import { microToUsd } from "../core/money";
import { budgetsCharged } from "../ledger/settlement";
import { SweepIncompleteError, type SweepResult, sweep } from "../ledger/sweep";

const SWEPT_AS = { r: "pending", e: "exact", d: "settled", u: "unsettled" } as const;

/** The audit records one sweep stands for: a `reservation_swept` per orphan, a `key_expired` per noted key. */
export function sweepRecords(result: SweepResult, now: number): KeyEventRecord[] {
  return [
    ...result.swept.map(
      (closed): KeyEventRecord => ({
        event: "reservation_swept",
        ...keyContext(closed, now),
        reservation_id: closed.rid,
        swept_as: SWEPT_AS[closed.marker.kind as "e" | "r" | "d" | "u"],
        unsettled_usd: closed.unsettled ? microToUsd(closed.marker.amountMicro) : 0,
        spent_usd: microToUsd(closed.marker.amountMicro),
        ...budgetOf(closed.marker.charges),
      }),
    ),
    ...result.expired.map(
      (key): KeyEventRecord => ({
        event: "key_expired",
        ...keyContext(key, now),
        daily_usd_cap: microToUsd(key.capMicro),
        expires_at: new Date(key.expiresAt).toISOString(),
        unsettled_usd: microToUsd(key.unsettledMicro),
      }),
    ),
  ];
}

/** The user budget a swept marker charged, named in its record. */
function budgetOf(charges: Record<string, number> | undefined): { budget_id?: string } {
  const [budgetId] = budgetsCharged(charges);
  return budgetId ? { budget_id: budgetId } : {};
}

/** Runs one sweep and audits what it ended (the sweep Lambda's job, and local mode's timer). */
export async function runSweep(
  db: DynamoDBClient,
  table: string,
  now: number,
  audit: AuditSink,
): Promise<{ swept: number; expired: number }> {
  let result: SweepResult;
  try {
    result = await sweep(db, table, now);
  } catch (error) {
    // Cut short: what it did close is in the ledger already, so its records are written before the error goes on.
    if (error instanceof SweepIncompleteError) {
      for (const record of sweepRecords(error.result, now)) audit.write(record);
    }
    throw error;
  }
  for (const record of sweepRecords(result, now)) audit.write(record);
  return { swept: result.swept.length, expired: result.expired.length };
}
