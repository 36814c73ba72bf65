// One proxied call, top to bottom: locate the vendor path, resolve the vault key, check vendor and allowlist,
// price, reserve (the hot path's one ledger round trip), forward with the real secret, answer, then end the
// reservation and write the audit record. Every refusal is audited and shaped for the SDK that sent the call.
import { createHash, randomBytes } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CallRecord } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import type { SpendCaps } from "../core/caps";
import type { Clock } from "../core/clock";
import { CounterpartyNotAllowedError } from "../core/counterparty";
import { matchesEndpoint } from "../core/endpoints";
import {
  AuthenticationError,
  CapExceededError,
  ForbiddenError,
  KeybrakeError,
  LedgerUnavailableError,
  ResponseTooLargeError,
  VendorNotConfiguredError,
} from "../core/errors";
import type { Log } from "../core/log";
import { microToDecimal, microToUsd } from "../core/money";
import type { PricingConfig } from "../core/pricing";
import type { SecretSource } from "../core/secrets";
import type { Vendor } from "../core/vendors";
import { type Level, levelsFor } from "../ledger/budget-record";
import {
  MAX_CLEANUP_PER_WRITE,
  type Reservation,
  type ReserveInput,
  type ReserveOutcome,
  reservationOf,
  reserve,
  rideOn,
} from "../ledger/reservations";
import { reserveStacked } from "../ledger/stacked";
import { readKeyRemaining, readStanding, type Standing } from "../ledger/standing";
import { adapters, vendorForPath } from "../vendors";
import type { ProxiedRequest, Quote, UpstreamReply, VendorAdapter } from "../vendors/adapter";
import { readBody } from "../vendors/body";
import { classify, quoteCall } from "../vendors/classify";
import { describeKey, newCallRecord } from "./call-record";
import { callDeadline, type Deadline, finishing, RESERVE_BUDGET_MS, release, within } from "./deadline";
import { finishForwarded } from "./finish";
import { UpstreamTooLargeError } from "./forward";
import { type KeyCache, presentedVaultKey, RefusedKeyError, type ResolvedKey } from "./key-cache";
import { parseTarget, type RawTarget } from "./request";
import type { CapObservation, Thresholds } from "./thresholds";
import type { Upkeep } from "./upkeep";
import { type ProxyOutput, passThrough, type Upstreams, upstreamFor } from "./upstream";

export type { ProxyOutput } from "./upstream";

export interface ProxyDeps {
  db: DynamoDBClient;
  table: string;
  keys: KeyCache;
  secrets: SecretSource;
  pricing: PricingConfig;
  /** Upstream base URLs per vendor (the real APIs unless overridden). */
  upstreams: Upstreams;
  /** The call's budget for vendor work (docs/guarantees.md#2-no-reservation-no-call), shortened on Lambda. */
  upstreamTimeoutMs: number;
  /** How long after its call's deadline a reservation's marker waits before the sweep may close it. */
  pendingGraceMs: number;
  /** Cleanup and compensations this instance carries between calls. */
  upkeep: Upkeep;
  /** Issuer budgets and deployment caps declared as code (KEYBRAKE_SPEND_CAPS): levels every key may stack on. */
  spendCaps: SpendCaps;
  /** 80 % / 100 % warnings, once per cap and UTC day. */
  thresholds: Thresholds;
  /** Lambda: vendor answers over this many bytes are cut (undefined in local mode: no limit). */
  maxResponseBytes?: number;
  /** Lambda: whether a vendor answer fits the function's response limit once encoded for API Gateway. */
  fitsResponse?: (reply: UpstreamReply) => boolean;
  clock: Clock;
  audit: AuditSink;
  /** Unexpected errors (never refusals) with their stacks. */
  log: Log;
  /**
   * Local mode passes a tracker so settlement finishes after the answer is sent. On Lambda it is absent:
   * a frozen function would never finish it, so settlement completes before the handler returns.
   */
  afterResponse?: (work: Promise<void>) => void;
}

