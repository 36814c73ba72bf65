import type { Vendor } from "../core/vendors";

/**
 * One structured record per proxied call and per key event. Never a secret, a vault key or a request body:
 * only the key id, who spent, where, the decision and the money.
 */
export type Decision = "forwarded" | "refused";
export type Settlement = "settled" | "released" | "unsettled" | "retry" | "none";

export interface CallRecord {
  event: "call";
  time: string;
  key_id?: string;
  issuer?: string;
  agent_run_label?: string;
  vendor: Vendor;
  method: string;
  endpoint: string;
  decision: Decision;
  /** Why it was refused (a refusal code), when it was. */
  reason?: string;
  reserved_usd: number;
  settled_usd: number;
  unsettled_usd: number;
  settlement: Settlement;
  /** The request fields that priced the call. */
  priced_from?: Record<string, string | number | boolean>;
  upstream_status?: number;
  vendor_object_id?: string;
  vendor_request_id?: string;
  idempotency_key?: string;
  latency_ms: number;
  ledger_writes: number;
}

export interface KeyEventRecord {
  event: "key_issued" | "key_revoked" | "reservation_swept";
  time: string;
  key_id: string;
  issuer?: string;
  agent_run_label?: string;
  vendor?: Vendor;
  daily_usd_cap?: number;
  expires_at?: string;
  unsettled_usd?: number;
}

export type AuditRecord = CallRecord | KeyEventRecord;
