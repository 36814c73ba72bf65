// The immutable half of a key (vendor, allowlist, cap, expiry) cached per instance, so the hot path's
// only ledger call is the reservation write. Revocation and spend are never cached: the write checks
// them, and a call priced from a vendor object, whose pricing read comes before that write, checks
// revocation first (`confirmLive`). Bounded: least recently used entries go first, expired keys are dropped on sight.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type EndpointPattern, parseEndpointPattern } from "../core/endpoints";
import { AuthenticationError } from "../core/errors";
import { digestsEqual, sha256Hex, vaultKeyId } from "../core/vault-key";
import { getBudget } from "../ledger/budgets";
import type { KeyRecord } from "../ledger/key-record";
import { getKey } from "../ledger/keys";

export interface ResolvedKey {
  record: KeyRecord;
  hash: string;
  /** The allowlist, parsed once per instance rather than per call. */
  allowlist: EndpointPattern[];
}

/** A genuine key (its hash matched) refused for its state: the audit record can still say whose it is. */
export class RefusedKeyError extends AuthenticationError {
  override name = "RefusedKeyError";
  constructor(
    code: "revoked_key" | "expired_key",
    message: string,
    readonly key: KeyRecord,
  ) {
    super(code, message);
  }
}

export class KeyCache {
  private readonly entries = new Map<string, Promise<ResolvedKey>>();

  constructor(
    private readonly db: DynamoDBClient,
    private readonly table: string,
    readonly maxEntries = 10_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Resolves a presented vault key; throws 401 for anything that is not a live key of this ledger. */
  async resolve(vaultKey: string, now: number): Promise<ResolvedKey> {
    const cached = this.entries.get(vaultKey);
    if (cached) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.entries.delete(vaultKey);
      this.entries.set(vaultKey, cached);
      const resolved = await cached;
      if (resolved.record.expiresAt > now) return resolved;
      this.entries.delete(vaultKey);
      throw new RefusedKeyError("expired_key", "this vault key has expired", resolved.record);
    }
    const loading = this.load(vaultKey, now);
    this.entries.set(vaultKey, loading);
    loading.catch(() => this.entries.delete(vaultKey));
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return loading;
  }

  /**
   * What the cache does not hold, read afresh (strongly consistent): whether the key, or the budget it draws from,
   * was revoked since it was cached. A call priced from a vendor object reads that object with the real secret
   * before its reservation write could refuse it, so it asks this first: once a revoke has answered, nothing of
   * the key's reaches the vendor (docs/guarantees.md#3-revocation-is-immediate). Throws 401 as the write would.
   */
  async confirmLive(key: ResolvedKey): Promise<void> {
    const budgetId = key.record.budget?.id;
    const [state, budget] = await Promise.all([
      getKey(this.db, this.table, key.record.keyId),
      budgetId === undefined ? undefined : getBudget(this.db, this.table, budgetId),
    ]);
    if (!state || state.revokedAt !== undefined) {
      throw new RefusedKeyError("revoked_key", "this vault key has been revoked", key.record);
    }
    if (budgetId !== undefined && (!budget || budget.revokedAt !== undefined)) {
      throw new AuthenticationError("revoked_budget", "the budget this vault key draws from was revoked");
    }
  }

  private async load(vaultKey: string, now: number): Promise<ResolvedKey> {
    const keyId = vaultKeyId(vaultKey);
    if (!keyId) throw new AuthenticationError("unknown_key", "unknown vault key");
    const hash = sha256Hex(vaultKey);
    const state = await getKey(this.db, this.table, keyId);
    if (!state || !digestsEqual(state.keyHash, hash)) throw new AuthenticationError("unknown_key", "unknown vault key");
    const { revokedAt, remainingByDay: _w, idempotencySlots: _i, markers: _m, unsettledMicro: _u, ...record } = state;
    // A fresh read may refuse at once; these states are then re-checked by every reservation write.
    if (revokedAt !== undefined) throw new RefusedKeyError("revoked_key", "this vault key has been revoked", record);
    if (state.expiresAt <= now) throw new RefusedKeyError("expired_key", "this vault key has expired", record);
    const allowlist = record.allowedEndpoints
      .map(parseEndpointPattern)
      .filter((p): p is EndpointPattern => p !== undefined);
    return { record, hash, allowlist };
  }
}

/** The vault key from where each vendor's SDK puts its secret: Bearer, or either half of HTTP Basic. */
export function presentedVaultKey(authorization: string | null): string | undefined {
  if (!authorization) return undefined;
  const [scheme, value = ""] = authorization.trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() === "bearer") return value || undefined;
  if (scheme?.toLowerCase() !== "basic") return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  const password = colon === -1 ? "" : decoded.slice(colon + 1);
  if (user.startsWith("vk_")) return user; // Stripe: curl -u vk_...:
  if (password.startsWith("vk_")) return password; // Twilio: AccountSid:vk_...
  return undefined;
}
