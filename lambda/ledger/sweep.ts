import { type AttributeValue, type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { pages } from "./dynamo";
import { type KeyRecord, type KeyState, unmarshalKey } from "./key-record";
import { updateKeyIf } from "./keys";
import { endReservation } from "./settlement";

/**
 * The scheduled sweep, one scan of the ledger for two jobs:
 * - Orphans: a reservation whose final cost was to come from the response carries a pending marker. If the
 *   process died between reserve and settle, the marker outlives its expiry; the sweep then ends it
 *   conservatively (kept as spent, counted unsettled). The condition on the marker makes it exactly-once.
 * - Expiries: a key that reached its expiry unrevoked is noted once (`expiry_noted`), so the audit trail gets
 *   one `key_expired` record per key without any timer per key.
 */
export interface SweptReservation extends Pick<KeyRecord, "keyId" | "issuer" | "label" | "vendor"> {
  pendingId: string;
  amountMicro: number;
  window: string;
}

export interface SweepResult {
  swept: SweptReservation[];
  /** Keys noted as expired by this sweep, as they stand after it. */
  expired: KeyState[];
}

const hasPending = "size(p) > :zero";
const expiredUnnoted = "expires_at <= :now AND attribute_not_exists(revoked_at) AND attribute_not_exists(expiry_noted)";

export async function sweep(db: DynamoDBClient, table: string, now: number): Promise<SweepResult> {
  const result: SweepResult = { swept: [], expired: [] };
  const scan = (cursor: Record<string, AttributeValue> | undefined) =>
    db.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: `${hasPending} OR (${expiredUnnoted})`,
        ExpressionAttributeValues: { ":zero": { N: "0" }, ":now": { N: String(now) } },
        ExclusiveStartKey: cursor,
      }),
    );
  for await (const items of pages(scan)) {
    for (const item of items) {
      const key = unmarshalKey(item);
      // Orphans first, so an expiring key's record counts what its sweep just kept as spent.
      result.swept.push(...(await sweepOrphans(db, table, key, item, now)));
      if (key.expiresAt <= now && key.revokedAt === undefined && item.expiry_noted === undefined) {
        const noted = await noteExpiry(db, table, key.keyId, now);
        if (noted) result.expired.push(noted);
      }
    }
  }
  return result;
}

async function sweepOrphans(
  db: DynamoDBClient,
  table: string,
  key: KeyState,
  item: Record<string, AttributeValue>,
  now: number,
): Promise<SweptReservation[]> {
  const swept: SweptReservation[] = [];
  for (const [pendingId, marker] of Object.entries(item.p?.M ?? {})) {
    if (Number(marker.M?.x?.N) > now) continue;
    const orphan: SweptReservation = {
      keyId: key.keyId,
      issuer: key.issuer,
      label: key.label,
      vendor: key.vendor,
      pendingId,
      amountMicro: Number(marker.M!.a!.N),
      window: marker.M!.w!.S!,
    };
    const ended = await endReservation(db, table, orphan, { kind: "unsettled" });
    if (ended.applied) swept.push(orphan);
  }
  return swept;
}

/** Marks the key's expiry as audited; undefined when another sweep got there first. */
function noteExpiry(db: DynamoDBClient, table: string, keyId: string, now: number): Promise<KeyState | undefined> {
  return updateKeyIf(db, table, keyId, {
    update: "SET expiry_noted = :now",
    condition: expiredUnnoted,
    values: { ":now": { N: String(now) } },
  });
}
