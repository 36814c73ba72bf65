import { ScanCommand, type AttributeValue, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ledgerCall } from "./dynamo";
import { endReservation } from "./settlement";

/**
 * Orphan sweep: a reservation whose final cost was to come from the response carries a pending marker.
 * If the process died between reserve and settle, the marker outlives its expiry; the sweep then ends it
 * conservatively (kept as spent, counted unsettled). The condition on the marker makes it exactly-once.
 */
export interface SweptReservation {
  keyId: string;
  pendingId: string;
  amountMicro: number;
  window: string;
}

export async function sweepOrphans(db: DynamoDBClient, table: string, now: number): Promise<SweptReservation[]> {
  const swept: SweptReservation[] = [];
  let cursor: Record<string, AttributeValue> | undefined;
  do {
    const page = await ledgerCall(() =>
      db.send(
        new ScanCommand({
          TableName: table,
          ProjectionExpression: "pk, p",
          FilterExpression: "size(p) > :zero",
          ExpressionAttributeValues: { ":zero": { N: "0" } },
          ExclusiveStartKey: cursor,
        }),
      ),
    );
    for (const item of page.Items ?? []) {
      const keyId = item.pk!.S!.slice(2);
      for (const [pendingId, marker] of Object.entries(item.p?.M ?? {})) {
        if (Number(marker.M?.x?.N) > now) continue;
        const orphan = { keyId, pendingId, amountMicro: Number(marker.M!.a!.N), window: marker.M!.w!.S! };
        const result = await endReservation(db, table, orphan, { kind: "unsettled" });
        if (result.applied) swept.push(orphan);
      }
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return swept;
}