export interface ProxyInput extends RawTarget {
  headers: Headers;
  body: Uint8Array;
  /** Lambda: the function's remaining time when the call arrived (its deadline is made from it). */
  remainingMs?: number;
}

/** On Lambda: open markers are closed by the sweep this long after their call's deadline, at the earliest. */
export const PENDING_GRACE_MS = 15 * 60_000;

export async function handleProxyCall(deps: ProxyDeps, input: ProxyInput): Promise<ProxyOutput> {
  const deadline = callDeadline(deps.upstreamTimeoutMs, input.remainingMs);
  try {
    return await proxyCall(deps, input, deadline);
  } finally {
    // Lambda: pending compensations get what time is left before the function returns (local mode retries them
    // in the background instead).
    if (!deps.afterResponse && deps.upkeep.pendingCompensations > 0) {
      const signal = finishing(deadline, 2_000);
      await deps.upkeep.drain(signal).catch(() => undefined);
      release(signal);
    }
    deadline.dispose(); // everything that waited on it is over: its timers go now, not seconds later
  }
}

async function proxyCall(deps: ProxyDeps, input: ProxyInput, deadline: Deadline): Promise<ProxyOutput> {
  const started = deps.clock();
  const record = newCallRecord(input, started);
  let routeVendor: Vendor | undefined;
  let resolved: ResolvedKey | undefined;
  try {
    const target = locate(record, input);
    routeVendor = target.routeVendor;
    const req: ProxiedRequest = { ...target, headers: input.headers, body: input.body };

    const key = await resolveKey(deps, record, input.headers, started);
    resolved = key;
    checkVendor(key, req);
    const vendor = key.record.vendor;
    const adapter = adapters[vendor] as VendorAdapter;
    // The closed world: refused and unclassified operations stop here, before the allowlist, the secret, any
    // pricing read and the ledger (docs/guarantees.md#8-closed-world).
    const call = classify(vendor, req);
    checkAllowlist(key, req);
    if (key.record.budget) {
      record.budget_id = key.record.budget.id;
      // Immutable, so known without the ledger: an expired budget refuses before anything is read or written.
      if (key.record.budget.expiresAt <= started) {
        throw new AuthenticationError("expired_budget", "the budget this vault key draws from has expired");
      }
    }

    const secret = await deps.secrets.get(vendor, deadline.signal);
    if (secret === undefined) throw new VendorNotConfiguredError(vendor);
    adapter.guard?.(req, secret);
    const body = readBody(req, call.kind === "priced" ? adapter.bodyType(req.segments) : undefined);
    const upstream = upstreamFor(
      {
        base: deps.upstreams[vendor],
        signal: deadline.signal,
        budgetMs: deadline.budgetMs,
        maxBytes: deps.maxResponseBytes,
      },
      adapter,
      secret,
      req,
    );
    // A pricing read reaches the vendor with the real secret before the reservation write: the key (and its
    // budget) must still be live, which the cache cannot say (docs/guarantees.md#3-revocation-is-immediate).
    let live: Promise<void> | undefined;
    const lookup = async (path: string) => {
      live ??= deps.keys.confirmLive(key);
      await live;
      return upstream.lookup(path);
    };
    const quote = await quoteCall(adapter, call, req, body, { pricing: deps.pricing, lookup }, key.record.counterparty);
    record.priced_from = quote.basis;
    await checkRequestCap(deps, key, quote, record, started, deadline);

    const levels = levelsFor(key.record, deps.spendCaps);
    const { reservation, remainingMicro } = await reserveFor(
      deps,
      record,
      key,
      req,
      quote,
      adapter,
      started,
      deadline,
      levels,
    );
    record.decision = "forwarded";
    if (reservation && levels.length > 0) record.budgets = levels.map(levelName);
    // The key's remaining (and, with budgets, each level's spend) for the answer's header and the warnings: read
    // while the vendor call is in flight, never before forwarding.
    const standing = standingAfter(deps, key, levels, reservation, remainingMicro, started, deadline);
    let reply: UpstreamReply | undefined;
    let failure: unknown;
    try {
      reply = await upstream.forward();
    } catch (error) {
      failure = error;
    }
    if (reply && deps.fitsResponse && !deps.fitsResponse(reply)) {
      failure = new UpstreamTooLargeError(reply.status, reply.headers);
      reply = undefined;
    }
    const stood = await standing;
    const observations = reservation && stood ? observe(key, levels, stood, record) : [];
    const finish = finishForwarded(deps, record, {
      reservation,
      adapter,
      req,
      quote,
      reply,
      failure,
      started,
      settleSignal: () => finishing(deadline, SETTLE_WRITE_MS),
    }).then(() => (observations.length > 0 ? deps.thresholds.observe(key.record, observations, started) : undefined));
    if (deps.afterResponse) deps.afterResponse(finish);
    else await finish;
    if (reply) return withRemaining(passThrough(reply), stood?.keyRemainingMicro);
    if (failure instanceof UpstreamTooLargeError) {
      return shapedRefusal(
        key.record.vendor,
        new ResponseTooLargeError(deps.maxResponseBytes ?? 0, failure.upstreamStatus),
      );
    }
    throw failure;
  } catch (error) {
    const refusal = error instanceof KeybrakeError ? error : internalError(deps, record, error);
    if (record.decision === "refused") {
      if (error instanceof RefusedKeyError) describeKey(record, error.key);
      record.reason = refusal.code;
      if (error instanceof CapExceededError) record.cap = error.capDetails.cap;
      if (refusal instanceof CounterpartyNotAllowedError) record.counterparty = refusal.counterparty;
      record.latency_ms = deps.clock() - started;
      deps.audit.write(record);
      if (error instanceof CapExceededError && resolved) await wallHit(deps, resolved, error, started);
    }
    return shapedRefusal(routeVendor ?? record.vendor, refusal);
  }
}

