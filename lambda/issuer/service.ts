import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { keyContext } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import type { Clock } from "../core/clock";
import { type CounterpartyBody, counterpartyBody } from "../core/counterparty";
import { patternWithin } from "../core/endpoints";
import { AuthenticationError, ForbiddenError, InvalidRequestError, NotFoundError } from "../core/errors";
import type { Log } from "../core/log";
import { microToUsd } from "../core/money";
import { digestsEqual, generateVaultKey, isKeyId, sha256Hex } from "../core/vault-key";
import type { Vendor } from "../core/vendors";
import { type KeyState, spentOn } from "../ledger/key-record";
import { getKey, putKey, revokeByLabelPrefix, revokeKey } from "../ledger/keys";
import type { Issuer } from "./ceilings";
import { isLabelText, type KeyRequest, LIMITS, validateKeyRequest } from "./validate";

// The issuer's operations behind the `/vault/*` routes, and the bodies they answer with (the CLI and the tests
// read the same types). Every operation acts only on the caller's own keys.
export interface IssuerDeps {
  db: DynamoDBClient;
  table: string;
  issuers: Issuer[];
  /** Vendors this deployment holds secrets for; a key for any other could never be used. */
  enabledVendors: ReadonlySet<Vendor>;
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
  /** Present when the request set one: whom the key's priced calls may act on. */
  counterparty?: CounterpartyBody;
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
  if (!deps.enabledVendors.has(request.vendor)) {
    throw new InvalidRequestError(`this keybrake has no ${request.vendor} secret configured`, "vendor");
  }
  enforceCeilings(issuer, request);
  const now = deps.clock();
  const { keyId, vaultKey, hash } = generateVaultKey();
  const record = {
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
    counterparty: request.counterparty,
  };
  await putKey(deps.db, deps.table, record);
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
    ...counterparty,
  };
}

/** Refuses (403, naming the ceiling) a request above what this issuer was declared to grant. */
function enforceCeilings(issuer: Issuer, request: KeyRequest): void {
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
  const prefix = (body as { agent_run_label_prefix?: unknown } | null)?.agent_run_label_prefix;
  if (!isLabelText(prefix)) {
    throw new InvalidRequestError(
      `agent_run_label_prefix must be 1 to ${LIMITS.maxLabelLength} characters with no control characters`,
      "agent_run_label_prefix",
    );
  }
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
