// The scheduled sweep, one scan of the ledger for two jobs:
// - Markers past their expiry (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice). An open marker
//   priced from the answer (`r`) lost its call (a crash, a failed settlement): it is kept as spent and counted
//   unsettled. Any other marker (`e` open exact, `d` settled, `u` unsettled) already says what the ledger keeps:
//   it is closed as it stands, and its `reservation_swept` record carries that amount (the call's own record,
//   when the call lived to write it, names the same reservation and carries the same amount). A tombstone past
//   its expiry is dropped. Every close is conditional on the marker as read, so each is exactly once.
// - Expiries: a key that reached its expiry unrevoked is noted once (`expiry_noted`), so the audit trail gets
//   one `key_expired` record per key without any timer per key.
import { type AttributeValue, type DynamoDBClient, ScanCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { conditionalWrite, pages } from "./dynamo";
import { KEY_PK_PREFIX, type KeyRecord, type KeyState, keyPk, type Marker, unmarshalKey } from "./key-record";
import { updateKeyIf } from "./keys";
import { partMoves } from "./settlement";
import { transactOnKey } from "./transact";

export interface SweptReservation extends Pick<KeyRecord, "keyId" | "issuer" | "label" | "vendor"> {
  rid: string;
  /** What the marker said when the sweep closed it. */
  marker: Marker;
  /** Kept as spent because its outcome is unknown (an open `r` marker, or a `u` one). */
  unsettled: boolean;
}

export interface SweepResult {
  swept: SweptReservation[];
  /** Keys noted as expired by this sweep, as they stand after it. */
  expired: KeyState[];
}

const hasMarkers = "size(p) > :zero";
const expiredUnnoted = "expires_at <= :now AND attribute_not_exists(revoked_at) AND attribute_not_exists(expiry_noted)";

export async function sweep(db: DynamoDBClient, table: string, now: number): Promise<SweepResult> {
  const result: SweepResult = { swept: [], expired: [] };
  const scan = (cursor: Record<string, AttributeValue> | undefined) =>
    db.send(
      new ScanCommand({
        TableName: table,
        // Key items only: budgets and their parts have expiries too, but no markers and no expiry records.
        FilterExpression: `begins_with(pk, :keys) AND (${hasMarkers} OR (${expiredUnnoted}))`,
        ExpressionAttributeValues: { ":zero": { N: "0" }, ":now": { N: String(now) }, ":keys": { S: KEY_PK_PREFIX } },
        ExclusiveStartKey: cursor,
      }),
    );
  for await (const items of pages(scan)) {
    for (const item of items) {
      const key = unmarshalKey(item);
      // Markers first, so an expiring key's record counts what its sweep just kept as spent.
      result.swept.push(...(await closeMarkers(db, table, key, now)));
      if (key.expiresAt <= now && key.revokedAt === undefined && item.expiry_noted === undefined) {
        const noted = await noteExpiry(db, table, key.keyId, now);
        if (noted) result.expired.push(noted);
      }
    }
  }
  return result;
}

async function closeMarkers(
  db: DynamoDBClient,
  table: string,
  key: KeyState,
  now: number,
): Promise<SweptReservation[]> {
  const swept: SweptReservation[] = [];
  for (const [rid, marker] of key.markers) {
    if (marker.expiresAt > now) continue;
    const unsettled = marker.kind === "r" || marker.kind === "u";
    const values: Record<string, AttributeValue> = {
      ":k": { S: marker.kind },
      ":a": { N: String(marker.amountMicro) },
    };
    let update = "REMOVE p.#rid";
    if (marker.kind === "r") {
      // The settlement never came: the estimate stays spent, and now counts as unsettled.
      update = "ADD unsettled :a REMOVE p.#rid";
    }
    const close = {
      TableName: table,
      Key: { pk: { S: keyPk(key.keyId) } },
      UpdateExpression: update,
      ConditionExpression: `${marker.legacy ? "attribute_not_exists(p.#rid.k)" : "p.#rid.k = :k"} AND p.#rid.a = :a`,
      ExpressionAttributeNames: { "#rid": rid },
      ExpressionAttributeValues: marker.legacy ? { ":a": values[":a"]! } : values,
    };
    // Kept as spent, nothing moves; a user budget counts it unsettled too, in the same transaction.
    const parts = marker.kind === "r" ? partMoves(table, "w", marker.charges ?? {}, 0, marker.amountMicro) : [];
    const closed =
      parts.length > 0
        ? await transactOnKey(db, [{ Update: close }, ...parts])
        : await conditionalWrite(() => db.send(new UpdateItemCommand(close)));
    if (closed.applied && marker.kind !== "x") {
      swept.push({
        keyId: key.keyId,
        issuer: key.issuer,
        label: key.label,
        vendor: key.vendor,
        rid,
        marker,
        unsettled,
      });
    }
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