/** A daily cap refused the call: its 100 % warning, once a day (after the answer in local mode). */
async function wallHit(deps: ProxyDeps, key: ResolvedKey, error: CapExceededError, now: number): Promise<void> {
  const { cap, cap_usd, spent_usd } = error.capDetails;
  if (cap === "max_request_usd") return;
  const level =
    cap === "daily_usd_cap" ? undefined : levelsFor(key.record, deps.spendCaps).find((l) => capOf(l) === cap);
  if (cap !== "daily_usd_cap" && !level) return;
  const observation: CapObservation = {
    level: level?.kind ?? "key",
    cap,
    capId: level?.id ?? `K#${key.record.keyId}`,
    capMicro: Math.round(cap_usd * 1e6),
    spentMicro: Math.round((spent_usd ?? 0) * 1e6),
    mode: level?.mode ?? key.record.mode ?? "enforce",
    refused: true,
    budgetId: level?.budgetId,
  };
  const work = deps.thresholds.observe(key.record, [observation], now);
  if (deps.afterResponse) deps.afterResponse(work);
  else await work;
}

const capOf = (level: Level) =>
  level.kind === "budget" ? "budget" : level.kind === "issuer" ? "issuer_daily_usd_budget" : "deployment_daily_usd_cap";

/** How a level is named in the call's record (`budgets`). */
function levelName(level: Level): string {
  if (level.kind === "budget") return `budget:${level.budgetId}`;
  if (level.kind === "issuer") return `issuer:${level.id.split("#")[1]}`;
  return "deployment";
}

/**
 * The key's remaining for the day and its levels' spend once its reservation is in: free on a key standing alone
 * (the reservation write's UPDATED_NEW values), one strongly consistent read otherwise, started before the
 * forward and never blocking it. Undefined when the read failed: the answer then goes without the header.
 */
