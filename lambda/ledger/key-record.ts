// One item per vault key (pk `K#<key id>`). Immutable fields are written once at issue and may be cached;
// mutable state (revocation, spend windows, idempotency slots, pending reservations) lives only here.
//
// Spend windows: `w<YYYYMMDD>` holds the micro-USD still available that UTC day. It is created on first use
// from the cap, so a new day starts full without any reset job, and a reservation always settles against the
// window of the day it was made in (no loss or double count across midnight).
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { CapMode } from "../core/caps";
import { utcDay } from "../core/clock";
import type { CounterpartyLock } from "../core/counterparty";
import type { Vendor } from "../core/vendors";

/** A vault key's item (pk `K#<key id>`), unmarshalled. */
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
  /** The user budget this key draws from (docs/guarantees.md#9-caps-stack): immutable, so it may be cached. */
  budget?: KeyBudget;
  /** `shadow`: the key's caps never refuse; a call they would refuse is forwarded and recorded `would_refuse`. */
  mode?: CapMode;
  /** Whom its priced calls may act on; immutable, so cached with the rest (docs/guarantees.md#counterparty-lock). */
  counterparty?: CounterpartyLock;
}

/** A key's budget as the key's item records it at issue: the budget's immutable fields. */
export interface KeyBudget {
  id: string;
  capMicro: number;
  parts: number;
  mode: CapMode;
  expiresAt: number;
}

/** The mutable state as read back for `GET /vault/keys/{id}` and for classifying refusals. */
export interface KeyState extends KeyRecord {
  revokedAt?: number;
  remainingByDay: Map<string, number>;
  idempotencySlots: Map<string, IdempotencySlot>;
  /** The reservation markers under `p`, by reservation id. */
  markers: Map<string, Marker>;
  unsettledMicro: number;
}

/**
 * A dedupe slot `d<n>`: the fingerprint of an idempotent request, when it was reserved and the reservation it
 * took. A retry within the vendor's window finds it and rides free on that reservation.
 */
export interface IdempotencySlot {
  fingerprint: string;
  at: number;
  rid: string;
}

/**
 * A reservation marker `p.<rid>` (kind `k`, amount `a`, expiry `x`: a hot key's item holds one per call in flight,
 * so it is kept small; the day's window a reservation draws on is known to the call that made it), written by
 * the reservation itself (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice):
 * - `e` open, exact price: the call settles with no second write; the marker is removed in passing by this
 *   process's next reservation on the key, or closed by the sweep after `x`.
 * - `r` open, priced from the answer: settlement rewrites it; the sweep keeps it as spent (unsettled) after `x`.
 * - `d` ended at its final amount `a`; `u` ended unsettled (kept at `a`): the settlement rewrote it, so a crash
 *   before its audit record still leaves the amount for the sweep to record.
 * - `x` a tombstone: the reservation was compensated (released, or never landed) and can never land later.
 */
export type MarkerKind = "e" | "r" | "d" | "u" | "x";

export interface Marker {
  kind: MarkerKind;
  amountMicro: number;
  /** Open and ended markers: when the sweep may close it. Tombstones: when it may be dropped. */
  expiresAt: number;
  /** Written before markers had kinds (always priced from the answer): it has no `k` to condition on. */
  legacy?: boolean;
  /**
   * An idempotent retry rode on this reservation while it was open (`u`): the retry's forward may be the call's
   * first, so a compensation must not give this reservation's money back.
   */
  ridden?: boolean;
  /**
   * Open markers of a key drawing from budgets: what the reservation took from each budget part (part item pk →
   * micro-USD), so that a release, a settlement, a compensation or the sweep returns money to every level exactly
   * once, in the same transaction that rewrites this marker.
   */
  charges?: Record<string, number>;
}

export function marshalMarker(m: Marker): AttributeValue {
  const map: Record<string, AttributeValue> = {
    k: { S: m.kind },
    a: { N: String(m.amountMicro) },
    x: { N: String(m.expiresAt) },
  };
  if (m.charges && Object.keys(m.charges).length > 0) {
    map.b = { M: Object.fromEntries(Object.entries(m.charges).map(([pk, a]) => [pk, { N: String(a) }])) };
  }
  return { M: map };
}

export function unmarshalMarker(value: AttributeValue | undefined): Marker | undefined {
  const m = value?.M;
  if (!m) return undefined;
  // Markers written before kinds existed were always priced from the answer.
  const kind = (m.k?.S ?? "r") as MarkerKind;
  const marker: Marker = {
    kind,
    amountMicro: Number(m.a?.N ?? 0),
    expiresAt: Number(m.x?.N ?? 0),
  };
  if (m.k === undefined) marker.legacy = true;
  if (m.u !== undefined) marker.ridden = true;
  if (m.b?.M) marker.charges = Object.fromEntries(Object.entries(m.b.M).map(([pk, a]) => [pk, Number(a.N ?? 0)]));
  return marker;
}

