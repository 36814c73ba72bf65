// The audit trail: one structured record per proxied call and per key event. Never a secret, a vault key or
// a request body: only the key id, who spent, where, the decision, the money and the vendor's own ids.
// On Lambda each record is the `audit` field of a Powertools log line whose message is `keybrake.<event>`;
// in local mode it is one JSON line of KEYBRAKE_AUDIT_FILE. Amounts are USD numbers (micro-USD / 10^6).
//
// Spend accounting (docs/audit.md#spend-adds-up): every record that carries money names its `reservation_id`,
// and a reservation's spend is the largest `spent_usd` among its records (likewise `unsettled_usd`): the call
// record and the sweep's `reservation_swept` record may both carry the same amount, and a record written when
// the ledger's outcome was unknown carries 0 and leaves the amount to the sweep. Summing that per reservation
// gives what the ledger kept, key by key, whatever instant a process died at (lambda/audit/accounting.ts).
import type { CapMode } from "../core/caps";
import type { CounterpartyBody, CounterpartyRefusal } from "../core/counterparty";
import type { CapName, RefusalCode } from "../core/errors";
import type { Vendor } from "../core/vendors";
import type { KeyRecord } from "../ledger/key-record";

export type Decision = "forwarded" | "refused";

/**
 * How the call's reservation ended: `settled` (kept at the real cost), `released` (the vendor refused it or was
 * never reached), `unsettled` (outcome unknown, kept as spent), `swept` (the orphan sweep ended it, or will:
 * its `reservation_swept` record carries the amount), `retry` (an idempotent retry rode on an earlier
 * reservation), `none` (nothing was reserved).
 */
export type Settlement = "settled" | "released" | "unsettled" | "swept" | "retry" | "none";

/**
 * Why a forwarded call got no answer from the vendor, or why its answer could not reach the client
 * (`response_too_large`: over Lambda's response payload limit; the vendor did act).
 */
export type UpstreamFailure = "upstream_failed" | "upstream_timeout" | "upstream_unreachable" | "response_too_large";

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
  /**
   * On a `counterparty_not_allowed` refusal: the lock field, what the call would have acted on and what the key
   * allows (a `To` prefix and recipient domains only, never a whole number or address).
   */
  counterparty?: CounterpartyRefusal;
  /** The reservation this call took (absent when nothing was reserved, and on an idempotent retry). */
  reservation_id?: string;
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
  /**
   * A ledger write after forwarding failed with an unknown outcome: the record then carries 0 and says `swept`,
   * and the sweep records what the ledger kept once the reservation's marker expires.
   */
  ledger_error?: "settlement_write_failed";
  vendor_object_id?: string;
  vendor_request_id?: string;
  idempotency_key?: string;
  /** The user budget the key draws from (docs/guarantees.md#9-caps-stack). */
  budget_id?: string;
  /**
   * Every level the reservation charged besides the key: `budget:<id>`, `issuer:<name>` (its budget for this
   * vendor), `deployment` (the deployment's cap for this vendor). Each was charged `reserved_usd`, and ends as the
   * key does: this record's `spent_usd` is what each level keeps for this call.
   */
  budgets?: string[];
  /** Refused by a cap (`reason` `cap_exceeded` or `request_cap_exceeded`): which one. */
  cap?: CapName;
  /** Forwarded although this cap, in shadow mode, would have refused it. */
  would_refuse?: CapName;
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
  /** The user budget it draws from. */
  budget_id?: string;
  /** Present when the key was issued in shadow mode. */
  mode?: CapMode;
  /** The key's counterparty lock, when it has one. */
  counterparty?: CounterpartyBody;
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

/**
 * A reservation marker the sweep closed after its expiry, exactly once, with the amount the ledger kept for it.
 * `swept_as`: `pending` (priced from the answer and never settled: a crash or a failed settlement; kept as spent
 * and unsettled), `exact` (an exactly priced call's marker: a completed call's leftover or a crashed call, which
 * the sweep cannot tell apart), `settled` / `unsettled` (the settlement was written; its call record may be
 * missing if the process died right after it).
 */
export interface ReservationSweptRecord extends KeyContext {
  event: "reservation_swept";
  reservation_id: string;
  swept_as: "pending" | "exact" | "settled" | "unsettled";
  unsettled_usd: number;
  spent_usd: number;
  /** The user budget the reservation also charged (its spend counts there too). */
  budget_id?: string;
}

export type KeyEventRecord = KeyIssuedRecord | KeyRevokedRecord | KeyExpiredRecord | ReservationSweptRecord;

/** `POST /vault/budgets` and `DELETE /vault/budgets/{id}`, written by the issuer. */
export interface BudgetEventRecord {
  event: "budget_created" | "budget_revoked";
  time: string;
  budget_id: string;
  issuer: string;
  agent_run_label: string;
  vendor: Vendor;
  daily_usd_cap: number;
  parts: number;
  mode: CapMode;
  expires_at: string;
}

/**
 * A cap crossed 80 % or reached 100 % of its daily amount (docs/operations.md#warnings-before-the-wall), written
 * once per cap, threshold and UTC day (a conditional flag in the ledger decides which call writes it). 100 % is
 * reached when the day's spend reaches the cap or the cap refuses a call (in shadow mode: would have refused one).
 */
export interface CapThresholdRecord {
  event: "cap_threshold";
  time: string;
  /** Which cap: a key's own daily cap, a user budget, an issuer's budget for a vendor, the deployment's cap. */
  level: "key" | "budget" | "issuer" | "deployment";
  cap: CapName;
  threshold_pct: 80 | 100;
  /** `spend`: the day's spend crossed it; `refusal`: the cap refused a call (or, in shadow mode, would have). */
  trigger: "spend" | "refusal";
  mode: CapMode;
  cap_usd: number;
  /** The day's spend when it was seen crossing (reserved and settled). */
  spent_usd: number;
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  vendor: Vendor;
  issuer: string;
  /** The key whose call saw it cross. */
  key_id: string;
  agent_run_label: string;
  budget_id?: string;
}

export type AuditRecord = CallRecord | KeyEventRecord | BudgetEventRecord | CapThresholdRecord;
export type AuditEvent = AuditRecord["event"];

/** The log message a record is written under on Lambda (the Logs Insights queries filter on `audit.event`). */
export const auditMessage = (record: AuditRecord): string => `keybrake.${record.event}`;
