import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { utcDay } from "../core/clock";
import type { Vendor } from "../core/vendors";

/**
 * One item per vault key (pk `K#<key id>`). Immutable fields are written once at issue and may be cached;
 * mutable state (revocation, spend windows, idempotency slots, pending reservations) lives only here.
 *
 * Spend windows: `w<YYYYMMDD>` holds the micro-USD still available that UTC day. It is created on first use
 * from the cap, so a new day starts full without any reset job, and a reservation always settles against the
 * window of the day it was made in (no loss or double count across midnight).
 */
export interface KeyRecord {
  keyId: string;
  keyHash: string;
  vendor: Vendor;
  issuer: string;
  label: string;
  capMicro: number;
  maxRequestMicro?: number;
  allowedEndpoints: string[];
  createdAt: number;
  expiresAt: number;
}

/** The mutable state as read back for `GET /vault/keys/{id}` and for classifying refusals. */
export interface KeyState extends KeyRecord {
  revokedAt?: number;
  remainingByDay: Map<string, number>;
  idempotencySlots: Map<string, string>;
  unsettledMicro: number;
}

/** Labels may not contain control characters, so this separator keeps a label prefix from matching a key id. */
export const LABEL_SEPARATOR = "\u0001";

export const keyPk = (keyId: string) => `K#${keyId}`;
export const labelIndexPk = (issuer: string) => `I#${issuer}`;
export const windowAttr = (ms: number) => `w${utcDay(ms)}`;
/** Items outlive their expiry by a week so `GET` can still say "expired" and late settlements find them. */
export const RETENTION_AFTER_EXPIRY_MS = 7 * 86_400_000;

export function marshalKey(r: KeyRecord): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    pk: { S: keyPk(r.keyId) },
    key_hash: { S: r.keyHash },
    vendor: { S: r.vendor },
    issuer: { S: r.issuer },
    label: { S: r.label },
    cap: { N: String(r.capMicro) },
    allowed: { L: r.allowedEndpoints.map((e) => ({ S: e })) },
    created_at: { N: String(r.createdAt) },
    expires_at: { N: String(r.expiresAt) },
    ttl: { N: String(Math.ceil((r.expiresAt + RETENTION_AFTER_EXPIRY_MS) / 1000)) },
    gsi1pk: { S: labelIndexPk(r.issuer) },
    gsi1sk: { S: `${r.label}${LABEL_SEPARATOR}${r.keyId}` },
    p: { M: {} },
  };
  if (r.maxRequestMicro !== undefined) item.max_req = { N: String(r.maxRequestMicro) };
  return item;
}

export function unmarshalKey(item: Record<string, AttributeValue>): KeyState {
  const remainingByDay = new Map<string, number>();
  const idempotencySlots = new Map<string, string>();
  for (const [name, value] of Object.entries(item)) {
    if (/^w\d{8}$/.test(name) && value.N !== undefined) remainingByDay.set(name, Number(value.N));
    if (/^i\d+$/.test(name) && value.S !== undefined) idempotencySlots.set(name, value.S);
  }
  return {
    keyId: item.pk!.S!.slice(2),
    keyHash: item.key_hash!.S!,
    vendor: item.vendor!.S! as Vendor,
    issuer: item.issuer!.S!,
    label: item.label!.S!,
    capMicro: Number(item.cap!.N),
    maxRequestMicro: item.max_req?.N !== undefined ? Number(item.max_req.N) : undefined,
    allowedEndpoints: (item.allowed?.L ?? []).map((v) => v.S!),
    createdAt: Number(item.created_at!.N),
    expiresAt: Number(item.expires_at!.N),
    revokedAt: item.revoked_at?.N !== undefined ? Number(item.revoked_at.N) : undefined,
    remainingByDay,
    idempotencySlots,
    unsettledMicro: Number(item.unsettled?.N ?? 0),
  };
}

/** What this key has spent in the UTC day of `ms`. */
export function spentOn(state: KeyState, ms: number): number {
  const remaining = state.remainingByDay.get(windowAttr(ms));
  return remaining === undefined ? 0 : state.capMicro - remaining;
}
