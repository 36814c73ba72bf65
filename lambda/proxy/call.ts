import { createHash } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CallRecord, UpstreamFailure } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import type { Clock } from "../core/clock";
import { matchesEndpoint } from "../core/endpoints";
import {
  AuthenticationError,
  CapExceededError,
  ForbiddenError,
  KeybrakeError,
  UpstreamTimeoutError,
  VendorNotConfiguredError,
} from "../core/errors";
import { microToUsd, sumUsd } from "../core/money";
import type { PricingConfig } from "../core/pricing";
import type { SecretSource } from "../core/secrets";
import type { Vendor } from "../core/vendors";
import type { KeyRecord } from "../ledger/key-record";
import { type Reservation, reserve } from "../ledger/reservations";
import { type Ending, endReservation } from "../ledger/settlement";
import { adapters, vendorForPath } from "../vendors";
import type { Quote, VendorAdapter } from "../vendors/adapter";
import { sendUpstream, type UpstreamReply, UpstreamUnreachableError } from "./forward";
import { type KeyCache, presentedVaultKey, RefusedKeyError, type ResolvedKey } from "./key-cache";
import { type ProxiedRequest, parseTarget, type RawTarget } from "./request";

/**
 * One proxied call: authenticate, check vendor and allowlist, price, reserve (the one ledger round trip),
 * forward with the real secret, answer, then end the reservation and write the audit record.
 */
export interface ProxyDeps {
  db: DynamoDBClient;
  table: string;
  keys: KeyCache;
  secrets: SecretSource;
  pricing: PricingConfig;
  /** Upstream base URLs per vendor (the real APIs unless overridden). */
  upstreams: Record<Vendor, string>;
  upstreamTimeoutMs: number;
  clock: Clock;
  audit: AuditSink;
  /**
   * Local mode passes a tracker so settlement finishes after the answer is sent. On Lambda it is absent:
   * a frozen function would never finish it, so settlement completes before the handler returns.
   */
  afterResponse?: (work: Promise<void>) => void;
}

export interface ProxyInput {
  method: string;
  /** Path and query exactly as received. */
  target: string;
  headers: Headers;
  body: Uint8Array;
}

