import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { ConditionalCheckFailedException, DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { LedgerUnavailableError } from "../core/errors";

/**
 * One DynamoDB client per process (module scope in Lambda), with short timeouts: the proxy fails closed
 * (503) rather than keep an agent waiting on a ledger that does not answer.
 */
export function createDynamoClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
    ...config,
  });
}

/**
 * The outcome of a conditional write: applied (with the item's attributes when the write asked for them), or
 * refused with the item as it was (ALL_OLD).
 */
export type ConditionalResult =
  | { applied: true; attributes?: Record<string, AttributeValue> }
  | { applied: false; item?: Record<string, AttributeValue> };

/** Runs a conditional write; only a failed condition is an answer, any other failure means the ledger is down. */
export async function conditionalWrite(
  write: () => Promise<{ Attributes?: Record<string, AttributeValue> }>,
): Promise<ConditionalResult> {
  try {
    return { applied: true, attributes: (await write()).Attributes };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return { applied: false, item: error.Item };
    throw new LedgerUnavailableError({ cause: error });
  }
}

/** Wraps a read or unconditional write so transport failures surface as LedgerUnavailableError. */
export async function ledgerCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new LedgerUnavailableError({ cause: error });
  }
}

type Item = Record<string, AttributeValue>;

/** Every page of a Query or Scan, in order; a transport failure on any page means the ledger is down. */
export async function* pages(
  read: (cursor: Item | undefined) => Promise<{ Items?: Item[]; LastEvaluatedKey?: Item }>,
): AsyncGenerator<Item[]> {
  let cursor: Item | undefined;
  do {
    const page = await ledgerCall(() => read(cursor));
    yield page.Items ?? [];
    cursor = page.LastEvaluatedKey;
  } while (cursor);
}

/** Client settings for DynamoDB Local (any credentials are accepted; the region only names the data file). */
export function localDynamoConfig(endpoint: string): DynamoDBClientConfig {
  return { endpoint, region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };
}
