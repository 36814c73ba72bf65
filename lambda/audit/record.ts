import type { RefusalCode } from "../core/errors";
import type { Vendor } from "../core/vendors";
import type { KeyRecord } from "../ledger/key-record";

/**
 * The audit trail: one structured record per proxied call and per key event. Never a secret, a vault key or
 * a request body: only the key id, who spent, where, the decision, the money and the vendor's own ids.
 * On Lambda each record is the `audit` field of a Powertools log line whose message is `keybrake.<event>`;
 * in local mode it is one JSON line of KEYBRAKE_AUDIT_FILE. Amounts are USD numbers (micro-USD / 10^6).
 *
 * Spend accounting: every reservation's final amount is carried by exactly one record's `spent_usd`, the call
 * record's, or, when the call's process died or the sweep ended the reservation first, the
 * `reservation_swept` record's. Summing `spent_usd` over both events gives what the ledger kept.
 */
export type Decision = "forwarded" | "refused";

/**
 * How the call's reservation ended: `settled` (kept at the real cost), `released` (the vendor refused it or was
 * never reached), `unsettled` (outcome unknown, kept as spent), `swept` (the orphan sweep ended it, or will:
 * its `reservation_swept` record carries the amount), `retry` (an idempotent retry rode on an earlier
 * reservation), `none` (nothing was reserved).
 */
export type Settlement = "settled" | "released" | "unsettled" | "swept" | "retry" | "none";

/** Why a forwarded call got no answer from the vendor. */
export type UpstreamFailure = "upstream_failed" | "upstream_timeout" | "upstream_unreachable";

export interface CallRecord {
  event: "call";
  /** When the call arrived (ISO 8601 UTC). */
  time: string;
  key_id?: string;
  issuer?: string;
  agent_run_label?: string;
  vendor: Vendor;
  method: string;
  /** The vendor path, without the query string. */
  endpoint: string;
  decision: Decision;
  /** The refusal code; present exactly when the call was refused. */
  reason?: RefusalCode;
  reserved_usd: number;
  settled_usd: number;
  unsettled_usd: number;
  /** What the ledger keeps for this call: settled + unsettled. */
  spent_usd: number;
  /**
   * Present when the vendor's real price came in above the reservation (Twilio reports its price after the fact):
   * settled − reserved. The ledger keeps the real amount, so the key's day may end over its cap by this much
   * (docs/guarantees.md#10-vendor-overage-is-bounded-and-loud).
   */
  overage_usd?: number;
  settlement: Settlement;
  /** The request fields that priced the call (never the whole body). */
  priced_from?: Record<string, string | number | boolean>;
  upstream_status?: number;
  upstream_error?: UpstreamFailure;
  /** A ledger write after forwarding failed (the reservation stays counted, the conservative side). */
  ledger_error?: "settlement_write_failed";
  vendor_object_id?: string;
  vendor_request_id?: string;
  idempotency_key?: string;
  latency_ms: number;
  ledger_writes: number;
}

interface KeyContext {
  time: string;
  key_id: string;
  issuer: string;
  agent_run_label: string;
  vendor: Vendor;
}

/** The fields every key event carries, from the key's stored record. */
export function keyContext(key: Pick<KeyRecord, "keyId" | "issuer" | "label" | "vendor">, now: number): KeyContext {
  return {
    time: new Date(now).toISOString(),
    key_id: key.keyId,
    issuer: key.issuer,
    agent_run_label: key.label,
    vendor: key.vendor,
  };
}

export interface KeyIssuedRecord extends KeyContext {
  event: "key_issued";
  daily_usd_cap: number;
  max_request_usd?: number;
  allowed_endpoints: string[];
  expires_at: string;
}

export interface KeyRevokedRecord extends KeyContext {
  event: "key_revoked";
  /** `DELETE /vault/keys/{id}`, or `POST /vault/revoke` with this prefix. */
  revoked_by: "key_id" | "label_prefix";
  label_prefix?: string;
}

/** Written by the sweep once per key that reached its expiry unrevoked. */
export interface KeyExpiredRecord extends KeyContext {
  event: "key_expired";
  daily_usd_cap: number;
  expires_at: string;
  /** Unknown-outcome spend still on the key (kept as spent). */
  unsettled_usd: number;
}

/** A reservation orphaned between reserve and settle, ended by the sweep as spent (exactly once). */
export interface ReservationSweptRecord extends KeyContext {
  event: "reservation_swept";
  unsettled_usd: number;
  spent_usd: number;
}

export type KeyEventRecord = KeyIssuedRecord | KeyRevokedRecord | KeyExpiredRecord | ReservationSweptRecord;
export type AuditRecord = CallRecord | KeyEventRecord;
export type AuditEvent = AuditRecord["event"];

/** The log message a record is written under on Lambda (the Logs Insights queries filter on `audit.event`). */
export const auditMessage = (record: AuditRecord): string => `keybrake.${record.event}`;
