// The issuer's operations behind the `/vault/*` routes, and the bodies they answer with (the CLI and the tests
// read the same types). Every operation acts only on the caller's own keys.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type BudgetEventRecord, keyContext } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import { type CapMode, NO_SPEND_CAPS, type SpendCaps } from "../core/caps";
import type { Clock } from "../core/clock";
import { type CounterpartyBody, counterpartyBody } from "../core/counterparty";
import { patternWithin } from "../core/endpoints";
import { AuthenticationError, ForbiddenError, InvalidRequestError, NotFoundError } from "../core/errors";
import type { Log } from "../core/log";
import { microToUsd } from "../core/money";
import { digestsEqual, generateVaultKey, isKeyId, sha256Hex, vaultKeyId } from "../core/vault-key";
import type { Vendor } from "../core/vendors";
import { type BudgetRecord, type BudgetState, type Level, levelsFor } from "../ledger/budget-record";
import { budgetParts, getBudget, putBudget, putKeyInBudget, revokeBudget } from "../ledger/budgets";
import { type KeyRecord, type KeyState, spentOn } from "../ledger/key-record";
import { getKey, putKey, revokeByLabelPrefix, revokeKey } from "../ledger/keys";
import { readLevel } from "../ledger/stacked";
import type { Issuer } from "./ceilings";
import {
  type BudgetRequest,
  type KeyRequest,
  validateBudgetRequest,
  validateKeyRequest,
  validateRevokeRequest,
} from "./validate";

export interface IssuerDeps {
  db: DynamoDBClient;
  table: string;
  issuers: Issuer[];
  /** Vendors this deployment holds secrets for; a key for any other could never be used. */
  enabledVendors: ReadonlySet<Vendor>;
  /** Issuer budgets and deployment caps declared as code (`GET /vault/keys/self` reports what is left of them). */
  spendCaps?: SpendCaps;
  clock: Clock;
  audit: AuditSink;
  /** Unexpected errors (never refusals) with their stacks. */
  log: Log;
}

/** `201` of `POST /vault/keys`: the vault key is shown once; only its SHA-256 is stored. */
export interface IssuedKeyBody {
  vault_key: string;
  key_id: string;
  vendor: Vendor;
  daily_usd_cap: number;
  max_request_usd?: number;
  allowed_endpoints: string[];
  agent_run_label: string;
  expires_at: string;
  budget_id?: string;
  mode?: CapMode;
  /** Present when the request set one: whom the key's priced calls may act on. */
  counterparty?: CounterpartyBody;
}

/** `201` of `POST /vault/budgets`. */
export interface CreatedBudgetBody {
  budget_id: string;
  vendor: Vendor;
  daily_usd_cap: number;
  agent_run_label: string;
  expires_at: string;
  parts: number;
  mode: CapMode;
}

/** `200` of `GET /vault/budgets/{budget_id}`. */
export interface BudgetStatusBody extends CreatedBudgetBody {
  status: "active" | "revoked" | "expired";
  spent_today_usd: number;
  remaining_today_usd: number;
  unsettled_usd: number;
  /** Keys issued drawing from it. */
  keys: number;
  revoked_at?: string;
}

export interface RevokedBudgetBody {
  budget_id: string;
  status: "revoked";
}

/** `200` of `GET /vault/keys/self`: what the key's own holder may know of it. */
export interface SelfBody {
  key_id: string;
  vendor: Vendor;
  agent_run_label: string;
  status: "active";
  daily_usd_cap: number;
  max_request_usd?: number;
  spent_today_usd: number;
  remaining_today_usd: number;
  expires_at: string;
  mode?: CapMode;
  budget_id?: string;
  /** The least left today among the budgets above the key that refuse (its budget, its issuer's, the deployment's). */
  budget_remaining_today_usd?: number;
}

/** `200` of `GET /vault/keys/{key_id}`. */
export interface KeyStatusBody {
  key_id: string;
  vendor: Vendor;
  agent_run_label: string;
  status: "active" | "revoked" | "expired";
  daily_usd_cap: number;
  max_request_usd?: number;
  spent_today_usd: number;
  remaining_today_usd: number;
  unsettled_usd: number;
  allowed_endpoints: string[];
  expires_at: string;
  revoked_at?: string;
  counterparty?: CounterpartyBody;
}

export interface RevokedKeyBody {
  key_id: string;
  status: "revoked";
}

