// DynamoDB's per-item write limit, simulated as a middleware on a real client, so the hot-budget tests
// (test/integration/throttling.test.ts, the bench) meet throttling on DynamoDB Local as they would on AWS.
import {
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
  type TransactWriteItemsCommandInput,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";

/**
 * DynamoDB's per-item write limit, simulated on a client: every write is counted against the item it writes (an
 * UpdateItem, PutItem or DeleteItem its key; a TransactWriteItems every item in it), each item with a token bucket
 * of `writesPerSecond` (its burst too); a write over it is refused as DynamoDB refuses one: an UpdateItem with
 * ProvisionedThroughputExceededException (which the SDK retries with backoff), a transaction with
 * TransactionCanceledException whose reason for the hot item is `ThrottlingError` (which the SDK does not retry).
 * A refused write consumes nothing. Real DynamoDB serves about 1,000 write units per second per item; the tests
 * set far lower limits so a 2-core machine can reach them.
 *
 * The middleware sits inside the SDK's retry loop (deserialize step), where the service's answer would be.
 */
export interface Throttle {
  /** Writes refused so far, per item pk. */
  refused: Map<string, number>;
  /** Writes let through so far, per item pk. */
  admitted: Map<string, number>;
  /** Change the limit (writes per second per item); Infinity lifts it. */
  setLimit(writesPerSecond: number): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function throttleWrites(db: DynamoDBClient, writesPerSecond: number): Throttle {
  let limit = writesPerSecond;
  const buckets = new Map<string, Bucket>();
  const refused = new Map<string, number>();
  const admitted = new Map<string, number>();
  const bump = (map: Map<string, number>, pk: string) => map.set(pk, (map.get(pk) ?? 0) + 1);
  /** Whether the item has a token now (not taking it). */
  const available = (pk: string, now: number): boolean => {
    if (!Number.isFinite(limit)) return true;
    const bucket = buckets.get(pk) ?? { tokens: limit, at: now };
    bucket.tokens = Math.min(limit, bucket.tokens + ((now - bucket.at) / 1000) * limit);
    bucket.at = now;
    buckets.set(pk, bucket);
    return bucket.tokens >= 1;
  };
  const take = (pk: string) => {
    const bucket = buckets.get(pk);
    if (bucket && Number.isFinite(limit)) bucket.tokens -= 1;
    bump(admitted, pk);
  };

  db.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName;
      const now = Date.now();
      if (command === "TransactWriteItemsCommand") {
        const input = args.input as TransactWriteItemsCommandInput;
        const pks = (input.TransactItems ?? []).map(
          (item) => (item.Update?.Key ?? item.Put?.Item ?? item.Delete?.Key ?? item.ConditionCheck?.Key)?.pk?.S ?? "?",
        );
        const hot = pks.map((pk) => !available(pk, now));
        if (hot.some(Boolean)) {
          for (const [i, pk] of pks.entries()) if (hot[i]) bump(refused, pk);
          throw new TransactionCanceledException({
            message: "Transaction cancelled, please refer cancellation reasons for specific reasons",
            $metadata: { httpStatusCode: 400 },
            CancellationReasons: hot.map((h) =>
              h
                ? { Code: "ThrottlingError", Message: "Throughput exceeds the current capacity for one or more items" }
                : { Code: "None" },
            ),
          });
        }
        for (const pk of pks) take(pk);
      } else if (command === "UpdateItemCommand" || command === "PutItemCommand" || command === "DeleteItemCommand") {
        const input = args.input as UpdateItemCommandInput & { Item?: Record<string, { S?: string }> };
        const pk = (input.Key ?? input.Item)?.pk?.S ?? "?";
        if (!available(pk, now)) {
          bump(refused, pk);
          throw new ProvisionedThroughputExceededException({
            message: "The level of configured provisioned throughput for the table was exceeded",
            $metadata: { httpStatusCode: 400 },
          });
        }
        take(pk);
      }
      return next(args);
    },
    { step: "deserialize", name: "throttleWrites" },
  );
  return {
    refused,
    admitted,
    setLimit(writesPerSecond) {
      limit = writesPerSecond;
      buckets.clear();
    },
  };
}