export interface ProxyOutput {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/** Reservations that settle from the answer are swept if still open this long after the vendor timeout. */
const PENDING_GRACE_MS = 15 * 60_000;
/** Request headers that describe this hop, or carry the vault key, and must not reach the vendor. */
const HOP_HEADERS = new Set([
  "host",
  "authorization",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "accept-encoding",
  "expect",
  "forwarded",
  "via",
  "cookie",
]);
const REPLY_DROP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"]);

export async function handleProxyCall(deps: ProxyDeps, input: ProxyInput): Promise<ProxyOutput> {
  const started = deps.clock();
  const record = newCallRecord(input, started);
  let reservation: Reservation | undefined;
  // Refusals are shaped for the SDK that sent the call: the route prefix's vendor, else the key's.
  let errorShape: Vendor = record.vendor;
  try {
    const target = locate(record, input);
    errorShape = record.vendor;
    const req: ProxiedRequest = { ...target, headers: input.headers, body: input.body };

    const vaultKey = presentedVaultKey(input.headers.get("authorization"));
    if (!vaultKey) throw new AuthenticationError("missing_key", "no vault key was presented");
    const key = await deps.keys.resolve(vaultKey, started);
    describeKey(record, key.record);
    errorShape = req.routeVendor ?? key.record.vendor;
    if (req.routeVendor && req.routeVendor !== key.record.vendor) {
      throw new ForbiddenError("wrong_vendor", `this vault key is for ${key.record.vendor}, not ${req.routeVendor}`, {
        key_vendor: key.record.vendor,
      });
    }
    checkAllowlist(key, req);

    const adapter = adapters[key.record.vendor] as VendorAdapter;
    const secret = await deps.secrets.get(key.record.vendor);
    if (secret === undefined) throw new VendorNotConfiguredError(key.record.vendor);
    adapter.guard?.(req, secret);
    const upstream = upstreamFor(deps, key.record.vendor, adapter, secret, req);
    const quote = await adapter.quote(req, { pricing: deps.pricing, lookup: upstream.lookup });
    record.priced_from = quote.basis;
    checkRequestCap(key, quote);

    const idempotencyKey = input.headers.get("idempotency-key") ?? undefined;
    record.idempotency_key = idempotencyKey;
    record.ledger_writes = 1; // the reservation write is attempted whatever it decides
    const outcome = await reserve(deps.db, deps.table, {
      key: key.record,
      keyHash: key.hash,
      amountMicro: quote.amountMicro,
      now: started,
      idempotency: idempotencyKey ? { fingerprint: fingerprint(key.record.keyId, idempotencyKey, req) } : undefined,
      pending: quote.settlesFromReply
        ? {
            id: `r${started.toString(36)}${Math.random().toString(36).slice(2, 10)}`,
            expiresAt: started + deps.upstreamTimeoutMs + PENDING_GRACE_MS,
          }
        : undefined,
    });
    if (outcome.kind === "reserved") {
      reservation = outcome.reservation;
      record.reserved_usd = microToUsd(quote.amountMicro);
    } else {
      record.settlement = "retry";
    }

    record.decision = "forwarded";
    let reply: UpstreamReply | undefined;
    let failure: unknown;
    try {
      reply = await upstream.forward();
    } catch (error) {
      failure = error;
    }
    const ending = reservation ? endingFor(adapter, req, quote, reply, failure) : undefined;
    const finish = finishForwarded(deps, record, { reservation, ending, reply, failure, adapter, started });
    reservation = undefined; // ended by finishForwarded from here on
    if (deps.afterResponse) deps.afterResponse(finish);
    else await finish;
    if (reply) return passThrough(reply);
    throw failure;
  } catch (error) {
    const refusal = error instanceof KeybrakeError ? error : internalError(error);
    if (error instanceof RefusedKeyError) describeKey(record, error.key);
    if (record.decision === "refused") {
      record.reason = refusal.code;
      record.latency_ms = deps.clock() - started;
      const close = closeRefused(deps, record, reservation);
      if (deps.afterResponse) deps.afterResponse(close);
      else await close;
    }
    return shapedRefusal(errorShape, refusal);
  }
}

/**
 * A refusal before the body was read (it is over the size limit): audited like any other refusal, with
 * what the request line alone says. Nothing was reserved, nothing reaches the vendor.
 */
export function refuseUnread(deps: ProxyDeps, input: Omit<ProxyInput, "body">, refusal: KeybrakeError): ProxyOutput {
  const record = newCallRecord(input, deps.clock());
  try {
    locate(record, input);
  } catch {
    // The path is malformed too: the record keeps the raw path, the size is the refusal that counts.
  }
  record.reason = refusal.code;
  deps.audit.write(record);
  return shapedRefusal(record.vendor, refusal);
}

/** Parses the request target and says in the record where the call goes (throws on a malformed path). */
function locate(record: CallRecord, input: RawTarget): ReturnType<typeof parseTarget> {
  const target = parseTarget(input);
  record.vendor = target.routeVendor ?? vendorForPath(target.segments);
  record.endpoint = target.path;
  return target;
}

function describeKey(record: CallRecord, key: KeyRecord): void {
  Object.assign(record, { key_id: key.keyId, issuer: key.issuer, agent_run_label: key.label, vendor: key.vendor });
}

function newCallRecord(input: RawTarget, started: number): CallRecord {
  return {
    event: "call",
    time: new Date(started).toISOString(),
    vendor: "stripe",
    method: input.method.toUpperCase(),
    endpoint: input.target.split("?")[0]!,
    decision: "refused",
    reserved_usd: 0,
    settled_usd: 0,
    unsettled_usd: 0,
    spent_usd: 0,
    settlement: "none",
    latency_ms: 0,
    ledger_writes: 0,
  };
}

function shapedRefusal(vendor: Vendor, refusal: KeybrakeError): ProxyOutput {
  const shaped = (adapters[vendor] as VendorAdapter).refusal(refusal);
  return {
    status: shaped.status,
    headers: { "content-type": "application/json", ...shaped.headers },
    body: JSON.stringify(shaped.body),
  };
}

function checkAllowlist(key: ResolvedKey, req: ProxiedRequest): void {
  if (key.allowlist.some((pattern) => matchesEndpoint(pattern, req.method, req.segments))) return;
  const attempted = `${req.method} ${req.path}`;
  throw new ForbiddenError("endpoint_not_allowed", `${attempted} is not in this vault key's allowed_endpoints`, {
    allowed_endpoints: key.record.allowedEndpoints,
    attempted,
  });
}

function checkRequestCap(key: ResolvedKey, quote: Quote): void {
  const max = key.record.maxRequestMicro;
  if (max === undefined || quote.amountMicro <= max) return;
  throw new CapExceededError(
    "request_cap_exceeded",
    `this call costs ${microToUsd(quote.amountMicro)} USD, above the key's max_request_usd of ${microToUsd(max)} USD`,
    {
      cap: "max_request_usd",
      cap_usd: microToUsd(max),
      requested_usd: microToUsd(quote.amountMicro),
    },
  );
}

/** Same key, same Idempotency-Key, same bytes: only then is a request a retry of an earlier one. */
function fingerprint(keyId: string, idempotencyKey: string, req: ProxiedRequest): string {
  return createHash("sha256")
    .update(`${keyId}\n${idempotencyKey}\n${req.method}\n${req.path}?${req.query}\n`)
    .update(req.body)
    .digest("hex")
    .slice(0, 32);
}

function upstreamFor(deps: ProxyDeps, vendor: Vendor, adapter: VendorAdapter, secret: unknown, req: ProxiedRequest) {
  const base = deps.upstreams[vendor].replace(/\/+$/, "");
  const authorization = adapter.authorization(secret as never);
  const headers: Record<string, string> = {};
  req.headers.forEach((value, name) => {
    if (!HOP_HEADERS.has(name) && !name.startsWith("x-forwarded-") && !name.startsWith("x-amzn-"))
      headers[name] = value;
  });
  headers.authorization = authorization;
  headers["accept-encoding"] = "identity";
  const url = new URL(`${base}${req.path}${req.query ? `?${req.query}` : ""}`);
  return {
    forward: () =>
      sendUpstream({
        url,
        method: req.method,
        headers,
        body: req.body.byteLength ? req.body : undefined,
        timeoutMs: deps.upstreamTimeoutMs,
      }),
    lookup: (path: string) => {
      const lookupHeaders: Record<string, string> = { authorization, "accept-encoding": "identity" };
      for (const name of ["stripe-account", "stripe-version", "stripe-context"]) {
        const value = req.headers.get(name);
        if (value) lookupHeaders[name] = value;
      }
      return sendUpstream({
        url: new URL(`${base}${path}`),
        method: "GET",
        headers: lookupHeaders,
        timeoutMs: deps.upstreamTimeoutMs,
      });
    },
  };
}

/** How the vendor's answer (or its absence) ends the reservation. */
function endingFor(
  adapter: VendorAdapter,
  req: ProxiedRequest,
  quote: Quote,
  reply?: UpstreamReply,
  failure?: unknown,
): Ending {
  if (!reply) return failure instanceof UpstreamUnreachableError ? { kind: "released" } : { kind: "unsettled" };
  if (reply.status >= 200 && reply.status < 300) return adapter.settleSuccess(req, quote, reply);
  if (reply.status >= 400 && reply.status < 500) return { kind: "released" };
  return { kind: "unsettled" };
}

interface ForwardedOutcome {
  reservation?: Reservation;
  ending?: Ending;
  reply?: UpstreamReply;
  failure?: unknown;
  adapter: VendorAdapter;
  started: number;
}

/** Ends a forwarded call's reservation as its answer says, then writes its audit record. */
async function finishForwarded(deps: ProxyDeps, record: CallRecord, outcome: ForwardedOutcome): Promise<void> {
  const { reservation, ending, reply } = outcome;
  if (reply) {
    record.upstream_status = reply.status;
    const ids = outcome.adapter.replyIds(reply);
    record.vendor_object_id = ids.objectId;
    record.vendor_request_id = ids.requestId;
  } else {
    record.upstream_error = upstreamFailure(outcome.failure);
  }
  record.latency_ms = deps.clock() - outcome.started;
  if (reservation && ending) {
    record.settlement = ending.kind;
    try {
      const result = await endReservation(deps.db, deps.table, reservation, ending);
      record.ledger_writes += result.writes;
      // The sweep ended it first (a very late answer): its record carries the amount, this one must not.
      if (!result.applied) record.settlement = "swept";
    } catch {
      record.ledger_error = "settlement_write_failed";
      // A marked reservation is ended by the sweep, which records it; any other stays counted as reserved.
      record.settlement = reservation.pendingId !== undefined ? "swept" : "unsettled";
    }
    if (record.settlement === "settled" && ending.kind === "settled")
      record.settled_usd = microToUsd(ending.actualMicro);
    if (record.settlement === "unsettled") record.unsettled_usd = microToUsd(reservation.amountMicro);
  }
  record.spent_usd = sumUsd([record.settled_usd, record.unsettled_usd]);
  deps.audit.write(record);
}

/** A call refused after reserving (e.g. its vendor secret failed to load) gives the amount back first. */
async function closeRefused(deps: ProxyDeps, record: CallRecord, reservation: Reservation | undefined): Promise<void> {
  if (reservation) {
    record.settlement = "released";
    try {
      record.ledger_writes += (await endReservation(deps.db, deps.table, reservation, { kind: "released" })).writes;
    } catch {
      record.ledger_error = "settlement_write_failed";
      record.settlement = reservation.pendingId !== undefined ? "swept" : "unsettled";
      if (record.settlement === "unsettled")
        record.unsettled_usd = record.spent_usd = microToUsd(reservation.amountMicro);
    }
  }
  deps.audit.write(record);
}

function upstreamFailure(failure: unknown): UpstreamFailure {
  if (failure instanceof UpstreamUnreachableError) return "upstream_unreachable";
  if (failure instanceof UpstreamTimeoutError) return "upstream_timeout";
  return "upstream_failed";
}

function passThrough(reply: UpstreamReply): ProxyOutput {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.headers)) if (!REPLY_DROP.has(name)) headers[name] = value;
  return { status: reply.status, headers, body: reply.body };
}

function internalError(error: unknown): KeybrakeError {
  return new KeybrakeError(500, "internal_error", "keybrake could not complete this call", {}, { cause: error });
}