export interface RevokedLabelBody {
  revoked: number;
}

/** Finds the issuer whose token this is, comparing against every issuer in constant time. */
export function authenticateIssuer(deps: IssuerDeps, authorization: string | null): Issuer {
  const token = /^Bearer (\S+)$/i.exec(authorization?.trim() ?? "")?.[1];
  if (!token)
    throw new AuthenticationError("invalid_issuer_token", "an issuer token is required (Authorization: Bearer ...)");
  const presented = sha256Hex(token);
  let match: Issuer | undefined;
  for (const issuer of deps.issuers) if (digestsEqual(presented, issuer.tokenSha256)) match = issuer;
  if (!match) throw new AuthenticationError("invalid_issuer_token", "the issuer token is not valid");
  return match;
}

export async function issueKey(deps: IssuerDeps, issuer: Issuer, body: unknown): Promise<IssuedKeyBody> {
  const request = validateKeyRequest(body);
  requireEnabledVendor(deps, request.vendor);
  enforceCeilings(issuer, request);
  const now = deps.clock();
  const budget = request.budgetId === undefined ? undefined : await liveBudget(deps, issuer, request, now);
  const { keyId, vaultKey, hash } = generateVaultKey();
  const record: KeyRecord = {
    keyId,
    keyHash: hash,
    vendor: request.vendor,
    issuer: issuer.name,
    label: request.label,
    capMicro: request.capMicro,
    maxRequestMicro: request.maxRequestMicro,
    allowedEndpoints: request.allowedEndpoints.map((p) => p.text),
    createdAt: now,
    expiresAt: now + request.expiresInSeconds * 1000,
    ...(request.mode === "shadow" ? { mode: "shadow" as const } : {}),
    counterparty: request.counterparty,
  };
  if (budget) {
    // The budget's immutable fields ride on the key, so the proxy knows its levels without reading the budget.
    const inBudget = {
      ...record,
      budget: {
        id: budget.budgetId,
        capMicro: budget.capMicro,
        parts: budget.parts,
        mode: budget.mode,
        expiresAt: budget.expiresAt,
      },
    };
    await putKeyInBudget(deps.db, deps.table, inBudget, now);
    record.budget = inBudget.budget;
  } else {
    await putKey(deps.db, deps.table, record);
  }
  const counterparty = record.counterparty ? { counterparty: counterpartyBody(record.counterparty) } : {};
  const expiresAt = new Date(record.expiresAt).toISOString();
  const maxRequest =
    record.maxRequestMicro !== undefined ? { max_request_usd: microToUsd(record.maxRequestMicro) } : {};
  deps.audit.write({
    event: "key_issued",
    ...keyContext(record, now),
    daily_usd_cap: microToUsd(record.capMicro),
    ...maxRequest,
    allowed_endpoints: record.allowedEndpoints,
    expires_at: expiresAt,
    ...(record.budget ? { budget_id: record.budget.id } : {}),
    ...(record.mode ? { mode: record.mode } : {}),
    ...counterparty,
  });
  return {
    vault_key: vaultKey,
    key_id: keyId,
    vendor: record.vendor,
    daily_usd_cap: microToUsd(record.capMicro),
    ...maxRequest,
    allowed_endpoints: record.allowedEndpoints,
    agent_run_label: record.label,
    expires_at: expiresAt,
    ...(record.budget ? { budget_id: record.budget.id } : {}),
    ...(record.mode ? { mode: record.mode } : {}),
    ...counterparty,
  };
}

/** A key or budget is only issued for a vendor whose secret this deployment holds (else 400 naming `vendor`). */
function requireEnabledVendor(deps: IssuerDeps, vendor: Vendor): void {
  if (!deps.enabledVendors.has(vendor)) {
    throw new InvalidRequestError(`this keybrake has no ${vendor} secret configured`, "vendor");
  }
}

