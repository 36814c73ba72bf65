// Key lifecycle writes used by the issuer: create, read, revoke one, revoke a label prefix.
import { randomBytes } from "node:crypto";
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from "@aws-sdk/client-dynamodb";
import { type ConditionalUpdate, conditionalWrite, ledgerCall, pages, updateIf } from "./dynamo";
import { type KeyRecord, type KeyState, keyPk, labelIndexPk, marshalKey, unmarshalKey } from "./key-record";
import { LEDGER_SCHEMA } from "./schema";

export async function putKey(db: DynamoDBClient, table: string, record: KeyRecord): Promise<void> {
  const result = await conditionalWrite(() =>
    db.send(
      new PutItemCommand({
        TableName: table,
        Item: marshalKey(record),
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    ),
  );
  // 64 random bits of key id: a collision is astronomically unlikely, but never overwrite a live key.
  if (!result.applied) throw new Error(`key id collision on ${record.keyId}`);
}

/** Strongly consistent read of a key and its live state. */
export async function getKey(db: DynamoDBClient, table: string, keyId: string): Promise<KeyState | undefined> {
  const out = await ledgerCall(() =>
    db.send(new GetItemCommand({ TableName: table, Key: { pk: { S: keyPk(keyId) } }, ConsistentRead: true })),
  );
  return out.Item ? unmarshalKey(out.Item) : undefined;
}

/**
 * Revokes one key of this issuer and returns it as revoked (for the audit record), or undefined when the
 * issuer has no such key. Revoking twice is fine.
 */
export async function revokeKey(
  db: DynamoDBClient,
  table: string,
  keyId: string,
  issuer: string,
  now: number,
): Promise<KeyState | undefined> {
  return updateKeyIf(db, table, keyId, revokeOfIssuer(issuer, now));
}

/**
 * Revokes an item (a key, a budget's meta item) only if it exists and is this issuer's; revoking twice keeps the
 * first revocation's time.
 */
export function revokeOfIssuer(issuer: string, now: number): ConditionalUpdate {
  return {
    update: "SET revoked_at = if_not_exists(revoked_at, :now)",
    condition: "attribute_exists(pk) AND issuer = :issuer",
    values: { ":now": { N: String(now) }, ":issuer": { S: issuer } },
  };
}

/**
 * One conditional update of a key's item, answering the key as it stands after it, or undefined when the
 * condition refused it (the key events' audit records are built from that answer).
 */
export async function updateKeyIf(
  db: DynamoDBClient,
  table: string,
  keyId: string,
  write: ConditionalUpdate,
): Promise<KeyState | undefined> {
  const result = await updateIf(db, table, keyPk(keyId), write);
  return result.applied ? unmarshalKey(result.attributes!) : undefined;
}

/**
 * Revokes every live key of this issuer whose run label starts with `prefix`, handing each key it revoked to
 * `revoked` as soon as its write is known to have applied (keys already revoked or expired are not counted
 * again). Each revoke carries this request's `op` id, so a write retried after an unknown outcome recognises
 * its own earlier success (ALL_OLD) and the key still gets its record. Keys whose write failed are tried once
 * more; if any still failed, it throws after every key that was revoked has been handed over.
 */
export async function revokeByLabelPrefix(
  db: DynamoDBClient,
  table: string,
  issuer: string,
  prefix: string,
  now: number,
  revoked: (key: KeyState) => void,
): Promise<number> {
  const op = randomBytes(8).toString("hex");
  let count = 0;
  let failure: unknown;
  const byLabel = (cursor: Record<string, AttributeValue> | undefined) =>
    db.send(
      new QueryCommand({
        TableName: table,
        IndexName: LEDGER_SCHEMA.labelIndex.name,
        KeyConditionExpression: "gsi1pk = :issuer AND begins_with(gsi1sk, :prefix)",
        ExpressionAttributeValues: { ":issuer": { S: labelIndexPk(issuer) }, ":prefix": { S: prefix } },
        ExclusiveStartKey: cursor,
      }),
    );
  const revokeOne = async (keyId: string) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const state = await revokeLive(db, table, keyId, now, op);
        if (state) {
          count++;
          revoked(state);
        }
        return;
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  };
  for await (const items of pages(byLabel)) {
    const results = await Promise.allSettled(items.map((item) => revokeOne(item.pk!.S!.slice(2))));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
  return count;
}

async function revokeLive(
  db: DynamoDBClient,
  table: string,
  keyId: string,
  now: number,
  op: string,
): Promise<KeyState | undefined> {
  const result = await updateIf(
    db,
    table,
    keyPk(keyId),
    {
      update: "SET revoked_at = :now, revoke_op = :op",
      condition: "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND expires_at > :now",
      values: { ":now": { N: String(now) }, ":op": { S: op } },
    },
    true,
  );
  if (result.applied) return unmarshalKey(result.attributes!);
  // Revoked already: by this very request (an earlier attempt applied), or by someone else (not counted again).
  return result.item?.revoke_op?.S === op ? unmarshalKey(result.item) : undefined;
}
