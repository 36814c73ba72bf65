import { randomBytes } from "node:crypto";
import { startLocalServer } from "../lambda/local";
import { assertJava, JavaMissingError, startDynamoDbLocal } from "./dynamodb-local";

/**
 * `npm start`: local mode as the README's local mode table describes it. Starts DynamoDB Local unless
 * KEYBRAKE_DYNAMODB_ENDPOINT names a running DynamoDB, then serves the issuer and proxy routes.
 */
async function main(): Promise<void> {
  const env = process.env;
  let endpoint = env.KEYBRAKE_DYNAMODB_ENDPOINT;
  let stopDynamo: (() => Promise<void>) | undefined;
  if (!endpoint) {
    try {
      await assertJava();
    } catch (error) {
      if (error instanceof JavaMissingError) {
        console.error(`keybrake: ${error.message}`);
        process.exit(1);
      }
      throw error;
    }
    const ddb = await startDynamoDbLocal({ dataDir: env.KEYBRAKE_DATA_DIR || undefined });
    endpoint = ddb.endpoint;
    stopDynamo = ddb.stop;
  }
  const issuerToken = env.KEYBRAKE_API_KEY || `kbt_${randomBytes(24).toString("base64url")}`;
  const server = await startLocalServer({
    dynamoEndpoint: endpoint,
    issuerToken,
    env,
    port: Number(env.KEYBRAKE_PORT || 8787),
    table: env.KEYBRAKE_TABLE || "keybrake",
  });
  console.log(`keybrake local mode listening on ${server.url}`);
  console.log(`DynamoDB: ${endpoint}${env.KEYBRAKE_DATA_DIR ? ` (data in ${env.KEYBRAKE_DATA_DIR})` : " (in memory)"}`);
  console.log(`audit records: ${server.auditFile} (keybrake audit / keybrake spend read them)`);
  if (!env.KEYBRAKE_API_KEY) console.log(`issuer token (KEYBRAKE_API_KEY): ${issuerToken}`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    await stopDynamo?.();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(`keybrake: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