/** The budget a key request names: this issuer's, of the key's vendor, live (else 400 naming `budget_id`). */
async function liveBudget(deps: IssuerDeps, issuer: Issuer, request: KeyRequest, now: number): Promise<BudgetState> {
  // An eventually consistent read serves the common case; a budget created a moment ago may not show in it yet (the
  // usual create-then-issue flow), so a miss is read again, consistently, before it is refused.
  const budget =
    (await getBudget(deps.db, deps.table, request.budgetId!, false)) ??
    (await getBudget(deps.db, deps.table, request.budgetId!, true));
  if (!budget || budget.issuer !== issuer.name) {
    throw new InvalidRequestError(`no budget ${request.budgetId}`, "budget_id");
  }
  if (budget.vendor !== request.vendor) {
    throw new InvalidRequestError(
      `budget ${budget.budgetId} is for ${budget.vendor}; a ${request.vendor} key cannot draw from it`,
      "budget_id",
    );
  }
  if (budget.revokedAt !== undefined)
    throw new InvalidRequestError(`budget ${budget.budgetId} was revoked`, "budget_id");
  if (budget.expiresAt <= now) throw new InvalidRequestError(`budget ${budget.budgetId} has expired`, "budget_id");
  return budget;
}

/** `POST /vault/budgets`: a daily cap its keys share, split across `parts` ledger items. */
export async function createBudget(deps: IssuerDeps, issuer: Issuer, body: unknown): Promise<CreatedBudgetBody> {
  const request = validateBudgetRequest(body);
  requireEnabledVendor(deps, request.vendor);
  enforceBudgetCeilings(issuer, request);
  const now = deps.clock();
  const budget: BudgetRecord = {
    budgetId: generateVaultKey().keyId,
    vendor: request.vendor,
    issuer: issuer.name,
    label: request.label,
    capMicro: request.capMicro,
    parts: request.parts,
    mode: request.mode,
    createdAt: now,
    expiresAt: now + request.expiresInSeconds * 1000,
  };
  await putBudget(deps.db, deps.table, budget);
  deps.audit.write(budgetEvent("budget_created", budget, now));
  return createdBody(budget);
}

function createdBody(budget: BudgetRecord): CreatedBudgetBody {
  return {
    budget_id: budget.budgetId,
    vendor: budget.vendor,
    daily_usd_cap: microToUsd(budget.capMicro),
    agent_run_label: budget.label,
    expires_at: new Date(budget.expiresAt).toISOString(),
    parts: budget.parts,
    mode: budget.mode,
  };
}

function budgetEvent(event: BudgetEventRecord["event"], budget: BudgetRecord, now: number): BudgetEventRecord {
  return {
    event,
    time: new Date(now).toISOString(),
    budget_id: budget.budgetId,
    issuer: budget.issuer,
    agent_run_label: budget.label,
    vendor: budget.vendor,
    daily_usd_cap: microToUsd(budget.capMicro),
    parts: budget.parts,
    mode: budget.mode,
    expires_at: new Date(budget.expiresAt).toISOString(),
  };
}

/** A budget is held to the issuer's ceilings that apply to it: vendors, cap, lifetime, label prefix. */
function enforceBudgetCeilings(issuer: Issuer, request: BudgetRequest): void {
  const c = issuer.ceilings;
  const refuse = (ceiling: string, message: string) =>
    new ForbiddenError("above_issuer_ceiling", `issuer ${issuer.name}: ${message}`, { ceiling });
  if (c.vendors && !c.vendors.includes(request.vendor))
    throw refuse("vendors", `may not issue budgets for ${request.vendor}`);
  if (c.maxDailyCapMicro !== undefined && request.capMicro > c.maxDailyCapMicro) {
    throw refuse("max_daily_usd_cap", `daily_usd_cap may be at most ${microToUsd(c.maxDailyCapMicro)}`);
  }
  if (c.maxExpiresInSeconds !== undefined && request.expiresInSeconds > c.maxExpiresInSeconds) {
    throw refuse("max_expires_in", `expires_in may be at most ${c.maxExpiresInSeconds} seconds`);
  }
  if (c.labelPrefix !== undefined && !request.label.startsWith(c.labelPrefix)) {
    throw refuse("label_prefix", `agent_run_label must start with ${c.labelPrefix}`);
  }
}

export async function showBudget(deps: IssuerDeps, issuer: Issuer, budgetId: string): Promise<BudgetStatusBody> {
  const budget = isKeyId(budgetId) ? await getBudget(deps.db, deps.table, budgetId) : undefined;
  if (!budget || budget.issuer !== issuer.name) throw new NotFoundError(`no budget ${budgetId}`);
  const now = deps.clock();
  const parts = await budgetParts(deps.db, deps.table, budget, now);
  const spent = parts.reduce((sum, p) => sum + p.spent, 0);
  return {
    ...createdBody(budget),
    status: budget.revokedAt !== undefined ? "revoked" : budget.expiresAt <= now ? "expired" : "active",
    spent_today_usd: microToUsd(spent),
    remaining_today_usd: microToUsd(Math.max(0, budget.capMicro - spent)),
    unsettled_usd: microToUsd(parts.reduce((sum, p) => sum + p.unsettled, 0)),
    keys: parts.reduce((sum, p) => sum + p.keys, 0),
    ...(budget.revokedAt !== undefined ? { revoked_at: new Date(budget.revokedAt).toISOString() } : {}),
  };
}

