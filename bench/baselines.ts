// DynamoDB's own round trips on the same DynamoDB Local, measured in the same run: the floor every figure
// is divided by.
import { type DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";

/** Mirrors the reservation: one item, a condition on its counter. */
export function rawConditionalWrite(db: DynamoDBClient, table: string, pk: string) {
  return () =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: pk } },
        UpdateExpression: "SET n = if_not_exists(n, :zero) + :one",
        ConditionExpression: "attribute_not_exists(n) OR n < :max",
        ExpressionAttributeValues: { ":zero": { N: "0" }, ":one": { N: "1" }, ":max": { N: "1000000000" } },
      }),
    );
}

export function rawPut(db: DynamoDBClient, table: string) {
  const prefix = `put-${process.pid}-${Math.random().toString(36).slice(2)}`;
  let i = 0;
  return () =>
    db.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: `${prefix}-${i++}` }, v: { S: "x".repeat(300) } },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
}
