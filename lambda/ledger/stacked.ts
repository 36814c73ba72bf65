// The reservation of a key that draws from budgets (docs/guarantees.md#9-caps-stack): still one ledger round trip,
// now one TransactWriteItems holding the key's own update (exactly the write a key standing alone makes: hash,
// revocation, expiry, its cap, idempotency slot, marker, markers removed in passing) and one update per budget part
// it charges, each conditioned on fitting that part's share (and, for a user budget, on the budget being there,
// unrevoked and unexpired). Every level is decided in the same atomic transaction, at any concurrency and on any
// number of instances.
//
// Exact across parts: a level's cap is split into part shares that sum to it, so one part's fit keeps the level
// within its cap. When the part picked has no room (or a configured level's layout is stale), the level is read
// whole in one atomic, strongly consistent read (TransactGetItems): if its total remaining does not fit, the call is
// refused (429, naming the level); if it does, the amount is taken from several parts in one transaction, each
// conditioned on its own room. Contention (another transaction on the same part, throttling) retries on another
// part with jittered backoff. When the attempts or the reservation's time run out while the call might still fit,
// the answer is 503 `budget_contended`, never a false 429.
import type { AttributeValue, DynamoDBClient, TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { DAY_MS } from "../core/clock";
import { AuthenticationError, BudgetContendedError, CapExceededError, LedgerUnavailableError } from "../core/errors";
import { microToUsd } from "../core/money";
import {
  CONFIG_PART_TTL_MS,
  capNameOf,
  type Level,
  type PartState,
  partPk,
  partsToRead,
  shares,
  spendAttr,
  unmarshalPart,
} from "./budget-record";
import { unmarshalMarker } from "./key-record";
import {
  classifyRefusal,
  isOwnMarker,
  keyUpdate,
  keyWrite,
  type ReserveInput,
  type ReserveOutcome,
  reservationOf,
} from "./reservations";
import { backoff, type CancelReason, isBusy, transactGet, transactWrite } from "./transact";

export interface StackedInput extends ReserveInput {
  /** The levels this key draws from, most specific first (ledger/budget-record.ts `levelsFor`). */
  levels: Level[];
}

/** Transactions one reservation may send before it answers 503 (each conflict or refusal of a part re-plans). */
export const MAX_STACKED_ATTEMPTS = 10;

/** One part update of a plan. */
interface PartOp {
  n: number;
  /** What this reservation takes from the part. */
  take: number;
  /**
   * `fit`: the part's day spend plus `take` stays within its share; `none`: no cap condition (shadow mode);
   * `exact`: a configured level re-laid out (`set` is the part's new day spend, take included), conditioned on the
   * part being exactly as the snapshot saw it.
   */
  check: "fit" | "none" | "exact";
  set?: number;
  seen?: PartState;
}

interface Plan {
  level: Level;
  ops: PartOp[];
}

export async function reserveStacked(
  db: DynamoDBClient,
  table: string,
  input: StackedInput,
  signal?: AbortSignal,
): Promise<ReserveOutcome> {
  const { levels, amountMicro: amount, now } = input;
  const plans: Array<Plan | undefined> = levels.map(() => undefined);
  const mustRead = levels.map(() => false);
  const avoid = levels.map(() => new Set<number>());
  let busyLevel: Level | undefined;
  for (let attempt = 0; attempt < MAX_STACKED_ATTEMPTS && !signal?.aborted; attempt++) {
    for (const [i, level] of levels.entries()) {
      if (plans[i]) continue;
      plans[i] = mustRead[i] ? undefined : quickPlan(level, amount, avoid[i]!);
      // No single part's share can hold the amount, or the part picked had no room: read the whole level.
      plans[i] ??= await snapshotPlan(db, table, level, amount, now, signal);
      mustRead[i] = false;
    }
    const ready = plans as Plan[];
    const charges: Record<string, number> = {};
    for (const plan of ready) for (const op of plan.ops) if (op.take > 0) charges[partPk(plan.level, op.n)] = op.take;
    const write = keyWrite(input, charges);
    const parts = ready.flatMap((plan) => plan.ops.map((op) => ({ plan, op })));
    const items: TransactWriteItem[] = [
      { Update: keyUpdate(table, input.key.keyId, write) },
      ...parts.map(({ plan, op }) => partUpdate(table, plan.level, op, now)),
    ];
    const result = await transactWrite(db, items, { token: `${input.rid}.${attempt}`, signal });
    if (result.applied) {
      // Past 10 minutes DynamoDB forgets the token, and a copy still on its way would be a new transaction.
      const resent = (result.attempts ?? 1) > 1 ? { resent: true } : {};
      return { kind: "reserved", reservation: { ...reservationOf(input), charges, ...resent } };
    }

    const keyReason = result.reasons[0];
    if (keyReason?.code === "ConditionalCheckFailed") {
      // Our own marker: an earlier attempt of this very transaction was applied (an SDK retry after a timeout).
      if (isOwnMarker(keyReason.item, input)) {
        const own = unmarshalMarker(keyReason.item?.p?.M?.[input.rid]);
        return {
          kind: "reserved",
          reservation: { ...reservationOf(input), charges: own?.charges ?? {}, resent: true },
        };
      }
      return classifyRefusal(keyReason.item, input, write.slot);
    }
    // Anything but "fine", "no" or "busy" (a validation error, a size limit) is not ours to retry: fail closed.
    const odd = result.reasons.find((r) => r.code !== "None" && r.code !== "ConditionalCheckFailed" && !isBusy(r));
    if (odd) throw new LedgerUnavailableError({ cause: new Error(`transaction cancelled: ${odd.code}`) });
    let busy = isBusy(keyReason);
    for (const [j, { plan, op }] of parts.entries()) {
      const reason: CancelReason | undefined = result.reasons[j + 1];
      const i = levels.indexOf(plan.level);
      if (reason?.code === "ConditionalCheckFailed") {
        refuseIfBudgetGone(plan.level, reason.item, now);
        // No room left in that part, another call took what the snapshot saw, or the layout is stale: re-read.
        if (plan.level.parts === 1 && plan.level.kind === "budget") {
          refuseIfOver(plan.level, unmarshalPart(0, reason.item, spendAttr(now)).spent, amount);
        }
        plans[i] = undefined;
        mustRead[i] = true;
      } else if (isBusy(reason)) {
        avoid[i]!.add(op.n);
        plans[i] = undefined;
        busy = true;
        busyLevel = plan.level;
      }
    }
    // A transaction refused for a reason outside every plan (the key item busy, say): plan each level afresh.
    if (!plans.includes(undefined)) plans.fill(undefined);
    if (busy) await backoff(attempt, signal);
  }
  throw new BudgetContendedError(capNameOf((busyLevel ?? levels[0]!).kind));
}

/** One part, picked at random among those whose share can hold the amount, avoiding parts found busy. */
function quickPlan(level: Level, amount: number, avoid: Set<number>): Plan | undefined {
  const all = shares(level).map((share, n) => ({ share, n }));
  const fitting = level.mode === "shadow" ? all : all.filter((p) => p.share >= amount);
  if (fitting.length === 0) return undefined;
  const fresh = fitting.filter((p) => !avoid.has(p.n));
  const pool = fresh.length > 0 ? fresh : fitting;
  const { n } = pool[Math.floor(Math.random() * pool.length)]!;
  return { level, ops: [{ n, take: amount, check: level.mode === "shadow" ? "none" : "fit" }] };
}

/** What a snapshot reads of each part. */
const PROJECTION = (attr: string) => ({
  expression: "pk, #s, v, revoked_at, expires_at, u, #keys",
  names: { "#s": attr, "#keys": "keys" },
});

/** Every part of a level, read atomically and strongly consistent. */
export async function readLevel(
  db: DynamoDBClient,
  table: string,
  level: Level,
  now: number,
  signal?: AbortSignal,
): Promise<PartState[]> {
  const attr = spendAttr(now);
  const count = partsToRead(level);
  const items = await transactGet(
    db,
    table,
    Array.from({ length: count }, (_, n) => partPk(level, n)),
    PROJECTION(attr),
    signal,
  );
  return Array.from({ length: count }, (_, n) => unmarshalPart(n, items[n], attr));
}

/**
 * Reads the whole level and plans the reservation from what it holds: refused when its total remaining does not
 * fit; otherwise taken from the parts with the most room (one or several); a configured level whose layout is
 * stale (another cap or parts count, or never laid out) is re-laid out in the same transaction.
 */
async function snapshotPlan(
  db: DynamoDBClient,
  table: string,
  level: Level,
  amount: number,
  now: number,
  signal?: AbortSignal,
): Promise<Plan> {
  const parts = await readLevel(db, table, level, now, signal);
  if (level.kind === "budget") {
    for (const part of parts) {
      if (!part.exists || part.revoked) throw revokedBudget();
      if (part.expiresAt !== undefined && part.expiresAt <= now) throw expiredBudget();
    }
  }
  const total = parts.reduce((sum, p) => sum + p.spent, 0);
  if (level.mode === "shadow") {
    // Never refuses: the whole amount on one part (spend is all a shadow level keeps).
    return { level, ops: [{ n: Math.floor(Math.random() * level.parts), take: amount, check: "none" }] };
  }
  refuseIfOver(level, total, amount);
  const share = shares(level);
  const stale =
    level.signature !== undefined &&
    parts.some((p) => (p.n < level.parts ? p.signature !== level.signature : p.hasSpend && p.spent !== 0));
  if (stale) return relayout(level, parts, share, total, amount);
  const room = parts
    .filter((p) => p.n < level.parts)
    .map((p) => ({ n: p.n, room: share[p.n]! - p.spent }))
    .filter((p) => p.room > 0)
    .sort((a, b) => b.room - a.room);
  const ops: PartOp[] = [];
  let left = amount;
  for (const p of room) {
    if (left === 0) break;
    const take = Math.min(left, p.room);
    ops.push({ n: p.n, take, check: "fit" });
    left -= take;
  }
  // Cannot happen while every part stays within its share (the total fits); an overage beyond a share can make
  // the sum of rooms differ from the total's: read again rather than guess.
  if (left > 0) throw new BudgetContendedError(capNameOf(level.kind));
  return { level, ops };
}

/**
 * A configured level under another layout (its cap or parts count changed, or it was never laid out): its day's
 * spend so far is spread over the current parts in proportion to their shares (so every part keeps room in the
 * same proportion), parts past the current count are emptied into them, and the amount is taken, all in one
 * transaction conditioned on every part being exactly as read. Nothing is reset: the level's total stays what
 * it was, plus the amount.
 */
function relayout(level: Level, parts: PartState[], share: number[], total: number, amount: number): Plan {
  const room = level.capMicro - total;
  const rooms = share.map((s) => Math.floor((room * s) / level.capMicro));
  let spread = room - rooms.reduce((a, b) => a + b, 0);
  for (let n = 0; spread > 0; n = (n + 1) % level.parts, spread--) rooms[n]! += 1;
  const ops: PartOp[] = [];
  let left = amount;
  const order = rooms.map((r, n) => ({ r, n })).sort((a, b) => b.r - a.r);
  const takes = new Map<number, number>();
  for (const { r, n } of order) {
    if (left === 0) break;
    const take = Math.min(left, r);
    if (take > 0) takes.set(n, take);
    left -= take;
  }
  for (const part of parts) {
    if (part.n < level.parts) {
      const take = takes.get(part.n) ?? 0;
      ops.push({ n: part.n, take, check: "exact", set: share[part.n]! - rooms[part.n]! + take, seen: part });
    } else if (part.hasSpend && part.spent !== 0) {
      ops.push({ n: part.n, take: 0, check: "exact", set: 0, seen: part });
    }
  }
  return { level, ops };
}

/** One part's update inside the reservation's transaction. */
function partUpdate(table: string, level: Level, op: PartOp, now: number): TransactWriteItem {
  const names: Record<string, string> = { "#s": spendAttr(now), "#stale": spendAttr(now - 2 * DAY_MS) };
  const values: Record<string, AttributeValue> = {};
  const sets: string[] = [];
  const conditions: string[] = [];
  const configured = level.kind !== "budget";
  if (op.check === "exact") {
    values[":set"] = { N: String(op.set) };
    sets.push("#s = :set");
    const seen = op.seen!;
    if (op.n < level.parts) {
      values[":sig"] = { S: level.signature! };
      sets.push("v = :sig");
    }
    if (seen.signature === undefined) conditions.push("attribute_not_exists(v)");
    else {
      values[":v0"] = { S: seen.signature };
      conditions.push("v = :v0");
    }
    if (!seen.hasSpend) conditions.push("attribute_not_exists(#s)");
    else {
      values[":s0"] = { N: String(seen.spent) };
      conditions.push("#s = :s0");
    }
  } else {
    values[":zero"] = { N: "0" };
    values[":take"] = { N: String(op.take) };
    sets.push("#s = if_not_exists(#s, :zero) + :take");
    if (op.check === "fit") {
      const share = shares(level)[op.n]!;
      values[":limit"] = { N: String(share - op.take) };
      conditions.push(op.take <= share ? "(attribute_not_exists(#s) OR #s <= :limit)" : "#s <= :limit");
      if (configured) {
        values[":sig"] = { S: level.signature! };
        conditions.push("v = :sig");
      }
    }
  }
  if (level.kind === "budget") {
    // The budget must still be there, unrevoked and unexpired, whatever its mode.
    values[":now"] = { N: String(now) };
    conditions.unshift("attribute_exists(pk) AND attribute_not_exists(revoked_at) AND expires_at > :now");
  } else {
    // TTL is a reserved word in expressions.
    names["#ttl"] = "ttl";
    values[":ttl"] = { N: String(Math.ceil((now + CONFIG_PART_TTL_MS) / 1000)) };
    sets.push("#ttl = :ttl");
  }
  return {
    Update: {
      TableName: table,
      Key: { pk: { S: partPk(level, op.n) } },
      UpdateExpression: `SET ${sets.join(", ")} REMOVE #stale`,
      ConditionExpression: conditions.length > 0 ? conditions.join(" AND ") : undefined,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    },
  };
}

const revokedBudget = () =>
  new AuthenticationError("revoked_budget", "the budget this vault key draws from was revoked");
const expiredBudget = () =>
  new AuthenticationError("expired_budget", "the budget this vault key draws from has expired");

/** A user budget's part refused the write because the budget is gone, revoked or expired: 401, whatever its mode. */
function refuseIfBudgetGone(level: Level, item: Record<string, AttributeValue> | undefined, now: number): void {
  if (level.kind !== "budget") return;
  if (!item?.pk || item.revoked_at !== undefined) throw revokedBudget();
  if (item.expires_at?.N !== undefined && Number(item.expires_at.N) <= now) throw expiredBudget();
}

/** 429 naming the level when its total spend leaves less than the amount. */
function refuseIfOver(level: Level, spent: number, amount: number): void {
  if (level.mode === "shadow" || spent + amount <= level.capMicro) return;
  const name = capNameOf(level.kind);
  const what =
    level.kind === "budget"
      ? "the budget's daily cap"
      : level.kind === "issuer"
        ? "the issuer's daily budget"
        : "the deployment's daily cap";
  throw new CapExceededError(
    "cap_exceeded",
    `this call costs ${microToUsd(amount)} USD and would cross ${what} of ${microToUsd(level.capMicro)} USD (${microToUsd(Math.max(0, spent))} USD spent today)`,
    {
      cap: name,
      cap_usd: microToUsd(level.capMicro),
      spent_usd: microToUsd(Math.max(0, spent)),
      requested_usd: microToUsd(amount),
      ...(level.budgetId ? { budget_id: level.budgetId } : {}),
    },
  );
}
