// The hot path's single ledger round trip: one conditional UpdateItem on the key's own item decides
// authentication (hash), revocation, expiry, the daily cap and idempotency, and takes the reservation.
// Nothing is read first, so concurrent callers on any number of instances are serialised by DynamoDB.
//
// Every reservation has an id (`rid`) and writes its marker `p.<rid>` in the same write, under the condition
// that no marker of that id exists. So the write is safe to repeat: an SDK retry of a write that was applied
// finds its own marker (and is told so by ALL_OLD), and a reservation compensated after an unknown outcome
// (its tombstone is a marker too) can never land later.
import { type AttributeValue, type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { DAY_MS } from "../core/clock";
import { AuthenticationError, CapExceededError } from "../core/errors";
import { microToUsd } from "../core/money";
import { conditionalWrite } from "./dynamo";
import {
  type KeyRecord,
  keyPk,
  type Marker,
  marshalMarker,
  spentOn,
  unmarshalKey,
  unmarshalMarker,
  windowAttr,
} from "./key-record";
import { retryingConflicts } from "./transact";

/** A retried request (same Idempotency-Key, scope and bytes) finds its fingerprint in one of these slots. */
export const IDEMPOTENCY_SLOTS = 16;
/** Ended markers and old tombstones of this process removed in passing by one reservation write, at most. */
export const MAX_CLEANUP_PER_WRITE = 16;

export interface IdempotencyMark {
  /** sha256 over the key id, Idempotency-Key, the scope headers and the request's method, path, query and body. */
  fingerprint: string;
  /** The vendor's dedupe window: a slot older than this no longer makes a retry free. */
  windowMs: number;
  /** Take the slot even though it holds this request: its reservation (this id) was compensated. */
  replacing?: string;
}

export type ReservationKind = "exact" | "reply";

export interface ReserveInput {
  key: KeyRecord;
  keyHash: string;
  amountMicro: number;
  now: number;
  /** This reservation's id: the marker's name, and what every audit record of it names. */
  rid: string;
  /** `exact`: the price is final, nothing is written after the call; `reply`: it settles from the answer. */
  kind: ReservationKind;
  /** When the sweep may close the marker if nothing ended it before. */
  expiresAt: number;
  idempotency?: IdempotencyMark;
  /** Marker names (reservation ids) this process ended earlier on this key: removed by this write. */
  cleanup?: readonly string[];
}

export interface Reservation {
  keyId: string;
  rid: string;
  kind: ReservationKind;
  amountMicro: number;
  window: string;
  expiresAt: number;
  slot?: { attr: string; fingerprint: string };
  /** What the reservation took from each budget part (part pk → micro-USD); absent for a key standing alone. */
  charges?: Record<string, number>;
  /** The key's remaining for the day right after this reservation, when the write said (UPDATED_NEW). */
  remainingMicro?: number;
  /**
   * The reservation write was sent more than once (the SDK retried it): a copy may still be on its way, so the
   * marker, which refuses that copy, is kept as long as a tombstone is (no cleanup in passing before then).
   */
  resent?: boolean;
}

export type ReserveOutcome =
  | { kind: "reserved"; reservation: Reservation }
  /**
   * The same request was already reserved within the vendor's window (an SDK retry): it may ride on that
   * reservation (`rid`), whose marker (absent once cleaned up) was `original` when the write was refused.
   */
  | {
      kind: "retry";
      slotAttr: string;
      rid: string;
      original?: Marker;
      /** The key's remaining for the day, from the item as the refused write saw it. */
      remainingMicro: number;
    };

export const slotAttr = (fingerprint: string) => `d${parseInt(fingerprint.slice(0, 8), 16) % IDEMPOTENCY_SLOTS}`;
export const markerKind = (kind: ReservationKind) => (kind === "exact" ? "e" : "r");

// Named parts of the reservation condition (every one is checked inside DynamoDB, never read first).
const keyMatches = "key_hash = :hash";
const notRevoked = "attribute_not_exists(revoked_at)";
const notExpired = "expires_at > :now";
// A day's window is created by its first reservation, so a missing window is checked against the cap itself.
const withinCap = "((attribute_not_exists(#w) AND cap >= :amount) OR #w >= :amount)";
// Neither this reservation nor its tombstone exists: a repeated or compensated write never lands twice.
const newReservation = "attribute_not_exists(p.#rid)";
// The slot is free, holds another request, or its request is older than the vendor's dedupe window.
const notAlreadyReserved = "(attribute_not_exists(#slot) OR #slot.f <> :fp OR #slot.t <= :since)";

/** The reservation's write on the key's own item, the same whether it stands alone or rides in a transaction. */
export interface KeyWrite {
  update: string;
  condition: string;
  names: Record<string, string>;
  values: Record<string, AttributeValue>;
  slot?: Reservation["slot"];
}

export function keyWrite(input: ReserveInput, charges?: Record<string, number>): KeyWrite {
  const { key, amountMicro, now, idempotency, rid } = input;
  const window = windowAttr(now);
  const names: Record<string, string> = { "#w": window, "#stale": windowAttr(now - 2 * DAY_MS), "#rid": rid };
  const values: Record<string, AttributeValue> = {
    ":hash": { S: input.keyHash },
    ":now": { N: String(now) },
    ":cap": { N: String(key.capMicro) },
    ":marker": marshalMarker({ kind: markerKind(input.kind), amountMicro, expiresAt: input.expiresAt, charges }),
    ":amount": { N: String(amountMicro) },
  };
  const sets = ["#w = if_not_exists(#w, :cap) - :amount", "p.#rid = :marker"];
  const removes = ["#stale"];
  // A key in shadow mode tracks its spend but never refuses for it: its cap's condition is left out.
  const conditions =
    key.mode === "shadow"
      ? [keyMatches, notRevoked, notExpired, newReservation]
      : [keyMatches, notRevoked, notExpired, withinCap, newReservation];
  let slot: Reservation["slot"];
  if (idempotency) {
    slot = idempotencySlot(idempotency);
    names["#slot"] = slot.attr;
    values[":slot"] = { M: { f: { S: idempotency.fingerprint }, t: { N: String(now) }, r: { S: rid } } };
    sets.push("#slot = :slot");
    if (idempotency.replacing === undefined) {
      values[":fp"] = { S: idempotency.fingerprint };
      values[":since"] = { N: String(now - idempotency.windowMs) };
      conditions.push(notAlreadyReserved);
    } else {
      // The slot's reservation was compensated: this request is reserved anew, in its place.
      values[":stale"] = { S: idempotency.replacing };
      conditions.push("#slot.r = :stale");
    }
  }
  (input.cleanup ?? [])
    .filter((done) => done !== rid)
    .slice(0, MAX_CLEANUP_PER_WRITE)
    .forEach((done, i) => {
      names[`#c${i}`] = done;
      removes.push(`p.#c${i}`);
    });
  return {
    update: `SET ${sets.join(", ")} REMOVE ${removes.join(", ")}`,
    condition: conditions.join(" AND "),
    names,
    values,
    slot,
  };
}

/** The slot a request with this Idempotency-Key fingerprint takes on the key's item. */
function idempotencySlot(idempotency: IdempotencyMark): NonNullable<Reservation["slot"]> {
  return { attr: slotAttr(idempotency.fingerprint), fingerprint: idempotency.fingerprint };
}

/** The reservation as it stands once its write applied (and what a write of unknown outcome compensates). */
export function reservationOf(input: ReserveInput): Reservation {
  return {
    keyId: input.key.keyId,
    rid: input.rid,
    kind: input.kind,
    amountMicro: input.amountMicro,
    window: windowAttr(input.now),
    expiresAt: input.expiresAt,
    slot: input.idempotency ? idempotencySlot(input.idempotency) : undefined,
  };
}

/**
 * The key's write as the fields of an UpdateItem on its item, whether sent alone or in a transaction: a refusal
 * returns the item as it was (ALL_OLD), from which `classifyRefusal` says why.
 */
export function keyUpdate(table: string, keyId: string, write: KeyWrite) {
  return {
    TableName: table,
    Key: { pk: { S: keyPk(keyId) } },
    UpdateExpression: write.update,
    ConditionExpression: write.condition,
    ExpressionAttributeNames: write.names,
    ExpressionAttributeValues: write.values,
    ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const,
  };
}

/**
 * A key standing alone (no budget, no issuer budget, no deployment cap for its vendor): the reservation is one
 * conditional UpdateItem, whose UPDATED_NEW values give the key's remaining for the day at no extra cost.
 */
export async function reserve(
  db: DynamoDBClient,
  table: string,
  input: ReserveInput,
  signal?: AbortSignal,
): Promise<ReserveOutcome> {
  const write = keyWrite(input);
  const result = await conditionalWrite(() =>
    db.send(
      // UPDATED_NEW: the key's remaining for the day, at no extra cost.
      new UpdateItemCommand({ ...keyUpdate(table, input.key.keyId, write), ReturnValues: "UPDATED_NEW" }),
      { abortSignal: signal },
    ),
  );
  const reservation = reservationOf(input);
  if (result.applied) {
    const remaining = result.attributes?.[reservation.window]?.N;
    if (remaining !== undefined) reservation.remainingMicro = Number(remaining);
    if ((result.attempts ?? 1) > 1) reservation.resent = true;
    return { kind: "reserved", reservation };
  }
  // Our own marker: an earlier attempt of this very write was applied (the SDK retried after a timeout).
  if (isOwnMarker(result.item, input)) {
    const remaining = result.item?.[reservation.window]?.N;
    if (remaining !== undefined) reservation.remainingMicro = Number(remaining);
    return { kind: "reserved", reservation: { ...reservation, resent: true } };
  }
  return classifyRefusal(result.item, input, write.slot);
}

/** The item holds this reservation's own marker: an earlier attempt of the same write was applied. */
export function isOwnMarker(item: Record<string, AttributeValue> | undefined, input: ReserveInput): boolean {
  const own = unmarshalMarker(item?.p?.M?.[input.rid]);
  return own !== undefined && own.kind === markerKind(input.kind) && own.amountMicro === input.amountMicro;
}

/** Says why the condition failed, from the item as DynamoDB saw it when it refused the write. */
export function classifyRefusal(
  item: Record<string, AttributeValue> | undefined,
  input: ReserveInput,
  slot: Reservation["slot"],
): ReserveOutcome {
  if (!item || item.key_hash?.S !== input.keyHash) throw new AuthenticationError("unknown_key", "unknown vault key");
  const state = unmarshalKey(item);
  if (state.revokedAt !== undefined) throw new AuthenticationError("revoked_key", "this vault key has been revoked");
  if (state.expiresAt <= input.now) throw new AuthenticationError("expired_key", "this vault key has expired");
  const held = slot ? state.idempotencySlots.get(slot.attr) : undefined;
  if (slot && held?.fingerprint === slot.fingerprint && held.at > input.now - input.idempotency!.windowMs) {
    return {
      kind: "retry",
      slotAttr: slot.attr,
      rid: held.rid,
      original: state.markers.get(held.rid),
      remainingMicro: state.remainingByDay.get(windowAttr(input.now)) ?? state.capMicro,
    };
  }
  const spent = spentOn(state, input.now);
  throw new CapExceededError(
    "cap_exceeded",
    `this call costs ${microToUsd(input.amountMicro)} USD and would cross the daily cap of ${microToUsd(state.capMicro)} USD (${microToUsd(spent)} USD spent today)`,
    {
      cap: "daily_usd_cap",
      cap_usd: microToUsd(state.capMicro),
      spent_usd: microToUsd(spent),
      requested_usd: microToUsd(input.amountMicro),
    },
  );
}

/**
 * Lets an idempotent retry ride on an earlier reservation, if that reservation still stands. One that ended (a
 * settled or unsettled marker, or none left) stands for good: nothing to write. One still open may be a call
 * answered 503 whose write had an unknown outcome and is being compensated: the ride marks it (`u`) in a write
 * that only applies while it is open, and a compensation never gives back a marked reservation. False when the
 * reservation was compensated (a tombstone): the retry must be reserved anew.
 */
export async function rideOn(
  db: DynamoDBClient,
  table: string,
  keyId: string,
  rid: string,
  original: Marker | undefined,
  signal?: AbortSignal,
): Promise<{ rides: boolean; writes: number }> {
  if (!original || original.kind === "d" || original.kind === "u") return { rides: true, writes: 0 };
  if (original.kind === "x") return { rides: false, writes: 0 };
  // A key drawing from budgets may have a transaction on its item this very moment: a conflict is retried.
  const marked = await retryingConflicts(
    () =>
      conditionalWrite(() =>
        db.send(
          new UpdateItemCommand({
            TableName: table,
            Key: { pk: { S: keyPk(keyId) } },
            UpdateExpression: "SET p.#rid.u = :ridden",
            ConditionExpression: "p.#rid.k = :open",
            ExpressionAttributeNames: { "#rid": rid },
            ExpressionAttributeValues: { ":ridden": { BOOL: true }, ":open": { S: original.kind } },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
          { abortSignal: signal },
        ),
      ),
    signal,
  );
  if (marked.applied) return { rides: true, writes: 1 };
  const now = unmarshalMarker(marked.item?.p?.M?.[rid]);
  return { rides: now?.kind !== "x", writes: 1 };
}