function standingAfter(
  deps: ProxyDeps,
  key: ResolvedKey,
  levels: Level[],
  reservation: Reservation | undefined,
  remainingMicro: number | undefined,
  now: number,
  deadline: Deadline,
): Promise<Standing | undefined> {
  if (!reservation || levels.length === 0) {
    // The write (or, for an idempotent retry, the write that found the first reservation) said it.
    return Promise.resolve(
      remainingMicro === undefined ? undefined : { keyRemainingMicro: remainingMicro, levelSpentMicro: [] },
    );
  }
  return readStanding(deps.db, deps.table, key.record, levels, now, within(deadline, RESERVE_BUDGET_MS)).catch(
    (error: unknown) => {
      deps.log.error("keybrake.call could not read the key's standing", { error, key_id: key.record.keyId });
      return undefined;
    },
  );
}

/**
 * How each cap stands after this call's reservation, for the warnings; and which cap in shadow mode would have
 * refused it (the call was forwarded: its record says `would_refuse`).
 */
function observe(key: ResolvedKey, levels: Level[], stood: Standing, record: CallRecord): CapObservation[] {
  const cap = key.record.capMicro;
  const mode = key.record.mode ?? "enforce";
  const observations: CapObservation[] = [];
  const keySpent = cap - stood.keyRemainingMicro;
  const keyRefuses = mode === "shadow" && stood.keyRemainingMicro < 0;
  observations.push({
    level: "key",
    cap: "daily_usd_cap",
    capId: `K#${key.record.keyId}`,
    capMicro: cap,
    spentMicro: keySpent,
    mode,
    refused: keyRefuses,
  });
  if (keyRefuses) record.would_refuse ??= "daily_usd_cap";
  for (const [i, level] of levels.entries()) {
    const spent = stood.levelSpentMicro[i] ?? 0;
    // Read after the fact: in shadow mode a call is counted as one the cap would have refused when the level's
    // spend, this call included, is above its cap (a call reserved at the same instant may be counted too).
    const refuses = level.mode === "shadow" && spent > level.capMicro;
    if (refuses) record.would_refuse ??= capOf(level);
    observations.push({
      level: level.kind,
      cap: capOf(level),
      capId: level.id,
      capMicro: level.capMicro,
      spentMicro: spent,
      mode: level.mode,
      refused: refuses,
      budgetId: level.budgetId,
    });
  }
  return observations;
}

/** Every forwarded answer says what the key has left today (decimal USD, never below 0). */
function withRemaining(out: ProxyOutput, remainingMicro: number | undefined): ProxyOutput {
  if (remainingMicro === undefined) return out;
  return { ...out, headers: { ...out.headers, [REMAINING_HEADER]: microToDecimal(Math.max(0, remainingMicro)) } };
}

/** The answer header carrying the key's remaining for the day. */
export const REMAINING_HEADER = "keybrake-remaining-usd";

/**
 * A refusal before the body was read (it is over the size limit): audited like any other refusal, with
 * what the request line alone says. Nothing was reserved, nothing reaches the vendor.
 */
export function refuseUnread(deps: ProxyDeps, input: RawTarget, refusal: KeybrakeError): ProxyOutput {
  const record = newCallRecord(input, deps.clock());
  let routeVendor: Vendor | undefined;
  try {
    routeVendor = locate(record, input).routeVendor;
  } catch {
    // The path is malformed too: the record keeps the raw path, the size is the refusal that counts.
  }
  record.reason = refusal.code;
  deps.audit.write(record);
  return shapedRefusal(routeVendor ?? record.vendor, refusal);
}

/** Parses the request target and says in the record where the call goes (throws on a malformed path). */
function locate(record: CallRecord, input: RawTarget): ReturnType<typeof parseTarget> {
  const target = parseTarget(input);
  record.vendor = target.routeVendor ?? vendorForPath(target.segments);
  record.endpoint = target.path;
  return target;
}

async function resolveKey(deps: ProxyDeps, record: CallRecord, headers: Headers, now: number): Promise<ResolvedKey> {
  const vaultKey = presentedVaultKey(headers.get("authorization"));
  if (!vaultKey) throw new AuthenticationError("missing_key", "no vault key was presented");
  const key = await deps.keys.resolve(vaultKey, now);
  describeKey(record, key.record);
  return key;
}

