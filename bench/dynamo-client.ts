// The cold-start floor (bench/cold-start.ts): the ledger's DynamoDB client alone, bundled as the handlers are.
import { createDynamoClient } from "../lambda/ledger/dynamo";

export const db = createDynamoClient();
