import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { fileSink } from "../lambda/audit/sink";
import { sha256Hex } from "../lambda/core/vault-key";
import { createDynamoClient, localDynamoConfig } from "../lambda/ledger/dynamo";
import { ensureLedgerTable } from "../lambda/ledger/table";
import { startLocalServer } from "../lambda/local";
import { startDynamoDbLocal } from "../scripts/dynamodb-local";
import { rawConditionalWrite, rawPut } from "./baselines";
import { type BudgetPartsRun, measureBudgetParts } from "./budget-parts";
import { measureColdStart } from "./cold-start";
import { startFakeStripe } from "./fake-stripe";
import { request } from "./http-client";
import { percentile, sequentialLatencies, throughput } from "./stats";

/**
 * `npm run bench`: every figure is a ratio to a baseline measured in this run on the same DynamoDB Local,
 * because absolute times on a shared 2-core machine mean little. `--smoke` runs tiny counts (the test suite
 * uses it so the script cannot rot). KEYBRAKE_BENCH_OUT names a file for the figures as one JSON object.
 */
const smoke = process.argv.includes("--smoke");
const N = smoke
  ? { latency: 30, warmup: 10, hot: 200, issue: 30, rssFirst: 100, rssTotal: 400, init: 2, counted: 20 }
  : { latency: 2000, warmup: 300, hot: 6000, issue: 1000, rssFirst: 1000, rssTotal: 20000, init: 10, counted: 500 };
/**
 * The hot budget: writes per second DynamoDB accepts on one item, simulated low enough that 8 parts' worth stays
 * well below what DynamoDB Local and the proxy do on two cores (so the figure measures the split, not the machine).
 */
const PARTS = smoke
  ? { writesPerSecond: 15, callers: 16, keys: 16, warmupMs: 200, measureMs: 600 }
  : { writesPerSecond: 15, callers: 64, keys: 64, warmupMs: 1_000, measureMs: 5_000 };
