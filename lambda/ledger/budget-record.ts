// Budgets and the other levels a key's spend stacks on (docs/guarantees.md#9-caps-stack), in the ledger:
//
// - A user budget (`POST /vault/budgets`) is a meta item `B#<id>` (vendor, issuer, label, cap, parts, mode,
//   expiry, revocation) and `parts` part items `B#<id>#<n>`, each holding that UTC day's spend of its share of the
//   cap (`s<YYYYMMDD>`, micro-USD), the unsettled spend (`u`) and a share of the key count (`keys`); revocation and
//   expiry are copied onto every part, because the reservation's conditions read only the part it charges.
// - An issuer's budget for a vendor (`I#<issuer>#<vendor>#<n>`) and the deployment's cap for a vendor
//   (`D#<vendor>#<n>`) are part items only: their cap comes from configuration (KEYBRAKE_SPEND_CAPS). They store
//   spend, not remaining, and carry the signature `v` (`<cap micro-USD>/<parts>`) of the configuration their layout
//   was made for, so a cap changed by `pulumi up` applies at once (a part under another signature is re-laid out,
//   in one transaction over every part, before anything is charged to it) and never resets the day's spend.
//
// A part's share is the cap divided by the parts, the remainder spread so the shares sum exactly to the cap; a
// reservation charges one part when its share has room, and several in one transaction when none has room alone
// but the level's total does (ledger/stacked.ts).
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { type CapMode, type CapSpec, MAX_PARTS, partShares, type SpendCaps } from "../core/caps";
import { utcDay } from "../core/clock";
import type { CapName } from "../core/errors";
import type { Vendor } from "../core/vendors";
import { type KeyRecord, RETENTION_AFTER_EXPIRY_MS } from "./key-record";

export type LevelKind = "budget" | "issuer" | "deployment";

/** One level a reservation draws from besides the key itself. */
export interface Level {
  kind: LevelKind;
  /** The level's id, the prefix of its parts' pks: `B#<budget id>`, `I#<issuer>#<vendor>`, `D#<vendor>`. */
  id: string;
  capMicro: number;
  parts: number;
  mode: CapMode;
  /** User budgets: the budget's id (its parts must exist, be unrevoked and unexpired). */
  budgetId?: string;
  /** Configured levels: the layout signature every part carries (`<cap>/<parts>`). */
  signature?: string;
}

export const budgetPk = (budgetId: string) => `B#${budgetId}`;
export const partPk = (level: Pick<Level, "id">, n: number) => `${level.id}#${n}`;
/** The spend attribute of a part for the UTC day of `ms`. */
export const spendAttr = (ms: number) => `s${utcDay(ms)}`;
/** The threshold flags of a cap for one UTC day (ledger/thresholds.ts). */
export const flagsPk = (capId: string, ms: number) => `T#${capId}#${utcDay(ms)}`;
/** Config level part items idle this long are deleted by TTL (their spend is days old by then). */
export const CONFIG_PART_TTL_MS = 8 * 86_400_000;

export function capNameOf(kind: LevelKind): CapName {
  return kind === "budget" ? "budget" : kind === "issuer" ? "issuer_daily_usd_budget" : "deployment_daily_usd_cap";
}

export function shares(level: Pick<Level, "capMicro" | "parts">): number[] {
  return partShares(level.capMicro, level.parts);
}

/** How many part items a snapshot of this level reads: configured levels may hold spend under an older layout. */
export function partsToRead(level: Level): number {
  return level.kind === "budget" ? level.parts : MAX_PARTS;
}

/** The budget id a part pk belongs to, when it is a user budget's part. */
export function budgetIdOfPart(pk: string): string | undefined {
  return /^B#([0-9a-f]{16})#\d+$/.exec(pk)?.[1];
}

const signatureOf = (spec: CapSpec) => `${spec.capMicro}/${spec.parts}`;

/**
 * Every level a key's reservation draws from, most specific first: its budget, its issuer's budget for its
 * vendor, the deployment's cap for its vendor. Empty: the key stands alone (one UpdateItem, as before budgets).
 */
