// The proxy as deployed, in its own process: local mode (the Lambda handlers' apps on Node's HTTP server) over
// DynamoDB Local. Its ledger client counts its round trips, and the same client runs the baselines on command,
// so a raw UpdateItem and a proxied call are paid for by the same SDK client in the same process: the CPU-time
// figures divide one by the other.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { fileSink } from "../lambda/audit/sink";
import { createDynamoClient, localDynamoConfig } from "../lambda/ledger/dynamo";
import { reserve } from "../lambda/ledger/reservations";
import { startLocalServer } from "../lambda/local";
import { rawConditionalWrite, rawPut } from "./baselines";
import { sequentialLatencies, throughput } from "./stats";
import { cpuMicros, cpuSplit, serveCommands } from "./worker";

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const env = process.env;
  const endpoint = env.BENCH_DYNAMODB_ENDPOINT!;
  const table = env.BENCH_TABLE!;
  let ledgerCalls = 0;
  const db: DynamoDBClient = createDynamoClient(localDynamoConfig(endpoint));
  db.middlewareStack.add(
    (next) => (args) => {
      ledgerCalls++;
      return next(args);
    },
    { step: "initialize", name: "countLedgerCalls" },
  );
  const server = await startLocalServer({
    dynamoEndpoint: endpoint,
    db,
    issuerToken: env.BENCH_ISSUER_TOKEN!,
    env: { STRIPE_SECRET_KEY: "sk_test_bench", KEYBRAKE_STRIPE_URL: env.BENCH_STRIPE_URL! },
    table,
    audit: fileSink(join(env.BENCH_AUDIT_DIR!, "audit.jsonl")),
  });

  /** Runs `fn` and says what it cost this process in CPU time. */
  const costed = async <T>(fn: () => Promise<T>) => {
    const cpu = cpuMicros();
    const result = await fn();
    return { result, cpuMicros: cpuMicros() - cpu };
  };
  serveCommands(
    {
      /** Bare conditional UpdateItems on one item, one after another (latency) or from many callers (rate). */
      writes: async (a: { n: number; pk: string; concurrency?: number }) => {
        const write = rawConditionalWrite(db, table, a.pk);
        const { result, cpuMicros } = await costed<number | number[]>(() =>
          a.concurrency ? throughput(a.n, a.concurrency, write) : sequentialLatencies(a.n, write),
        );
        return { [a.concurrency ? "rate" : "samples"]: result, cpuMicros };
      },
      /**
       * The proxy's own reservation write, alone: as many callers on one key, each write taking a marker and an
       * idempotency slot and removing up to 16 markers the earlier ones left, as the proxy's writes do.
       */
      reservations: async (a: { n: number; concurrency: number; vaultKey: string }) => {
        const key = await server.keys.resolve(a.vaultKey, Date.now());
        const ended: string[] = [];
        const rate = await throughput(a.n, a.concurrency, async () => {
          const now = Date.now();
          const rid = `r${randomBytes(8).toString("base64url")}`;
          const out = await reserve(db, table, {
            key: key.record,
            keyHash: key.hash,
            amountMicro: 1,
            now,
            rid,
            kind: "exact",
            expiresAt: now + 60_000,
            idempotency: { fingerprint: randomBytes(16).toString("hex"), windowMs: 86_400_000 },
            cleanup: ended.splice(0, 16),
          });
          if (out.kind === "reserved") ended.push(rid);
        });
        return { rate };
      },
      puts: async (a: { n: number }) => {
        const { result, cpuMicros } = await costed(() => sequentialLatencies(a.n, rawPut(db, table)));
        return { samples: result, cpuMicros };
      },
      cpu: () => cpuMicros(),
      cpuSplit: () => cpuSplit(),
      idle: () => server.idle(),
      ledgerCalls: () => ledgerCalls,
      rss: () => {
        global.gc?.();
        return process.memoryUsage().rss;
      },
      close: async () => {
        await server.close();
        setImmediate(() => process.exit(0));
      },
    },
    { url: server.url },
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