const ISSUER_TOKEN = `kbt_bench_${randomBytes(8).toString("hex")}`;
const benchStarted = Date.now();
/** A line per phase as it starts, on stderr (stdout carries only the figures): the full run takes minutes. */
const phase = (what: string) =>
  console.error(`keybrake bench [${Math.round((Date.now() - benchStarted) / 1000)} s]: ${what}`);

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  phase(`${smoke ? "smoke run (tiny counts); " : ""}starting DynamoDB Local and a fake Stripe`);
  const ddb = await startDynamoDbLocal({ progress: phase });
  const stripe = await startFakeStripe();
  const auditDir = mkdtempSync(join(tmpdir(), "keybrake-bench-"));
  const table = "bench";
  let ledgerCalls = 0;
  const counted: DynamoDBClient = createDynamoClient(localDynamoConfig(ddb.endpoint));
  counted.middlewareStack.add(
    (next) => (args) => {
      ledgerCalls++;
      return next(args);
    },
    {
      step: "initialize",
      name: "countLedgerCalls",
    },
  );
  const raw = createDynamoClient(localDynamoConfig(ddb.endpoint));
  await ensureLedgerTable(raw, table);

  const server = await startLocalServer({
    dynamoEndpoint: ddb.endpoint,
    db: counted,
    issuerToken: ISSUER_TOKEN,
    env: { STRIPE_SECRET_KEY: "sk_test_bench", KEYBRAKE_STRIPE_URL: stripe.url },
    table,
    audit: fileSink(join(auditDir, "audit.jsonl")),
  });
  const issue = () =>
    request(
      `${server.url}/vault/keys`,
      "POST",
      { authorization: `Bearer ${ISSUER_TOKEN}`, "content-type": "application/json" },
      JSON.stringify({
        vendor: "stripe",
        daily_usd_cap: 1_000_000,
        allowed_endpoints: ["POST /v1/payment_intents"],
        expires_in: "1h",
        agent_run_label: "bench/run",
      }),
    );
  const vaultKey = (JSON.parse((await issue()).body) as { vault_key: string }).vault_key;
  let idem = 0;
  const charge = (base: string, auth: string) => () =>
    request(
      `${base}/v1/payment_intents`,
      "POST",
      {
        authorization: auth,
        "content-type": "application/x-www-form-urlencoded",
        "idempotency-key": `bench-${idem++}`,
      },
      "amount=1&currency=usd&customer=cus_bench",
    );
  const viaProxy = charge(server.url, `Bearer ${vaultKey}`);
  const direct = charge(stripe.url, "Bearer sk_test_bench");
  const condWrite = rawConditionalWrite(raw, table, "raw-hot");

  phase(`warming up (${N.warmup} calls on each path)`);
  // Warm every path (JIT, connection pools, the key cache) before measuring anything.
  for (const fn of [viaProxy, direct, condWrite]) await sequentialLatencies(N.warmup, fn);

  phase(`latency: ${N.latency} sequential calls via the proxy, direct, and as bare conditional writes`);
  const proxied = await sequentialLatencies(N.latency, viaProxy);
  const straight = await sequentialLatencies(N.latency, direct);
  const writes = await sequentialLatencies(N.latency, condWrite);
  const overhead = (p: number) => (percentile(proxied, p) - percentile(straight, p)) / percentile(writes, p);

  phase(`one hot key: ${N.hot} calls at 64 concurrent callers, then as many bare conditional writes`);
  const hotKey = (JSON.parse((await issue()).body) as { vault_key: string }).vault_key;
  const proxyRate = await throughput(N.hot, 64, charge(server.url, `Bearer ${hotKey}`));
  const rawRate = await throughput(N.hot, 64, rawConditionalWrite(raw, table, "raw-hot-64"));

  phase(`issuance: ${N.issue} keys issued, against as many bare PutItems`);
  await sequentialLatencies(N.warmup, rawPut(raw, table));
  const issuance = await sequentialLatencies(N.issue, issue);
  const puts = await sequentialLatencies(N.issue, rawPut(raw, table));

  phase(`ledger round trips: ${N.counted} counted calls`);
  await server.idle();
  ledgerCalls = 0;
  await sequentialLatencies(N.counted, viaProxy);
  await server.idle();
  const writesPerCall = ledgerCalls / N.counted;

  phase(`memory: ${N.rssTotal} calls at 16 concurrent callers`);
  const rssKey = (JSON.parse((await issue()).body) as { vault_key: string }).vault_key;
  const rssCall = charge(server.url, `Bearer ${rssKey}`);
  const rss = () => {
    global.gc?.();
    return process.memoryUsage().rss;
  };
  await throughput(N.rssFirst, 16, rssCall);
  const rssFirst = rss();
  await throughput(N.rssTotal - N.rssFirst, 16, rssCall);
  await server.idle();
  const rssLast = rss();

  await server.close();
  // Budget decisions per second with N parts against one part, under the same per-item write limit.
  const partsOptions = { dynamoEndpoint: ddb.endpoint, stripeUrl: stripe.url, auditDir, ...PARTS };
  const partRuns: Record<number, BudgetPartsRun> = {};
  for (const parts of [1, 4, 8]) {
    phase(
      `a hot budget in ${parts} part${parts === 1 ? "" : "s"}: ${PARTS.callers} callers for ${PARTS.measureMs / 1000} s, ` +
        `${PARTS.writesPerSecond} writes/s per item`,
    );
    partRuns[parts] = await measureBudgetParts(parts, partsOptions);
  }
  await stripe.close();
  raw.destroy();
  await ddb.stop();
  phase(`bundles and cold start: each handler bundled, then imported by ${N.init} fresh node processes`);
  const cold = await measureColdStart(N.init, {
    ...process.env,
    KEYBRAKE_TABLE: table,
    KEYBRAKE_ISSUERS: JSON.stringify({ bench: { token_sha256: sha256Hex(ISSUER_TOKEN) } }),
  });

  const figures = {
    overhead_p50_ratio: overhead(50),
    overhead_p99_ratio: overhead(99),
    hot_key_ratio: proxyRate / rawRate,
    issuance_p99_ratio: percentile(issuance, 99) / percentile(puts, 99),
    ledger_writes_per_call: writesPerCall,
    proxy_bundle_kb: cold.proxyBundleKb,
    issuer_bundle_kb: cold.issuerBundleKb,
    proxy_init_ms_ratio: cold.proxyInitRatio,
    issuer_init_ms_ratio: cold.issuerInitRatio,
    rss_growth_ratio: rssLast / rssFirst,
    budget_parts_ratio_4: partRuns[4]!.decisionsPerSecond / partRuns[1]!.decisionsPerSecond,
    budget_parts_ratio_8: partRuns[8]!.decisionsPerSecond / partRuns[1]!.decisionsPerSecond,
  };
  const targets: Record<keyof typeof figures, string> = {
    overhead_p50_ratio: "<= 1.2",
    overhead_p99_ratio: "<= 2.0",
    hot_key_ratio: ">= 0.9",
    issuance_p99_ratio: "<= 1.5",
    ledger_writes_per_call: "1",
    proxy_bundle_kb: "<= 250",
    issuer_bundle_kb: "<= 250",
    proxy_init_ms_ratio: "<= 2.0",
    issuer_init_ms_ratio: "<= 2.0",
    rss_growth_ratio: "<= 1.3",
    budget_parts_ratio_4: ">= 3.2",
    budget_parts_ratio_8: ">= 6.4",
  };
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  console.log(
    `keybrake bench${smoke ? " (smoke: tiny counts, figures are not meaningful)" : ""} — node ${process.version}, ${N.latency} sequential samples`,
  );
  console.log(
    `baselines on this DynamoDB Local: conditional UpdateItem p50 ${ms(percentile(writes, 50))} p99 ${ms(percentile(writes, 99))}; ` +
      `${rawRate.toFixed(0)} conditional writes/s on one item at 64 callers; PutItem p99 ${ms(percentile(puts, 99))}`,
  );
  console.log(
    `PaymentIntent create: via proxy p50 ${ms(percentile(proxied, 50))} p99 ${ms(percentile(proxied, 99))}; direct p50 ${ms(percentile(straight, 50))} p99 ${ms(percentile(straight, 99))}; ` +
      `hot key ${proxyRate.toFixed(0)} decisions/s; issuance p99 ${ms(percentile(issuance, 99))}; RSS ${(rssFirst / 2 ** 20).toFixed(0)} → ${(rssLast / 2 ** 20).toFixed(0)} MiB`,
  );
  console.log(
    `hot budget at ${PARTS.writesPerSecond} writes/s per item, ${PARTS.callers} callers: ` +
      Object.values(partRuns)
        .map(
          (r) =>
            `${r.parts} part${r.parts === 1 ? "" : "s"} ${r.decisionsPerSecond.toFixed(0)} decisions/s (${r.contended} answered 503)`,
        )
        .join(", "),
  );
  console.log("");
  console.log("| figure | value | target |");
  console.log("| --- | --- | --- |");
  for (const [name, value] of Object.entries(figures))
    console.log(`| \`${name}\` | ${value.toFixed(2)} | ${targets[name as keyof typeof figures]} |`);
  if (process.env.KEYBRAKE_BENCH_OUT)
    writeFileSync(process.env.KEYBRAKE_BENCH_OUT, `${JSON.stringify(figures, null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
