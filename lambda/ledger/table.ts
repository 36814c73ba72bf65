// The ledger table as local mode and the tests create it, in the shape lambda/ledger/schema.ts defines (the
// Pulumi component declares the same shape). Creating it twice at once is fine: the loser finds it made.
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { LEDGER_KEY_ATTRIBUTES, LEDGER_SCHEMA } from "./schema";

export async function ensureLedgerTable(db: DynamoDBClient, table: string): Promise<void> {
  try {
    await db.send(new DescribeTableCommand({ TableName: table }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  const index = LEDGER_SCHEMA.labelIndex;
  try {
    await db.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: LEDGER_KEY_ATTRIBUTES.map((name) => ({ AttributeName: name, AttributeType: "S" })),
        KeySchema: [{ AttributeName: LEDGER_SCHEMA.hashKey, KeyType: "HASH" }],
        GlobalSecondaryIndexes: [
          {
            IndexName: index.name,
            KeySchema: [
              { AttributeName: index.hashKey, KeyType: "HASH" },
              { AttributeName: index.rangeKey, KeyType: "RANGE" },
            ],
            Projection: { ProjectionType: "KEYS_ONLY" },
          },
        ],
      }),
    );
  } catch (error) {
    // Another process (a second `npm start`) created it between our describe and create: it is made.
    if (error instanceof ResourceInUseException) return;
    throw error;
  }
  await db.send(
    new UpdateTimeToLiveCommand({
      TableName: table,
      TimeToLiveSpecification: { AttributeName: LEDGER_SCHEMA.ttlAttribute, Enabled: true },
    }),
  );
}
