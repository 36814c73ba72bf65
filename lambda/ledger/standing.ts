// Where a key and its levels stand after a reservation, for what the proxy says and signals but never decides on:
// the key's remaining for the day (the `Keybrake-Remaining-Usd` header), each level's spend (80 % / 100 % warnings,
// shadow mode's would-refuse). A budget reservation's transaction returns no values, so this is one strongly
// consistent BatchGetItem made while the vendor call is in flight, never before forwarding. Also the thresholds'
// once-a-day flags.
import {
  type AttributeValue,
  BatchGetItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { DAY_MS } from "../core/clock";
import { flagsPk, type Level, partPk, spendAttr } from "./budget-record";
import { conditionalWrite, ledgerCall } from "./dynamo";
import { keyPk, windowAttr } from "./key-record";

export interface Standing {
  /** The key's remaining for the day (its cap when it has not spent that day). */
  keyRemainingMicro: number;
  /** Each level's spend that day, in the order given (the parts of its current layout). */
  levelSpentMicro: number[];
}

type Item = Record<string, AttributeValue>;

export async function readStanding(
  db: DynamoDBClient,
  table: string,
  key: { keyId: string; capMicro: number },
  levels: Level[],
  now: number,
  signal?: AbortSignal,
): Promise<Standing> {
  const window = windowAttr(now);
  const attr = spendAttr(now);
  const keys = [
    keyPk(key.keyId),
    ...levels.flatMap((level) => Array.from({ length: level.parts }, (_, n) => partPk(level, n))),
  ];
  const found = new Map<string, Item>();
  let pending: Array<Record<string, AttributeValue>> = keys.map((pk) => ({ pk: { S: pk } }));
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= 4) throw new Error("the ledger left keys unprocessed");
    const out = await ledgerCall(() =>
      db.send(
        new BatchGetItemCommand({
          RequestItems: {
            [table]: {
              Keys: pending,
              ConsistentRead: true,
              ProjectionExpression: "pk, #w, #s",
              ExpressionAttributeNames: { "#w": window, "#s": attr },
            },
          },
        }),
        { abortSignal: signal },
      ),
    );
    for (const item of out.Responses?.[table] ?? []) found.set(item.pk!.S!, item);
    pending = (out.UnprocessedKeys?.[table]?.Keys ?? []) as typeof pending;
  }
  const keyItem = found.get(keyPk(key.keyId));
  const remaining = keyItem?.[window]?.N;
  return {
    keyRemainingMicro: remaining === undefined ? key.capMicro : Number(remaining),
    levelSpentMicro: levels.map((level) =>
      Array.from({ length: level.parts }, (_, n) => Number(found.get(partPk(level, n))?.[attr]?.N ?? 0)).reduce(
        (a, b) => a + b,
        0,
      ),
    ),
  };
}

/** The key's remaining for the day alone (an idempotent retry, which wrote nothing that returns it). */
export async function readKeyRemaining(
  db: DynamoDBClient,
  table: string,
  key: { keyId: string; capMicro: number },
  now: number,
  signal?: AbortSignal,
): Promise<number> {
  const window = windowAttr(now);
  const out = await ledgerCall(() =>
    db.send(
      new GetItemCommand({
        TableName: table,
        Key: { pk: { S: keyPk(key.keyId) } },
        ConsistentRead: true,
        ProjectionExpression: "#w",
        ExpressionAttributeNames: { "#w": window },
      }),
      { abortSignal: signal },
    ),
  );
  const remaining = out.Item?.[window]?.N;
  return remaining === undefined ? key.capMicro : Number(remaining);
}

/**
 * Marks that a cap (`capId`: `K#<key>`, `B#<budget>`, `I#<issuer>#<vendor>`, `D#<vendor>`) crossed `pct` % on the
 * UTC day of `now`, once: true for the one caller whose write set the flag. A rare extra write, never on the
 * response path; the flags' item expires two days after its day.
 */
export async function markThreshold(
  db: DynamoDBClient,
  table: string,
  capId: string,
  pct: number,
  now: number,
): Promise<boolean> {
  const result = await conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: flagsPk(capId, now) } },
        UpdateExpression: "SET #t = :now, #ttl = :ttl",
        ConditionExpression: "attribute_not_exists(#t)",
        ExpressionAttributeNames: { "#t": `t${pct}`, "#ttl": "ttl" },
        ExpressionAttributeValues: {
          ":now": { N: String(now) },
          ":ttl": { N: String(Math.ceil((now + 2 * DAY_MS) / 1000)) },
        },
      }),
    ),
  );
  return result.applied;
}