function checkVendor(key: ResolvedKey, req: ProxiedRequest): void {
  if (req.routeVendor && req.routeVendor !== key.record.vendor) {
    throw new ForbiddenError("wrong_vendor", `this vault key is for ${key.record.vendor}, not ${req.routeVendor}`, {
      key_vendor: key.record.vendor,
    });
  }
}

/** `METHOD /path` against the key's allowlist; HEAD is a GET without its body, so `GET` entries allow it. */
function checkAllowlist(key: ResolvedKey, req: ProxiedRequest): void {
  const method = req.method === "HEAD" ? "GET" : req.method;
  if (key.allowlist.some((pattern) => matchesEndpoint(pattern, method, req.segments))) return;
  const attempted = `${req.method} ${req.path}`;
  throw new ForbiddenError("endpoint_not_allowed", `${attempted} is not in this vault key's allowed_endpoints`, {
    allowed_endpoints: key.record.allowedEndpoints,
    attempted,
  });
}

async function checkRequestCap(
  deps: ProxyDeps,
  key: ResolvedKey,
  quote: Quote,
  record: CallRecord,
  now: number,
  deadline: Deadline,
): Promise<void> {
  const max = key.record.maxRequestMicro;
  if (max === undefined || quote.amountMicro <= max) return;
  // A key in shadow mode forwards it, and says so.
  if (key.record.mode === "shadow") {
    record.would_refuse = "max_request_usd";
    return;
  }
  // A 429 names what is spent too (the contract's refusal body): one read on this refusal, never on a forwarded
  // call; when the ledger cannot say, the refusal goes without it.
  const remaining = await readKeyRemaining(
    deps.db,
    deps.table,
    key.record,
    now,
    within(deadline, RESERVE_BUDGET_MS),
  ).catch(() => undefined);
  const spent = remaining === undefined ? undefined : microToUsd(Math.max(0, key.record.capMicro - remaining));
  throw new CapExceededError(
    "request_cap_exceeded",
    `this call costs ${microToUsd(quote.amountMicro)} USD, above the key's max_request_usd of ${microToUsd(max)} USD`,
    {
      cap: "max_request_usd",
      cap_usd: microToUsd(max),
      ...(spent === undefined ? {} : { spent_usd: spent }),
      requested_usd: microToUsd(quote.amountMicro),
    },
  );
}

/** The settlement write's own budget, inside what the call has left to finish. */
const SETTLE_WRITE_MS = 3_000;

/**
 * The one ledger round trip (one UpdateItem for a key standing alone, one TransactWriteItems with budgets). No
 * reservation when an idempotent retry rides on the first call's reservation. A write whose outcome is unknown is
 * answered 503 (nothing is forwarded) and handed to compensation. Also the key's remaining for the day, when the
 * write said it.
 */
