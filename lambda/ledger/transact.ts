// TransactWriteItems and TransactGetItems as the ledger uses them: a cancelled transaction is an answer (nothing
// was applied; each item's reason, and the item as DynamoDB saw it when its condition failed), any other failure
// means the ledger's outcome is unknown (LedgerUnavailableError), as for a single conditional write.
import { setTimeout as sleep } from "node:timers/promises";
import {
  type AttributeValue,
  type DynamoDBClient,
  TransactGetItemsCommand,
  TransactionCanceledException,
  TransactionConflictException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { LedgerUnavailableError } from "../core/errors";
import type { ConditionalResult } from "./dynamo";

type Item = Record<string, AttributeValue>;

export interface CancelReason {
  /** `None`, `ConditionalCheckFailed`, `TransactionConflict`, `ThrottlingError`, `ProvisionedThroughputExceeded`… */
  code: string;
  /** The item as it was when its condition failed (ReturnValuesOnConditionCheckFailure: ALL_OLD). */
  item?: Item;
}

export type TransactResult =
  | {
      applied: true;
      /** Times the SDK sent the transaction: past 1, a copy of it may still be on its way to DynamoDB. */
      attempts?: number;
    }
  | {
      applied: false;
      reasons: CancelReason[];
      /** Times the SDK sent the transaction: past 1, an earlier attempt may have been applied. */
      attempts?: number;
    };

/** Reasons that say "busy", not "no": the same transaction may be applied if sent again a little later. */
export const BUSY_REASONS: ReadonlySet<string> = new Set([
  "TransactionConflict",
  "ThrottlingError",
  "ProvisionedThroughputExceeded",
  "RequestLimitExceeded",
]);

export const isBusy = (reason: CancelReason | undefined) => reason !== undefined && BUSY_REASONS.has(reason.code);

/**
 * One TransactWriteItems. `token` (ClientRequestToken) makes an SDK retry of an applied transaction answer
 * success instead of failing its own conditions.
 */
export async function transactWrite(
  db: DynamoDBClient,
  items: TransactWriteItem[],
  options: { token?: string; signal?: AbortSignal } = {},
): Promise<TransactResult> {
  try {
    const out = await db.send(
      new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: options.token }),
      { abortSignal: options.signal },
    );
    return { applied: true, attempts: out.$metadata?.attempts };
  } catch (error) {
    if (error instanceof TransactionCanceledException) {
      return {
        applied: false,
        reasons: (error.CancellationReasons ?? []).map((r) => ({ code: r.Code ?? "None", item: r.Item })),
        attempts: error.$metadata?.attempts,
      };
    }
    throw new LedgerUnavailableError({ cause: error });
  }
}

/**
 * A transaction whose first item is a key's item (an ending: release, re-price, compensation, sweep), retried
 * while its items are only busy; answered as a conditional write on that first item.
 */
export async function transactOnKey(
  db: DynamoDBClient,
  items: TransactWriteItem[],
  signal?: AbortSignal,
  attempts = 6,
): Promise<ConditionalResult> {
  for (let attempt = 0; ; attempt++) {
    const result = await transactWrite(db, items, { signal });
    if (result.applied) return { applied: true };
    const first = result.reasons[0];
    if (first?.code === "ConditionalCheckFailed")
      return { applied: false, item: first.item, attempts: result.attempts };
    const busy = result.reasons.some(isBusy);
    if (!busy || attempt + 1 >= attempts) {
      // Refused by an item other than the key's (a part that no longer exists), or busy for too long: nothing
      // was applied, but it did not end the reservation either; the caller treats it like an unknown outcome.
      throw new LedgerUnavailableError({ cause: new Error(result.reasons.map((r) => r.code).join(",")) });
    }
    await backoff(attempt, signal);
  }
}

/** An UpdateItem on an item some transaction is writing is refused (TransactionConflictException): retry it. */
export async function retryingConflicts<T>(call: () => Promise<T>, signal?: AbortSignal, attempts = 6): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const conflict =
        error instanceof TransactionConflictException ||
        (error instanceof LedgerUnavailableError && error.cause instanceof TransactionConflictException);
      if (!conflict || attempt + 1 >= attempts) throw error;
    }
    await backoff(attempt, signal);
  }
}

/**
 * An atomic, strongly consistent read of several items (TransactGetItems), retried while a write transaction
 * holds one of them. Missing items come back undefined, in order.
 */
export async function transactGet(
  db: DynamoDBClient,
  table: string,
  pks: string[],
  projection: { expression: string; names: Record<string, string> },
  signal?: AbortSignal,
  attempts = 5,
): Promise<Array<Item | undefined>> {
  for (let attempt = 0; ; attempt++) {
    try {
      const out = await db.send(
        new TransactGetItemsCommand({
          TransactItems: pks.map((pk) => ({
            Get: {
              TableName: table,
              Key: { pk: { S: pk } },
              ProjectionExpression: projection.expression,
              ExpressionAttributeNames: projection.names,
            },
          })),
        }),
        { abortSignal: signal },
      );
      return (out.Responses ?? []).map((r) => r.Item);
    } catch (error) {
      const busy =
        error instanceof TransactionCanceledException &&
        (error.CancellationReasons ?? []).some((r) => r.Code !== "None");
      if (!busy || attempt + 1 >= attempts) throw new LedgerUnavailableError({ cause: error });
    }
    await backoff(attempt, signal);
  }
}

/** Jittered exponential backoff: 5–10 ms, then doubling up to 160 ms; stops at the signal. */
export async function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  const base = Math.min(160, 5 * 2 ** attempt);
  await sleep(base + Math.random() * base, undefined, { signal }).catch(() => undefined);
}