/** `DELETE /vault/budgets/{id}`: from its answer on, every call with a key drawing from it is refused. */
export async function revokeOneBudget(deps: IssuerDeps, issuer: Issuer, budgetId: string): Promise<RevokedBudgetBody> {
  const now = deps.clock();
  const revoked = isKeyId(budgetId) ? await revokeBudget(deps.db, deps.table, budgetId, issuer.name, now) : undefined;
  if (!revoked) throw new NotFoundError(`no budget ${budgetId}`);
  deps.audit.write(budgetEvent("budget_revoked", revoked, now));
  return { budget_id: budgetId, status: "revoked" };
}

/**
 * `GET /vault/keys/self` with the vault key itself: read-only, and only what the key's own caps say (never
 * another key's, never how to raise them). A revoked or expired key is refused as the proxy refuses it.
 */
export async function showSelf(deps: IssuerDeps, authorization: string | null): Promise<SelfBody> {
  const presented = /^Bearer (\S+)$/i.exec(authorization?.trim() ?? "")?.[1];
  if (!presented)
    throw new AuthenticationError("missing_key", "a vault key is required (Authorization: Bearer vk_...)");
  const keyId = vaultKeyId(presented);
  const state = keyId ? await getKey(deps.db, deps.table, keyId) : undefined;
  if (!state || !digestsEqual(state.keyHash, sha256Hex(presented))) {
    throw new AuthenticationError("unknown_key", "unknown vault key");
  }
  const now = deps.clock();
  if (state.revokedAt !== undefined) throw new AuthenticationError("revoked_key", "this vault key has been revoked");
  if (state.expiresAt <= now) throw new AuthenticationError("expired_key", "this vault key has expired");
  const spent = spentOn(state, now);
  const levels = levelsFor(state, deps.spendCaps ?? NO_SPEND_CAPS).filter((l) => l.mode === "enforce");
  const budgetRemaining = levels.length > 0 ? await leastRemaining(deps, levels, now) : undefined;
  return {
    key_id: state.keyId,
    vendor: state.vendor,
    agent_run_label: state.label,
    status: "active",
    daily_usd_cap: microToUsd(state.capMicro),
    ...(state.maxRequestMicro !== undefined ? { max_request_usd: microToUsd(state.maxRequestMicro) } : {}),
    spent_today_usd: microToUsd(spent),
    remaining_today_usd: microToUsd(Math.max(0, state.capMicro - spent)),
    expires_at: new Date(state.expiresAt).toISOString(),
    ...(state.mode ? { mode: state.mode } : {}),
    ...(state.budget ? { budget_id: state.budget.id } : {}),
    ...(budgetRemaining !== undefined ? { budget_remaining_today_usd: microToUsd(budgetRemaining) } : {}),
  };
}

async function leastRemaining(deps: IssuerDeps, levels: Level[], now: number): Promise<number> {
  const left = await Promise.all(
    levels.map(async (level) => {
      const parts = await readLevel(deps.db, deps.table, level, now);
      return Math.max(0, level.capMicro - parts.reduce((sum, p) => sum + p.spent, 0));
    }),
  );
  return Math.min(...left);
}

