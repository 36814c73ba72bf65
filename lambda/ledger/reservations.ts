import { type AttributeValue, type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { DAY_MS } from "../core/clock";
import { AuthenticationError, CapExceededError } from "../core/errors";
import { microToUsd } from "../core/money";
import { conditionalWrite } from "./dynamo";
import { type KeyRecord, keyPk, spentOn, unmarshalKey, windowAttr } from "./key-record";

/**
 * The hot path's single ledger round trip: one conditional UpdateItem on the key's own item decides
 * authentication (hash), revocation, expiry, the daily cap and idempotency, and takes the reservation.
 * Nothing is read first, so concurrent callers on any number of instances are serialised by DynamoDB.
 */

/** A retried request (same Idempotency-Key and bytes) finds its fingerprint in one of these slots. */
export const IDEMPOTENCY_SLOTS = 16;

export interface IdempotencyMark {
  /** sha256 over the key id, Idempotency-Key and the request's method, path, query and body. */
  fingerprint: string;
}

export interface ReserveInput {
  key: KeyRecord;
  keyHash: string;
  amountMicro: number;
  now: number;
  idempotency?: IdempotencyMark;
  /** Set when the final cost comes from the response (estimate now, settle later): a sweepable marker. */
  pending?: { id: string; expiresAt: number };
}

export interface Reservation {
  keyId: string;
  amountMicro: number;
  window: string;
  slot?: { attr: string; fingerprint: string };
  pendingId?: string;
}

export type ReserveOutcome =
  | { kind: "reserved"; reservation: Reservation }
  /** The same request was already reserved (an SDK retry): forward it without a second reservation. */
  | { kind: "retry"; slotAttr: string };

export const slotAttr = (fingerprint: string) => `i${parseInt(fingerprint.slice(0, 8), 16) % IDEMPOTENCY_SLOTS}`;

// Named parts of the reservation condition (every one is checked inside DynamoDB, never read first).
const keyMatches = "key_hash = :hash";
const notRevoked = "attribute_not_exists(revoked_at)";
const notExpired = "expires_at > :now";
// A day's window is created by its first reservation, so a missing window is checked against the cap itself.
const withinCap = "((attribute_not_exists(#w) AND cap >= :amount) OR #w >= :amount)";
const notAlreadyReserved = "(attribute_not_exists(#slot) OR #slot <> :fp)";

export async function reserve(db: DynamoDBClient, table: string, input: ReserveInput): Promise<ReserveOutcome> {
  const { key, amountMicro, now, idempotency, pending } = input;
  const window = windowAttr(now);
  const names: Record<string, string> = { "#w": window, "#stale": windowAttr(now - 2 * DAY_MS) };
  const values: Record<string, AttributeValue> = {
    ":hash": { S: input.keyHash },
    ":now": { N: String(now) },
    ":cap": { N: String(key.capMicro) },
    ":amount": { N: String(amountMicro) },
  };
  const sets = ["#w = if_not_exists(#w, :cap) - :amount"];
  const conditions = [keyMatches, notRevoked, notExpired, withinCap];
  let slot: Reservation["slot"];
  if (idempotency) {
    slot = { attr: slotAttr(idempotency.fingerprint), fingerprint: idempotency.fingerprint };
    names["#slot"] = slot.attr;
    values[":fp"] = { S: idempotency.fingerprint };
    sets.push("#slot = :fp");
    conditions.push(notAlreadyReserved);
  }
  if (pending) {
    names["#rid"] = pending.id;
    values[":pending"] = {
      M: { a: { N: String(amountMicro) }, w: { S: window }, x: { N: String(pending.expiresAt) } },
    };
    sets.push("p.#rid = :pending");
  }
  const result = await conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: keyPk(key.keyId) } },
        UpdateExpression: `SET ${sets.join(", ")} REMOVE #stale`,
        ConditionExpression: conditions.join(" AND "),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    ),
  );
  if (result.applied) {
    return { kind: "reserved", reservation: { keyId: key.keyId, amountMicro, window, slot, pendingId: pending?.id } };
  }
  return classifyRefusal(result.item, input, slot);
}

/** Says why the condition failed, from the item as DynamoDB saw it when it refused the write. */
function classifyRefusal(
  item: Record<string, AttributeValue> | undefined,
  input: ReserveInput,
  slot: Reservation["slot"],
): ReserveOutcome {
  if (!item || item.key_hash?.S !== input.keyHash) throw new AuthenticationError("unknown_key", "unknown vault key");
  const state = unmarshalKey(item);
  if (state.revokedAt !== undefined) throw new AuthenticationError("revoked_key", "this vault key has been revoked");
  if (state.expiresAt <= input.now) throw new AuthenticationError("expired_key", "this vault key has expired");
  if (slot && state.idempotencySlots.get(slot.attr) === slot.fingerprint) return { kind: "retry", slotAttr: slot.attr };
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
