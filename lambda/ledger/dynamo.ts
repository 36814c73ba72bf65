// One DynamoDB client per process (module scope in Lambda), with short timeouts: the proxy fails closed
// (503) rather than keep an agent waiting on a ledger that does not answer. `throwOnRequestTimeout` makes the
// request timeout an error (recent @smithy/node-http-handler versions only warn without it; older ones, such as
// the Lambda runtime's SDK, ignore the flag and throw anyway). Each call also passes the abort signal of its
// own deadline, which ends the SDK's retries too.
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  type DynamoDBClientConfig,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { LedgerUnavailableError } from "../core/errors";

export const LEDGER_REQUEST_TIMEOUT_MS = 3_000;

export function createDynamoClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  const client = new DynamoDBClient({
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: 1_000,
      requestTimeout: LEDGER_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
      // The connection timeout runs while a request waits for a free socket: local mode serving hundreds of calls
      // at once (each its own key's first read and its reservation) must not queue behind the SDK's default 50.
      // A Lambda instance serves one call at a time and never comes near it.
      httpAgent: { maxSockets: 512 },
      httpsAgent: { maxSockets: 512 },
    } as DynamoDBClientConfig["requestHandler"],
    ...config,
  });
  // With no logger configured, the SDK's logger middleware still builds a redacted copy of every command's input
  // and output for a logger that drops it (about 30 µs of CPU per call, measured): not on the hot path.
  if (!config.logger) client.middlewareStack.remove("loggerMiddleware");
  return client;
}

/**
 * The outcome of a conditional write: applied (with the item's attributes when the write asked for them), or
 * refused with the item as it was (ALL_OLD).
 */
export type ConditionalResult =
  | {
      applied: true;
      attributes?: Record<string, AttributeValue>;
      /** Times the SDK sent the write: past 1, a copy of it may still be on its way to DynamoDB. */
      attempts?: number;
    }
  | {
      applied: false;
      item?: Record<string, AttributeValue>;
      /** Times the SDK sent the write: past 1, an earlier attempt may have been applied and refused this one. */
      attempts?: number;
    };

/**
 * Runs a conditional write; only a failed condition is an answer, any other failure means the ledger is down.
 * A write that failed that way may still have been applied (a timeout, a reset, an abort): callers whose
 * writes matter after such a failure make them recognisable (the reservation id in the item).
 */
export async function conditionalWrite(
  write: () => Promise<{ Attributes?: Record<string, AttributeValue>; $metadata?: { attempts?: number } }>,
): Promise<ConditionalResult> {
  try {
    const out = await write();
    return { applied: true, attributes: out.Attributes, attempts: out.$metadata?.attempts };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return { applied: false, item: error.Item, attempts: error.$metadata?.attempts };
    }
    throw new LedgerUnavailableError({ cause: error, notApplied: rejectedOutright(error) });
  }
}

/**
 * DynamoDB refused the request itself (a ValidationException: the item would pass 400 KB, a malformed expression)
 * on the only attempt sent: it was never applied. After an SDK retry it may have been, by the earlier attempt.
 */
function rejectedOutright(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { attempts?: number } };
  return name === "ValidationException" && ($metadata?.attempts ?? 1) <= 1;
}

/** The expressions of one conditional UpdateItem (no attribute names). */
export interface ConditionalUpdate {
  update: string;
  condition: string;
  values: Record<string, AttributeValue>;
}

/**
 * One conditional UpdateItem of the item `pk`: applied, with the item as it stands after it (ALL_NEW), or refused,
 * with the item as it was when `refusedItem` asks for it (ALL_OLD).
 */
export function updateIf(
  db: DynamoDBClient,
  table: string,
  pk: string,
  write: ConditionalUpdate,
  refusedItem = false,
): Promise<ConditionalResult> {
  return conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: pk } },
        UpdateExpression: write.update,
        ConditionExpression: write.condition,
        ExpressionAttributeValues: write.values,
        ReturnValues: "ALL_NEW",
        ...(refusedItem ? { ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const } : {}),
      }),
    ),
  );
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
