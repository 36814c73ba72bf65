// Ends a reservation in the ledger, in exactly one of the three ways core/ending.ts names: settled at the real
// cost, released, or kept as unsettled; and compensates a reservation whose write had an unknown outcome. Every
// write here is conditional on the reservation's marker, so it is safe to repeat and it can never apply after
// the sweep (or another ending) got there first; when it is refused, the marker as DynamoDB saw it (ALL_OLD)
// says who ended the reservation.
import { type AttributeValue, type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import type { Ending } from "../core/ending";
import { type ConditionalResult, conditionalWrite } from "./dynamo";
import { keyPk, type Marker, type MarkerKind, marshalMarker, unmarshalMarker } from "./key-record";
import { markerKind, type Reservation } from "./reservations";

/** A tombstone outlives any copy of the reservation write that could still be in flight by far. */
export const TOMBSTONE_TTL_MS = 60 * 60_000;

export interface EndingResult {
  /**
   * `applied`: the ledger now holds this ending (by this write or an earlier attempt of it); `ended`: something
   * else ended the reservation first (the sweep): its record carries the amount, the caller's must not.
   */
  outcome: "applied" | "ended";
  /** Ledger writes this took (0 for an exact settlement). */
  writes: number;
}

export async function endReservation(
  db: DynamoDBClient,
  table: string,
  r: Reservation,
  ending: Ending,
  signal?: AbortSignal,
): Promise<EndingResult> {
  const open = markerKind(r.kind);
  if (ending.kind === "settled" && r.kind === "exact" && ending.actualMicro === r.amountMicro) {
    // The one-write path: the open marker already says what the ledger keeps.
    return { outcome: "applied", writes: 0 };
  }
  let after: Marker;
  let delta = 0;
  let addUnsettled = 0;
  if (ending.kind === "released") {
    after = tombstone(r, Date.now());
    delta = r.amountMicro;
  } else if (ending.kind === "settled") {
    after = { kind: "d", amountMicro: ending.actualMicro, expiresAt: r.expiresAt };
    delta = r.amountMicro - ending.actualMicro;
  } else {
    after = { kind: "u", amountMicro: r.amountMicro, expiresAt: r.expiresAt };
    addUnsettled = r.amountMicro;
  }
  // A released reservation also frees its idempotency slot: a retry must not ride on money given back.
  const freeSlot = ending.kind === "released" && r.slot !== undefined;
  let writes = 0;
  for (const withSlot of freeSlot ? [true, false] : [false]) {
    writes++;
    const result = await rewriteMarker(db, table, r, { from: open, to: after, delta, addUnsettled, withSlot }, signal);
    if (result.applied) return { outcome: "applied", writes };
    const seen = unmarshalMarker(result.item?.p?.M?.[r.rid]);
    if (seen?.kind === after.kind && seen.amountMicro === after.amountMicro) return { outcome: "applied", writes };
    if (!seen) return { outcome: "ended", writes };
    // Still open: only the slot condition failed (a newer call took the slot); end it without touching the slot.
  }
  return { outcome: "ended", writes };
}

/**
 * Compensates a reservation whose write failed with an unknown outcome (timeout, reset, abort): the call was
 * answered 503 and never forwarded, so the reservation must not count. If its marker exists the amount goes
 * back; if not, a tombstone takes its place so the write can never land later. Either way the marker ends as a
 * tombstone. Throws LedgerUnavailableError when this attempt's own outcome is unknown (try again later).
 */
export async function compensate(
  db: DynamoDBClient,
  table: string,
  r: Reservation,
  now: number,
  signal?: AbortSignal,
): Promise<"released" | "never_landed" | "already" | "kept"> {
  const stone = tombstone(r, now);
  for (let attempt = 0; attempt < 4; attempt++) {
    const placed = await conditionalWrite(() =>
      db.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: keyPk(r.keyId) } },
          UpdateExpression: "SET p.#rid = :stone",
          ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(p.#rid)",
          ExpressionAttributeNames: { "#rid": r.rid },
          ExpressionAttributeValues: { ":stone": marshalMarker(stone) },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
        { abortSignal: signal },
      ),
    );
    if (placed.applied) return "never_landed";
    if (!placed.item) return "never_landed"; // the key item is gone (TTL): nothing can land on it
    const seen = unmarshalMarker(placed.item.p?.M?.[r.rid]);
    // Ended already: compensated by an earlier attempt, or (it was never forwarded) nothing else can have.
    if (!seen || (seen.kind !== "e" && seen.kind !== "r")) return "already";
    // An idempotent retry rode on it and was forwarded: the money now backs that call. It stays, and the sweep
    // records it once the marker expires.
    if (seen.ridden) return "kept";
    const released = await rewriteMarker(
      db,
      table,
      r,
      { from: seen.kind, to: stone, delta: r.amountMicro, addUnsettled: 0, withSlot: false, unridden: true },
      signal,
    );
    if (released.applied) return "released";
    const after = unmarshalMarker(released.item?.p?.M?.[r.rid]);
    if (after?.kind === "x") return "already";
    if (after?.ridden) return "kept";
  }
  return "already";
}

/** Replaces an open marker by `to` (a tombstone when released), moving the money the ending says, at once. */
function rewriteMarker(
  db: DynamoDBClient,
  table: string,
  r: Reservation,
  change: {
    from: MarkerKind;
    to: Marker;
    delta: number;
    addUnsettled: number;
    withSlot: boolean;
    /** Only while no idempotent retry rode on it (compensation). */
    unridden?: boolean;
  },
  signal?: AbortSignal,
): Promise<ConditionalResult> {
  const names: Record<string, string> = { "#rid": r.rid };
  const values: Record<string, AttributeValue> = { ":from": { S: change.from }, ":to": marshalMarker(change.to) };
  const sets = ["p.#rid = :to"];
  const conditions = ["p.#rid.k = :from"];
  if (change.unridden) conditions.push("attribute_not_exists(p.#rid.u)");
  const removes: string[] = [];
  const adds: string[] = [];
  if (change.delta !== 0) {
    names["#w"] = r.window;
    values[":delta"] = { N: String(change.delta) };
    sets.push("#w = #w + :delta");
    conditions.push("attribute_exists(#w)");
  }
  if (change.addUnsettled !== 0) {
    values[":unsettled"] = { N: String(change.addUnsettled) };
    adds.push("unsettled :unsettled");
  }
  if (change.withSlot && r.slot) {
    names["#slot"] = r.slot.attr;
    values[":rid"] = { S: r.rid };
    removes.push("#slot");
    conditions.push("#slot.r = :rid");
  }
  const expression = [
    `SET ${sets.join(", ")}`,
    adds.length ? `ADD ${adds.join(", ")}` : "",
    removes.length ? `REMOVE ${removes.join(", ")}` : "",
  ]
    .filter(Boolean)
    .join(" ");
  return conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: keyPk(r.keyId) } },
        UpdateExpression: expression,
        ConditionExpression: conditions.join(" AND "),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
      { abortSignal: signal },
    ),
  );
}

function tombstone(r: Pick<Reservation, "amountMicro">, now: number): Marker {
  return { kind: "x", amountMicro: r.amountMicro, expiresAt: now + TOMBSTONE_TTL_MS };
}
