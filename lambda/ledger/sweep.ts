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
import { retryingConflicts, transactOnKey } from "./transact";

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

/**
 * A sweep that could not finish: some scan page or some key's write failed. `result` holds what it did close and
 * note before and after the failures, whose records must still be written (the ledger already moved).
 */
export class SweepIncompleteError extends Error {
  override name = "SweepIncompleteError";
  constructor(
    readonly result: SweepResult,
    readonly failures: unknown[],
  ) {
    super(`the sweep could not finish (${failures.length} failure(s))`, { cause: failures[0] });
  }
}

/**
 * Closes every expired marker and notes every expired key. A key whose writes fail does not stop the others; the
 * sweep then throws SweepIncompleteError carrying what it did, so that every close that applied is recorded.
 */
export async function sweep(db: DynamoDBClient, table: string, now: number): Promise<SweepResult> {
  const result: SweepResult = { swept: [], expired: [] };
  const failures: unknown[] = [];
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
  try {
    for await (const items of pages(scan)) {
      for (const item of items) {
        const key = unmarshalKey(item);
        try {
          // Markers first, so an expiring key's record counts what its sweep just kept as spent.
          const closed = await closeMarkers(db, table, key, now);
          result.swept.push(...closed.swept);
          if (closed.failures.length > 0) {
            failures.push(...closed.failures);
            continue;
          }
          if (key.expiresAt <= now && key.revokedAt === undefined && item.expiry_noted === undefined) {
            const noted = await noteExpiry(db, table, key.keyId, now);
            if (noted) result.expired.push(noted);
          }
        } catch (error) {
          failures.push(error);
        }
      }
    }
  } catch (error) {
    failures.push(error); // a scan page: the keys after it wait for the next sweep
  }
  if (failures.length > 0) throw new SweepIncompleteError(result, failures);
  return result;
}

/** Sends of one close whose outcome was unknown, before the sweep leaves that marker to the next run. */
const CLOSE_ATTEMPTS = 3;

async function closeMarkers(
  db: DynamoDBClient,
  table: string,
  key: KeyState,
  now: number,
): Promise<{ swept: SweptReservation[]; failures: unknown[] }> {
  const swept: SweptReservation[] = [];
  const failures: unknown[] = [];
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
      ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const,
    };
    // Kept as spent, nothing moves; a user budget counts it unsettled too, in the same transaction.
    const parts = marker.kind === "r" ? partMoves(table, "w", marker.charges ?? {}, 0, marker.amountMicro) : [];
    let closed = false;
    // Whether a send of this close may have been applied without our knowing (its answer lost).
    let maybeSent = false;
    for (let attempt = 0; attempt < CLOSE_ATTEMPTS; attempt++) {
      try {
        const result =
          parts.length > 0
            ? await transactOnKey(db, [{ Update: close }, ...parts])
            : await retryingConflicts(() => conditionalWrite(() => db.send(new UpdateItemCommand(close))));
        // Refused with the marker gone after a send whose answer was lost (ours, or one the SDK retried): that
        // send closed it. Once expired, a marker is removed only by a sweep (another one's record says the same)
        // or by its own process after the call's record carries its amount; the one misreading is a settlement
        // landing after the expiry and cleaned up within this close's retry, recorded at the amount as read.
        closed =
          result.applied ||
          ((maybeSent || (result.attempts ?? 1) > 1) && result.item !== undefined && !result.item.p?.M?.[rid]);
        break;
      } catch (error) {
        maybeSent = true;
        if (attempt + 1 === CLOSE_ATTEMPTS) failures.push(error);
      }
    }
    if (closed && marker.kind !== "x") {
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
  return { swept, failures };
}

/** Marks the key's expiry as audited; undefined when another sweep got there first. */
function noteExpiry(db: DynamoDBClient, table: string, keyId: string, now: number): Promise<KeyState | undefined> {
  return updateKeyIf(db, table, keyId, {
    update: "SET expiry_noted = :now",
    condition: expiredUnnoted,
    values: { ":now": { N: String(now) } },
  });
}
