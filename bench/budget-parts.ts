// A hot budget's throughput (docs/performance.md#a-hot-budget): one budget shared by every key of a batch, under
// DynamoDB's per-item write limit, simulated with a lower limit so a 2-core machine can reach it (the middleware
// refuses a write over the limit on any one item as DynamoDB does, test/support/throttle.ts). Callers charge
// through local mode for a fixed time; a decision is a call the budget decided (200 or 429), not one answered 503
// because the item stayed throttled. Each run gets its own table, server and throttled client.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileSink } from "../lambda/audit/sink";
import { createDynamoClient, localDynamoConfig } from "../lambda/ledger/dynamo";
import { startLocalServer } from "../lambda/local";
import { throttleWrites } from "../test/support/throttle";
import { request } from "./http-client";

export interface BudgetPartsOptions {
  dynamoEndpoint: string;
  stripeUrl: string;
  auditDir: string;
  /** Writes per second any one item accepts. */
  writesPerSecond: number;
  callers: number;
  keys: number;
  warmupMs: number;
  measureMs: number;
}

export interface BudgetPartsRun {
  parts: number;
  decisionsPerSecond: number;
  /** Calls answered 503 (the parts they tried stayed throttled through the reservation's retries). */
  contended: number;
  throttledWrites: number;
}

export async function measureBudgetParts(parts: number, options: BudgetPartsOptions): Promise<BudgetPartsRun> {
  const token = `kbt_bench_${randomBytes(8).toString("hex")}`;
  const db = createDynamoClient(localDynamoConfig(options.dynamoEndpoint));
  const throttle = throttleWrites(db, Number.POSITIVE_INFINITY);
  const server = await startLocalServer({
    dynamoEndpoint: options.dynamoEndpoint,
    db,
    issuerToken: token,
    env: { STRIPE_SECRET_KEY: "sk_test_bench", KEYBRAKE_STRIPE_URL: options.stripeUrl },
    table: `bench_parts_${parts}_${randomBytes(4).toString("hex")}`,
    audit: fileSink(join(options.auditDir, `budget-parts-${parts}.jsonl`)),
  });
  try {
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const budget = JSON.parse(
      (
        await request(
          `${server.url}/vault/budgets`,
          "POST",
          auth,
          JSON.stringify({
            vendor: "stripe",
            daily_usd_cap: 1_000_000,
            expires_in: "1h",
            agent_run_label: "bench/budget",
            parts,
          }),
        )
      ).body,
    ) as { budget_id: string };
    const keys: string[] = [];
    for (let i = 0; i < options.keys; i++) {
      const issued = await request(
        `${server.url}/vault/keys`,
        "POST",
        auth,
        JSON.stringify({
          vendor: "stripe",
          daily_usd_cap: 1_000_000,
          allowed_endpoints: ["POST /v1/payment_intents"],
          expires_in: "1h",
          agent_run_label: `bench/budget/${i}`,
          budget_id: budget.budget_id,
        }),
      );
      keys.push((JSON.parse(issued.body) as { vault_key: string }).vault_key);
    }
    // The limit applies from here: issuing the keys is not what is measured.
    throttle.setLimit(options.writesPerSecond);
    let n = 0;
    const run = async (ms: number) => {
      const until = performance.now() + ms;
      let decided = 0;
      let contended = 0;
      await Promise.all(
        Array.from({ length: options.callers }, async () => {
          while (performance.now() < until) {
            const key = keys[n++ % keys.length]!;
            const res = await request(
              `${server.url}/v1/payment_intents`,
              "POST",
              { authorization: `Bearer ${key}`, "content-type": "application/x-www-form-urlencoded" },
              "amount=1&currency=usd",
            );
            if (res.status === 200 || res.status === 429) decided++;
            else contended++;
          }
        }),
      );
      return { decided, contended };
    };
    await run(options.warmupMs);
    const started = performance.now();
    const measured = await run(options.measureMs);
    const seconds = (performance.now() - started) / 1000;
    return {
      parts,
      decisionsPerSecond: measured.decided / seconds,
      contended: measured.contended,
      throttledWrites: [...throttle.refused.values()].reduce((a, b) => a + b, 0),
    };
  } finally {
    await server.close();
  }
}