/** Refuses (403, naming the ceiling) a request above what this issuer was declared to grant. */
export function enforceCeilings(issuer: Issuer, request: KeyRequest): void {
  const c = issuer.ceilings;
  const refuse = (ceiling: string, message: string) =>
    new ForbiddenError("above_issuer_ceiling", `issuer ${issuer.name}: ${message}`, { ceiling });
  if (c.vendors && !c.vendors.includes(request.vendor))
    throw refuse("vendors", `may not issue keys for ${request.vendor}`);
  if (c.maxDailyCapMicro !== undefined && request.capMicro > c.maxDailyCapMicro) {
    throw refuse("max_daily_usd_cap", `daily_usd_cap may be at most ${microToUsd(c.maxDailyCapMicro)}`);
  }
  if (c.maxRequestMicro !== undefined && (request.maxRequestMicro ?? request.capMicro) > c.maxRequestMicro) {
    throw refuse("max_request_usd", `max_request_usd is required and may be at most ${microToUsd(c.maxRequestMicro)}`);
  }
  // A key in shadow mode never refuses for its own caps: what it may spend is unbounded, above either ceiling.
  if (request.mode === "shadow" && c.maxDailyCapMicro !== undefined) {
    throw refuse("max_daily_usd_cap", `a key in shadow mode has no hard daily_usd_cap; this issuer's keys enforce`);
  }
  if (request.mode === "shadow" && c.maxRequestMicro !== undefined) {
    throw refuse("max_request_usd", `a key in shadow mode has no hard max_request_usd; this issuer's keys enforce`);
  }
  if (c.maxExpiresInSeconds !== undefined && request.expiresInSeconds > c.maxExpiresInSeconds) {
    throw refuse("max_expires_in", `expires_in may be at most ${c.maxExpiresInSeconds} seconds`);
  }
  if (c.allowedEndpoints) {
    const outside = request.allowedEndpoints.find((p) => !c.allowedEndpoints!.some((o) => patternWithin(p, o)));
    if (outside) throw refuse("allowed_endpoints", `may not grant ${outside.text}`);
  }
  if (c.labelPrefix !== undefined && !request.label.startsWith(c.labelPrefix)) {
    throw refuse("label_prefix", `agent_run_label must start with ${c.labelPrefix}`);
  }
  if (c.requireCounterparty && request.counterparty === undefined) {
    throw refuse("require_counterparty", "every key must carry a counterparty lock");
  }
}

export async function showKey(deps: IssuerDeps, issuer: Issuer, keyId: string): Promise<KeyStatusBody> {
  const state = await ownKey(deps, issuer, keyId);
  const now = deps.clock();
  const spent = spentOn(state, now);
  return {
    key_id: state.keyId,
    vendor: state.vendor,
    agent_run_label: state.label,
    status: state.revokedAt !== undefined ? "revoked" : state.expiresAt <= now ? "expired" : "active",
    daily_usd_cap: microToUsd(state.capMicro),
    ...(state.maxRequestMicro !== undefined ? { max_request_usd: microToUsd(state.maxRequestMicro) } : {}),
    spent_today_usd: microToUsd(spent),
    remaining_today_usd: microToUsd(Math.max(0, state.capMicro - spent)),
    unsettled_usd: microToUsd(state.unsettledMicro),
    allowed_endpoints: state.allowedEndpoints,
    expires_at: new Date(state.expiresAt).toISOString(),
    ...(state.revokedAt !== undefined ? { revoked_at: new Date(state.revokedAt).toISOString() } : {}),
    ...(state.counterparty !== undefined ? { counterparty: counterpartyBody(state.counterparty) } : {}),
  };
}

export async function revokeOne(deps: IssuerDeps, issuer: Issuer, keyId: string): Promise<RevokedKeyBody> {
  const now = deps.clock();
  const revoked = isKeyId(keyId) ? await revokeKey(deps.db, deps.table, keyId, issuer.name, now) : undefined;
  if (!revoked) throw new NotFoundError(`no key ${keyId}`);
  deps.audit.write({ event: "key_revoked", ...keyContext(revoked, now), revoked_by: "key_id" });
  return { key_id: keyId, status: "revoked" };
}

export async function revokeLabel(deps: IssuerDeps, issuer: Issuer, body: unknown): Promise<RevokedLabelBody> {
  const prefix = validateRevokeRequest(body);
  const now = deps.clock();
  // Each key's record is written as soon as its revoke is known to have applied, so a request that fails half
  // way (503) still leaves a record for every key it did revoke.
  const revoked = await revokeByLabelPrefix(deps.db, deps.table, issuer.name, prefix, now, (key) =>
    deps.audit.write({
      event: "key_revoked",
      ...keyContext(key, now),
      revoked_by: "label_prefix",
      label_prefix: prefix,
    }),
  );
  return { revoked };
}

async function ownKey(deps: IssuerDeps, issuer: Issuer, keyId: string): Promise<KeyState> {
  const state = isKeyId(keyId) ? await getKey(deps.db, deps.table, keyId) : undefined;
  if (!state || state.issuer !== issuer.name) throw new NotFoundError(`no key ${keyId}`);
  return state;
}