/** Labels may not contain control characters, so this separator keeps a label prefix from matching a key id. */
export const LABEL_SEPARATOR = "\u0001";

export const keyPk = (keyId: string) => `K#${keyId}`;
/** Key items are the only items whose pk starts with this (budgets, parts and flags have their own). */
export const KEY_PK_PREFIX = "K#";
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
  if (r.budget) {
    item.budget = {
      M: {
        id: { S: r.budget.id },
        cap: { N: String(r.budget.capMicro) },
        parts: { N: String(r.budget.parts) },
        mode: { S: r.budget.mode },
        exp: { N: String(r.budget.expiresAt) },
      },
    };
  }
  if (r.mode === "shadow") item.mode = { S: r.mode };
  if (r.counterparty !== undefined) item.cp = marshalCounterparty(r.counterparty);
  return item;
}

function unmarshalKeyBudget(value: AttributeValue | undefined): KeyBudget | undefined {
  const m = value?.M;
  if (!m?.id?.S) return undefined;
  return {
    id: m.id.S,
    capMicro: Number(m.cap?.N ?? 0),
    parts: Number(m.parts?.N ?? 1),
    mode: m.mode?.S === "shadow" ? "shadow" : "enforce",
    expiresAt: Number(m.exp?.N ?? 0),
  };
}

export function unmarshalKey(item: Record<string, AttributeValue>): KeyState {
  const remainingByDay = new Map<string, number>();
  const idempotencySlots = new Map<string, IdempotencySlot>();
  for (const [name, value] of Object.entries(item)) {
    if (/^w\d{8}$/.test(name) && value.N !== undefined) remainingByDay.set(name, Number(value.N));
    const slot = value.M;
    if (/^d\d+$/.test(name) && slot?.f?.S !== undefined) {
      idempotencySlots.set(name, { fingerprint: slot.f.S, at: Number(slot.t?.N ?? 0), rid: slot.r?.S ?? "" });
    }
  }
  const markers = new Map<string, Marker>();
  for (const [rid, value] of Object.entries(item.p?.M ?? {})) {
    const marker = unmarshalMarker(value);
    if (marker) markers.set(rid, marker);
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
    ...(item.budget ? { budget: unmarshalKeyBudget(item.budget) } : {}),
    ...(item.mode?.S === "shadow" ? { mode: "shadow" as const } : {}),
    counterparty: unmarshalCounterparty(item.cp),
    revokedAt: item.revoked_at?.N !== undefined ? Number(item.revoked_at.N) : undefined,
    remainingByDay,
    idempotencySlots,
    markers,
    unsettledMicro: Number(item.unsettled?.N ?? 0),
  };
}

/** What this key has spent in the UTC day of `ms`. */
export function spentOn(state: KeyState, ms: number): number {
  const remaining = state.remainingByDay.get(windowAttr(ms));
  return remaining === undefined ? 0 : state.capMicro - remaining;
}

/**
 * The lock as attribute `cp`, a map in the API's field names. It is part of the key's item, so every reservation
 * write pays for its size (a few dozen bytes for a typical lock; 50 long domains approach 13 KB).
 */
function marshalCounterparty(lock: CounterpartyLock): AttributeValue {
  const m: Record<string, AttributeValue> = {};
  if (lock.stripeCustomer !== undefined) m.stripe_customer = { S: lock.stripeCustomer };
  if (lock.stripeAccount !== undefined) m.stripe_account = { S: lock.stripeAccount };
  if (lock.toPrefixes !== undefined) m.to_prefixes = { L: lock.toPrefixes.map((p) => ({ S: p })) };
  if (lock.recipientDomains !== undefined) m.recipient_domains = { L: lock.recipientDomains.map((d) => ({ S: d })) };
  return { M: m };
}

function unmarshalCounterparty(value: AttributeValue | undefined): CounterpartyLock | undefined {
  const m = value?.M;
  if (!m) return undefined;
  const strings = (v: AttributeValue | undefined) => v?.L?.map((e) => e.S!);
  const lock: CounterpartyLock = {};
  if (m.stripe_customer?.S !== undefined) lock.stripeCustomer = m.stripe_customer.S;
  if (m.stripe_account?.S !== undefined) lock.stripeAccount = m.stripe_account.S;
  if (m.to_prefixes !== undefined) lock.toPrefixes = strings(m.to_prefixes);
  if (m.recipient_domains !== undefined) lock.recipientDomains = strings(m.recipient_domains);
  return lock;
}
