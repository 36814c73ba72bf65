// User budgets' lifecycle in the ledger, for the issuer (docs/guarantees.md#9-caps-stack): create one (its meta
// item and every part in one transaction), read it (meta and parts), revoke it (the meta item and every part, so the
// reservation's condition on the part it charges refuses it), and issue a key drawing from it (the key's item and
// the budget's key count in one transaction, conditioned on the budget being live and of the same issuer).
import { type AttributeValue, type DynamoDBClient, GetItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { InvalidRequestError, LedgerUnavailableError } from "../core/errors";
import {
  type BudgetRecord,
  type BudgetState,
  budgetPk,
  type Level,
  marshalBudget,
  marshalBudgetPart,
  type PartState,
  partPk,
  unmarshalBudget,
} from "./budget-record";
import { conditionalWrite, ledgerCall, updateIf } from "./dynamo";
import { type KeyRecord, marshalKey } from "./key-record";
import { revokeOfIssuer } from "./keys";
import { readLevel } from "./stacked";
import { backoff, isBusy, retryingConflicts, transactWrite } from "./transact";

export async function putBudget(db: DynamoDBClient, table: string, budget: BudgetRecord): Promise<void> {
  const result = await transactWrite(db, [
    { Put: { TableName: table, Item: marshalBudget(budget), ConditionExpression: "attribute_not_exists(pk)" } },
    ...Array.from({ length: budget.parts }, (_, n) => ({
      Put: { TableName: table, Item: marshalBudgetPart(budget, n), ConditionExpression: "attribute_not_exists(pk)" },
    })),
  ]);
  // 64 random bits of budget id: a collision is astronomically unlikely, but never overwrite a live budget.
  if (!result.applied)
    throw new LedgerUnavailableError({ cause: new Error(`budget id collision on ${budget.budgetId}`) });
}

/**
 * A budget's meta item. Strongly consistent by default; issuing a key reads it eventually consistent (half the
 * read cost on an item thousands of issuances read at once): it needs only its immutable fields there, and the
 * key's transaction checks revocation and expiry on a part.
 */
export async function getBudget(
  db: DynamoDBClient,
  table: string,
  budgetId: string,
  consistent = true,
): Promise<BudgetState | undefined> {
  const out = await ledgerCall(() =>
    db.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: budgetPk(budgetId) } }, ConsistentRead: consistent }),
    ),
  );
  return out.Item ? unmarshalBudget(out.Item) : undefined;
}

export function budgetLevel(budget: Pick<BudgetRecord, "budgetId" | "capMicro" | "parts" | "mode">): Level {
  return {
    kind: "budget",
    id: budgetPk(budget.budgetId),
    capMicro: budget.capMicro,
    parts: budget.parts,
    mode: budget.mode,
    budgetId: budget.budgetId,
  };
}

/** The budget's parts as they stand (one atomic read). */
export function budgetParts(
  db: DynamoDBClient,
  table: string,
  budget: Pick<BudgetRecord, "budgetId" | "capMicro" | "parts" | "mode">,
  now: number,
): Promise<PartState[]> {
  return readLevel(db, table, budgetLevel(budget), now);
}

/**
 * Revokes a budget of this issuer: the meta item first (so `GET` says revoked), then every part (what the
 * reservations check), each idempotently; it returns once all are marked. Undefined when the issuer has no such
 * budget.
 */
export async function revokeBudget(
  db: DynamoDBClient,
  table: string,
  budgetId: string,
  issuer: string,
  now: number,
): Promise<BudgetState | undefined> {
  const meta = await updateIf(db, table, budgetPk(budgetId), revokeOfIssuer(issuer, now));
  if (!meta.applied) return undefined;
  const budget = unmarshalBudget(meta.attributes!);
  const level = { id: budgetPk(budgetId) };
  await Promise.all(
    Array.from({ length: budget.parts }, (_, n) =>
      // A part some reservation's transaction is writing refuses a plain update for a moment: retried.
      retryingConflicts(
        () =>
          conditionalWrite(() =>
            db.send(
              new UpdateItemCommand({
                TableName: table,
                Key: { pk: { S: partPk(level, n) } },
                UpdateExpression: "SET revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression: "attribute_exists(pk)",
                ExpressionAttributeValues: { ":now": { N: String(budget.revokedAt ?? now) } },
              }),
            ),
          ),
        undefined,
        12,
      ),
    ),
  );
  return budget;
}

/**
 * Writes a new key drawing from a budget, and counts it on one of the budget's parts (picked at random: a batch
 * issuing thousands of keys at once spreads over the parts like its calls do, never on the meta item), in one
 * transaction conditioned on that part being unrevoked and unexpired: refused (400 naming `budget_id`) when the
 * budget was revoked or expired since it was read. The key id is the transaction's idempotency token, so an SDK
 * retry of an applied transaction succeeds instead of finding its own key.
 */
export async function putKeyInBudget(
  db: DynamoDBClient,
  table: string,
  record: KeyRecord & { budget: NonNullable<KeyRecord["budget"]> },
  now: number,
): Promise<void> {
  const values: Record<string, AttributeValue> = { ":one": { N: "1" }, ":now": { N: String(now) } };
  const part = partPk({ id: budgetPk(record.budget.id) }, Math.floor(Math.random() * record.budget.parts));
  for (let attempt = 0; ; attempt++) {
    const result = await transactWrite(
      db,
      [
        { Put: { TableName: table, Item: marshalKey(record), ConditionExpression: "attribute_not_exists(pk)" } },
        {
          Update: {
            TableName: table,
            Key: { pk: { S: part } },
            UpdateExpression: "ADD #keys :one",
            ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND expires_at > :now",
            ExpressionAttributeNames: { "#keys": "keys" },
            ExpressionAttributeValues: values,
          },
        },
      ],
      { token: `k${record.keyId}` },
    );
    if (result.applied) return;
    if (result.reasons[1]?.code === "ConditionalCheckFailed") {
      throw new InvalidRequestError(`budget ${record.budget.id} was revoked or has expired`, "budget_id");
    }
    if (!result.reasons.some(isBusy) || attempt >= 5) {
      throw new LedgerUnavailableError({ cause: new Error(result.reasons.map((r) => r.code).join(",")) });
    }
    await backoff(attempt);
  }
}
