// Ends a reservation in the ledger, in exactly one of the three ways core/ending.ts names: settled at the real
// cost, released, or kept as unsettled; and compensates a reservation whose write had an unknown outcome. Every
// write here is conditional on the reservation's marker, so it is safe to repeat and it can never apply after
// the sweep (or another ending) got there first; when it is refused, the marker as DynamoDB saw it (ALL_OLD)
// says who ended the reservation.
//
// A reservation of a key drawing from budgets carries its part charges (in the reservation and in its marker):
// every ending that moves money moves it on every level in the same transaction as the marker's rewrite, still
// conditional on the key's marker, so each level gets it back exactly once.
import {
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { Ending } from "../core/ending";
import { budgetIdOfPart } from "./budget-record";
import { type ConditionalResult, conditionalWrite } from "./dynamo";
import { keyPk, type Marker, type MarkerKind, marshalMarker, unmarshalMarker } from "./key-record";
import { markerKind, type Reservation } from "./reservations";
import { retryingConflicts, transactOnKey } from "./transact";

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
  /**
   * The ending written when it is not the one asked for: a release of a reservation an idempotent retry rode on
   * is kept as unsettled instead (the retry was forwarded on that money, and its outcome is not this call's).
   */
  ending?: Ending;
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
  const charges = r.charges ?? {};
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
  // A released reservation also frees its idempotency slot: a retry must not ride on money given back. And it is
  // released only while no retry rode on it: a retry forwarded on this money (Stripe runs it afresh when this call
  // was refused for a conflict or failed validation) may have been charged, so the money stays, unsettled.
  const released = ending.kind === "released";
  const freeSlot = released && r.slot !== undefined;
  let writes = 0;
  for (const withSlot of freeSlot ? [true, false] : [false]) {
    writes++;
    const result = await rewriteMarker(
      db,
      table,
      r,
      { from: open, to: after, delta, addUnsettled, withSlot, charges, unridden: released },
      signal,
    );
    if (result.applied) return { outcome: "applied", writes };
    const seen = unmarshalMarker(result.item?.p?.M?.[r.rid]);
    if (seen?.kind === after.kind && seen.amountMicro === after.amountMicro) return { outcome: "applied", writes };
    if (!seen) return { outcome: "ended", writes };
    if (released && seen.ridden && seen.kind === open) {
      const kept = await endReservation(db, table, r, { kind: "unsettled" }, signal);
      return { ...kept, writes: writes + kept.writes, ending: { kind: "unsettled" } };
    }
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
    // What landed is what the marker says: its part charges go back with it. Like any release it frees the
    // idempotency slot that names it (still conditional on that): the sweep drops the tombstone after an hour,
    // and a retry finding the slot but no marker would ride free on money given back.
    const holdsSlot = r.slot !== undefined && placed.item[r.slot.attr]?.M?.r?.S === r.rid;
    const released = await rewriteMarker(
      db,
      table,
      { ...r, amountMicro: seen.amountMicro },
      {
        from: seen.kind,
        to: stone,
        delta: seen.amountMicro,
        addUnsettled: 0,
        withSlot: holdsSlot,
        unridden: true,
        charges: seen.charges ?? {},
      },
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
    /** The reservation's budget part charges: each level gets `delta` back (or the overage added) with it. */
    charges?: Record<string, number>;
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
  const keyUpdate = {
    TableName: table,
    Key: { pk: { S: keyPk(r.keyId) } },
    UpdateExpression: expression,
    ConditionExpression: conditions.join(" AND "),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const,
  };
  const parts = partMoves(table, r.window, change.charges ?? {}, change.delta, change.addUnsettled);
  if (parts.length === 0) {
    return retryingConflicts(
      () => conditionalWrite(() => db.send(new UpdateItemCommand(keyUpdate), { abortSignal: signal })),
      signal,
    );
  }
  return transactOnKey(db, [{ Update: keyUpdate }, ...parts], signal);
}

/** Groups part charges by level (`B#<id>`, `I#<issuer>#<vendor>`, `D#<vendor>`), parts in order. */
function byLevel(charges: Record<string, number>): Map<string, Array<[string, number]>> {
  const levels = new Map<string, Array<[string, number]>>();
  for (const [pk, amount] of Object.entries(charges).sort(([a], [b]) => a.localeCompare(b))) {
    const level = pk.replace(/#\d+$/, "");
    levels.set(level, [...(levels.get(level) ?? []), [pk, amount]]);
  }
  return levels;
}

/**
 * The part updates that go with a key's ending: `delta` back to each level (taken back from its parts in order,
 * each at most what it was charged), or, when negative (a vendor's price above the reservation), the overage added
 * to the level's first part; an unsettled ending is counted on the user budget's first part.
 */
export function partMoves(
  table: string,
  window: string,
  charges: Record<string, number>,
  delta: number,
  addUnsettled: number,
): TransactWriteItem[] {
  const moves = new Map<string, { spend: number; unsettled: number }>();
  const move = (pk: string) => {
    const m = moves.get(pk) ?? { spend: 0, unsettled: 0 };
    moves.set(pk, m);
    return m;
  };
  for (const [level, parts] of byLevel(charges)) {
    if (delta > 0) {
      let left = delta;
      for (const [pk, charged] of parts) {
        const back = Math.min(left, charged);
        if (back > 0) move(pk).spend -= back;
        left -= back;
      }
    } else if (delta < 0) {
      move(parts[0]![0]).spend -= delta;
    }
    if (addUnsettled > 0 && level.startsWith("B#")) move(parts[0]![0]).unsettled += addUnsettled;
  }
  const attr = `s${window.slice(1)}`;
  return [...moves.entries()].map(([pk, m]): TransactWriteItem => {
    const adds: string[] = [];
    const values: Record<string, AttributeValue> = {};
    const names: Record<string, string> = {};
    if (m.spend !== 0) {
      names["#s"] = attr;
      values[":s"] = { N: String(m.spend) };
      adds.push("#s :s");
    }
    if (m.unsettled !== 0) {
      values[":u"] = { N: String(m.unsettled) };
      adds.push("u :u");
    }
    return {
      Update: {
        TableName: table,
        Key: { pk: { S: pk } },
        UpdateExpression: `ADD ${adds.join(", ")}`,
        // Only onto a part that is there (a budget's parts outlive its keys' reservations by days).
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
        ExpressionAttributeValues: values,
      },
    };
  });
}

/** The user budgets named by a marker's charges. */
export function budgetsCharged(charges: Record<string, number> | undefined): string[] {
  return [...new Set(Object.keys(charges ?? {}).flatMap((pk) => budgetIdOfPart(pk) ?? []))];
}

function tombstone(r: Pick<Reservation, "amountMicro">, now: number): Marker {
  return { kind: "x", amountMicro: r.amountMicro, expiresAt: now + TOMBSTONE_TTL_MS };
}