async function reserveFor(
  deps: ProxyDeps,
  record: CallRecord,
  key: ResolvedKey,
  req: ProxiedRequest,
  quote: Quote,
  adapter: VendorAdapter,
  now: number,
  deadline: Deadline,
  levels: Level[],
): Promise<{ reservation?: Reservation; remainingMicro?: number }> {
  const idempotencyKey = req.headers.get("idempotency-key") ?? undefined;
  record.idempotency_key = idempotencyKey;
  record.ledger_writes = 1; // the reservation write is attempted whatever it decides
  const keyId = key.record.keyId;
  const policy = adapter.idempotency;
  const input: ReserveInput = {
    key: key.record,
    keyHash: key.hash,
    amountMicro: quote.amountMicro,
    now,
    rid: newReservationId(),
    kind: quote.settlesFromReply ? "reply" : "exact",
    // The call is over by its deadline; the grace covers its settlement and clocks that disagree.
    expiresAt: now + deadline.budgetMs + deps.pendingGraceMs,
    idempotency:
      idempotencyKey && policy
        ? { fingerprint: fingerprint(keyId, idempotencyKey, req, policy.scopeHeaders), windowMs: policy.windowMs }
        : undefined,
    cleanup: deps.upkeep.takeCleanup(keyId, MAX_CLEANUP_PER_WRITE),
  };
  const signal = within(deadline, RESERVE_BUDGET_MS);
  let attempt = input;
  for (let tries = 0; ; tries++) {
    const outcome = await reserveOrCompensate(deps, record, attempt, levels, signal);
    if (outcome.kind === "reserved") {
      record.reservation_id = outcome.reservation.rid;
      record.reserved_usd = microToUsd(quote.amountMicro);
      return { reservation: outcome.reservation, remainingMicro: outcome.reservation.remainingMicro };
    }
    deps.upkeep.giveBack(keyId, attempt.cleanup ?? []);
    // An idempotent retry: it rides free on the first reservation, unless that one was compensated (its call was
    // answered 503 and never forwarded), in which case this request is reserved anew in its place.
    const ride = await rideOn(deps.db, deps.table, keyId, outcome.rid, outcome.original, signal);
    record.ledger_writes += ride.writes;
    if (ride.rides) {
      record.settlement = "retry";
      return { remainingMicro: outcome.remainingMicro };
    }
    // Replaced under us again and again (concurrent retries of a compensated call): fail closed.
    if (tries >= 2) throw new LedgerUnavailableError();
    record.ledger_writes += 1;
    attempt = {
      ...attempt,
      rid: newReservationId(),
      idempotency: { ...attempt.idempotency!, replacing: outcome.rid },
      cleanup: [],
    };
  }
}

/** One reservation write; an unknown outcome is handed to compensation before the 503. */
async function reserveOrCompensate(
  deps: ProxyDeps,
  record: CallRecord,
  input: ReserveInput,
  levels: Level[],
  signal: AbortSignal,
): Promise<ReserveOutcome> {
  try {
    // No level to stack on: today's single conditional UpdateItem. Otherwise one TransactWriteItems.
    return levels.length === 0
      ? await reserve(deps.db, deps.table, input, signal)
      : await reserveStacked(deps.db, deps.table, { ...input, levels }, signal);
  } catch (error) {
    deps.upkeep.giveBack(input.key.keyId, input.cleanup ?? []);
    // An unknown outcome is compensated; a write DynamoDB rejected outright (an item at its size limit) never landed.
    if (error instanceof LedgerUnavailableError && !error.notApplied) {
      record.reservation_id = input.rid;
      deps.upkeep.compensate(reservationOf(input));
    }
    throw error;
  }
}

/** A reservation id: 64 random bits, short because a hot key's item holds one marker per call in flight. */
function newReservationId(): string {
  return `r${randomBytes(8).toString("base64url")}`;
}

/**
 * Same key, same Idempotency-Key, same target (the headers that select the vendor account) and same bytes: only
 * then is a request a retry of an earlier one.
 */
function fingerprint(keyId: string, idempotencyKey: string, req: ProxiedRequest, scope: readonly string[]): string {
  const hash = createHash("sha256").update(`${keyId}\n${idempotencyKey}\n${req.method}\n${req.path}?${req.query}\n`);
  for (const name of scope) hash.update(`${name}: ${req.headers.get(name) ?? ""}\n`);
  return hash.update("\n").update(req.body).digest("hex").slice(0, 32);
}

/** A refusal in the error shape of the SDK that sent the call: the route prefix's vendor, else the key's. */
function shapedRefusal(vendor: Vendor, refusal: KeybrakeError): ProxyOutput {
  const shaped = (adapters[vendor] as VendorAdapter).refusal(refusal);
  return {
    status: shaped.status,
    headers: { "content-type": "application/json", ...shaped.headers },
    body: JSON.stringify(shaped.body),
  };
}

function internalError(deps: ProxyDeps, record: CallRecord, error: unknown): KeybrakeError {
  deps.log.error("keybrake.call failed unexpectedly", { error, key_id: record.key_id, endpoint: record.endpoint });
  return new KeybrakeError(500, "internal_error", "keybrake could not complete this call", {}, { cause: error });
}