export function levelsFor(key: Pick<KeyRecord, "budget" | "issuer" | "vendor">, caps: SpendCaps): Level[] {
  const levels: Level[] = [];
  if (key.budget) {
    levels.push({
      kind: "budget",
      id: budgetPk(key.budget.id),
      capMicro: key.budget.capMicro,
      parts: key.budget.parts,
      mode: key.budget.mode,
      budgetId: key.budget.id,
    });
  }
  const issuer = caps.issuers[key.issuer]?.[key.vendor];
  if (issuer) {
    levels.push({
      kind: "issuer",
      id: `I#${key.issuer}#${key.vendor}`,
      capMicro: issuer.capMicro,
      parts: issuer.parts,
      mode: issuer.mode,
      signature: signatureOf(issuer),
    });
  }
  const deployment = caps.deployment[key.vendor];
  if (deployment) {
    levels.push({
      kind: "deployment",
      id: `D#${key.vendor}`,
      capMicro: deployment.capMicro,
      parts: deployment.parts,
      mode: deployment.mode,
      signature: signatureOf(deployment),
    });
  }
  return levels;
}

/** The user budget as its meta item holds it. */
export interface BudgetRecord {
  budgetId: string;
  vendor: Vendor;
  issuer: string;
  label: string;
  capMicro: number;
  parts: number;
  mode: CapMode;
  createdAt: number;
  expiresAt: number;
}

export interface BudgetState extends BudgetRecord {
  revokedAt?: number;
}

export function marshalBudget(b: BudgetRecord): Record<string, AttributeValue> {
  return {
    pk: { S: budgetPk(b.budgetId) },
    vendor: { S: b.vendor },
    issuer: { S: b.issuer },
    label: { S: b.label },
    cap: { N: String(b.capMicro) },
    parts: { N: String(b.parts) },
    mode: { S: b.mode },
    created_at: { N: String(b.createdAt) },
    expires_at: { N: String(b.expiresAt) },
    ttl: { N: String(Math.ceil((b.expiresAt + RETENTION_AFTER_EXPIRY_MS) / 1000)) },
  };
}

/** A budget part as created: its expiry (for the reservation's condition) and TTL; spend comes with use. */
export function marshalBudgetPart(b: BudgetRecord, n: number): Record<string, AttributeValue> {
  return {
    pk: { S: partPk({ id: budgetPk(b.budgetId) }, n) },
    expires_at: { N: String(b.expiresAt) },
    ttl: { N: String(Math.ceil((b.expiresAt + RETENTION_AFTER_EXPIRY_MS) / 1000)) },
  };
}

export function unmarshalBudget(item: Record<string, AttributeValue>): BudgetState {
  return {
    budgetId: item.pk!.S!.slice(2),
    vendor: item.vendor!.S! as Vendor,
    issuer: item.issuer!.S!,
    label: item.label!.S!,
    capMicro: Number(item.cap!.N),
    parts: Number(item.parts!.N),
    mode: item.mode?.S === "shadow" ? "shadow" : "enforce",
    createdAt: Number(item.created_at!.N),
    expiresAt: Number(item.expires_at!.N),
    revokedAt: item.revoked_at?.N !== undefined ? Number(item.revoked_at.N) : undefined,
  };
}

/** One part as a read sees it. */
export interface PartState {
  n: number;
  exists: boolean;
  /** That day's spend (0 when the attribute is absent). */
  spent: number;
  hasSpend: boolean;
  signature?: string;
  revoked: boolean;
  expiresAt?: number;
  unsettled: number;
  /** Keys issued drawing from the budget, counted on the part their issuance picked. */
  keys: number;
}

export function unmarshalPart(n: number, item: Record<string, AttributeValue> | undefined, attr: string): PartState {
  const spend = item?.[attr]?.N;
  return {
    n,
    exists: item !== undefined && item.pk !== undefined,
    spent: spend === undefined ? 0 : Number(spend),
    hasSpend: spend !== undefined,
    signature: item?.v?.S,
    revoked: item?.revoked_at !== undefined,
    expiresAt: item?.expires_at?.N !== undefined ? Number(item.expires_at.N) : undefined,
    unsettled: Number(item?.u?.N ?? 0),
    keys: Number(item?.keys?.N ?? 0),
  };
}
