// `npm run bench`: the proxy as it is deployed, one process per party: local mode (the handlers' code) in its
// own process, a keep-alive load generator in another, the fake Stripe in a third, DynamoDB Local (Java) beside
// them; and the proxy's Lambda bundle invoked with API Gateway events in a process of its own, as one warm Lambda
// instance runs it. Every figure is a ratio to a baseline measured in this run on the same DynamoDB Local, because
// absolute times on a shared 2-core machine mean little; the CPU-time figures (a process's own CPU time per call
// against the proxy's SDK client's per raw write) are the ones a busy machine disturbs least. The floors say what
// bounds the rest: a bare relay's hop, the SDK's own cold start, how busy the proxy's one thread is on a hot key.
// `--smoke` runs tiny counts (the test suite uses it so the script cannot rot). KEYBRAKE_BENCH_OUT names a file for
// the figures as one JSON object. KEYBRAKE_BENCH_PROFILE names a folder for a V8 CPU profile of the proxy process.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleHandler, HANDLERS } from "../components/bundle";
import { sha256Hex } from "../lambda/core/vault-key";
import { createDynamoClient, localDynamoConfig } from "../lambda/ledger/dynamo";
import { ensureLedgerTable } from "../lambda/ledger/table";
import { startDynamoDbLocal } from "../scripts/dynamodb-local";
import { ensureNode22 } from "../test/support/node22";
import { type BudgetPartsRun, measureBudgetParts } from "./budget-parts";
import { measureColdStart } from "./cold-start";
import { busyShare, machineCpu, percentile } from "./stats";
import { STRIPE_ARN } from "./vendor-process";
import { startWorker } from "./worker";

const smoke = process.argv.includes("--smoke");
const N = smoke
  ? { latency: 30, rounds: 2, warmup: 10, hot: 200, issue: 30, rssFirst: 100, rssTotal: 400, init: 2, counted: 20 }
  : {
      latency: 2000,
      rounds: 5,
      warmup: 300,
      hot: 6000,
      issue: 1000,
      rssFirst: 1000,
      rssTotal: 20000,
      init: 25,
      counted: 500,
    };
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

interface Costed {
  samples: number[];
  cpuMicros: number;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  phase(
    `${smoke ? "smoke run (tiny counts); " : ""}starting DynamoDB Local, the fake Stripe, the proxy and the load generator`,
  );
  const ddb = await startDynamoDbLocal({ progress: phase });
  const table = "bench";
  const setup = createDynamoClient(localDynamoConfig(ddb.endpoint));
  await ensureLedgerTable(setup, table);
  setup.destroy();
  const auditDir = mkdtempSync(join(tmpdir(), "keybrake-bench-"));
  const env = { ...process.env };
  const vendor = await startWorker(join(__dirname, "vendor-process.ts"), env);
  const stripeUrl = vendor.ready.url as string;
  const profile = process.env.KEYBRAKE_BENCH_PROFILE;
  const proxy = await startWorker(
    join(__dirname, "proxy-process.ts"),
    {
      ...env,
      BENCH_DYNAMODB_ENDPOINT: ddb.endpoint,
      BENCH_TABLE: table,
      BENCH_ISSUER_TOKEN: ISSUER_TOKEN,
      BENCH_STRIPE_URL: stripeUrl,
      BENCH_AUDIT_DIR: auditDir,
    },
    profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [],
  );
  const proxyUrl = proxy.ready.url as string;
  const load = await startWorker(join(__dirname, "load-process.ts"), env);
  const relay = await startWorker(join(__dirname, "relay-process.ts"), { ...env, BENCH_STRIPE_URL: stripeUrl });
  // The Lambda bundle alone in a folder (the AWS SDK inside it), under Node 22 when there is one, as Lambda runs it.
  const lambdaDir = join(auditDir, "lambda-proxy");
  mkdirSync(lambdaDir);
  writeFileSync(join(lambdaDir, "index.js"), bundleHandler(HANDLERS.proxy).code);
  const lambda = await startWorker(
    join(__dirname, "lambda-process.ts"),
    {
      PATH: env.PATH,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_SESSION_TOKEN: "bench",
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: vendor.ready.secretsManagerUrl as string,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      KEYBRAKE_TABLE: table,
      KEYBRAKE_STRIPE_SECRET_ARN: STRIPE_ARN,
      KEYBRAKE_STRIPE_URL: stripeUrl,
      BENCH_LAMBDA_BUNDLE: join(lambdaDir, "index.js"),
      // As Lambda's NODE_PATH names its runtime's SDK: a bundle that leaves the SDK external finds it (an older
      // build, for before/after runs); a self-contained one never looks.
      NODE_PATH: join(__dirname, "..", "node_modules"),
    },
    [],
    { quiet: true, node: await ensureNode22(env) },
  );

  const issueRequest = {
    url: `${proxyUrl}/vault/keys`,
    method: "POST",
    headers: { authorization: `Bearer ${ISSUER_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({
      vendor: "stripe",
      daily_usd_cap: 1_000_000,
      allowed_endpoints: ["POST /v1/payment_intents"],
      expires_in: "1h",
      agent_run_label: "bench/run",
    }),
  };
  const issue = async () =>
    (JSON.parse(await load.call<string>("once", issueRequest)) as { vault_key: string }).vault_key;
  const charge = (base: string, auth: string) => ({
    url: `${base}/v1/payment_intents`,
    method: "POST",
    headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded" },
    body: "amount=1&currency=usd&customer=cus_bench",
    idempotent: true,
  });
  const viaProxy = charge(proxyUrl, `Bearer ${await issue()}`);
  const direct = charge(stripeUrl, "Bearer sk_test_bench");
  const viaRelay = charge(relay.ready.url as string, "Bearer sk_test_bench");
  const lambdaKey = await issue();
  const sequential = (n: number, request: object) => load.call<number[]>("sequential", { n, request });
  const writes = (n: number, pk = "raw-hot") => proxy.call<Costed>("writes", { n, pk });
  const invoke = (n: number) => lambda.call<Costed>("invoke", { n, vaultKey: lambdaKey });

  phase(`warming up (${N.warmup} calls on each path)`);
  // Warm every path (JIT, connection pools, the key cache) before measuring anything.
  await sequential(N.warmup, viaProxy);
  await sequential(N.warmup, direct);
  await sequential(N.warmup, viaRelay);
  await writes(N.warmup);
  await invoke(N.warmup);

  phase(
    `latency: ${N.latency} sequential calls via the proxy, direct, via a bare relay, as bare conditional writes and as Lambda invocations, in ${N.rounds} alternating rounds`,
  );
  // Alternating rounds, so a burst of load from elsewhere on the machine falls on all of them alike. Each
  // process's CPU time is taken over its own rounds only (it is idle during the others).
  const proxied: number[] = [];
  const straight: number[] = [];
  const relayed: number[] = [];
  const raw: number[] = [];
  let proxiedCpu = 0;
  let relayedCpu = 0;
  let rawCpu = 0;
  let lambdaCpu = 0;
  let invocations = 0;
  const perRound = Math.ceil(N.latency / N.rounds);
  for (let round = 0; round < N.rounds; round++) {
    const before = await proxy.call<number>("cpu");
    proxied.push(...(await sequential(perRound, viaProxy)));
    await proxy.call("idle");
    proxiedCpu += (await proxy.call<number>("cpu")) - before;
    straight.push(...(await sequential(perRound, direct)));
    const relayBefore = await relay.call<number>("cpu");
    relayed.push(...(await sequential(perRound, viaRelay)));
    relayedCpu += (await relay.call<number>("cpu")) - relayBefore;
    const w = await writes(perRound);
    raw.push(...w.samples);
    rawCpu += w.cpuMicros;
    const l = await invoke(perRound);
    lambdaCpu += l.cpuMicros;
    invocations += l.samples.length;
  }
  const overhead = (p: number) => (percentile(proxied, p) - percentile(straight, p)) / percentile(raw, p);
  const cpuPerCall = proxiedCpu / proxied.length;
  const cpuPerWrite = rawCpu / raw.length;

  phase(
    `one hot key: ${N.hot} calls at 64 concurrent callers, then as many bare conditional writes and bare reservation writes`,
  );
  const hotKey = await issue();
  const hotStarted = performance.now();
  const hotMachine = machineCpu();
  const hotCpu = await proxy.call<number>("cpu");
  const proxyRate = await load.call<number>("throughput", {
    n: N.hot,
    concurrency: 64,
    request: charge(proxyUrl, `Bearer ${hotKey}`),
  });
  // How much of one core the proxy's single thread used meanwhile: near 1, that thread is what bounds the rate.
  const hotBusy = ((await proxy.call<number>("cpu")) - hotCpu) / 1000 / (performance.now() - hotStarted);
  // And how busy the whole machine was (every process, the other engineers' too): near 1, the cores are the bound.
  const hotMachineBusy = busyShare(hotMachine, machineCpu());
  const rawRate = (await proxy.call<{ rate: number }>("writes", { n: N.hot, pk: "raw-hot-64", concurrency: 64 })).rate;
  const reservationRate = (
    await proxy.call<{ rate: number }>("reservations", { n: N.hot, concurrency: 64, vaultKey: await issue() })
  ).rate;

  phase(`issuance: ${N.issue} keys issued, against as many bare PutItems`);
  await proxy.call("puts", { n: N.warmup });
  await sequential(N.warmup, issueRequest);
  const issuedBefore = await proxy.call<number>("cpu");
  const issuance = await sequential(N.issue, issueRequest);
  await proxy.call("idle");
  const issueCpu = (await proxy.call<number>("cpu")) - issuedBefore;
  const puts = await proxy.call<Costed>("puts", { n: N.issue });

  phase(`ledger round trips: ${N.counted} counted calls`);
  await proxy.call("idle");
  const callsBefore = await proxy.call<number>("ledgerCalls");
  await sequential(N.counted, viaProxy);
  await proxy.call("idle");
  const writesPerCall = ((await proxy.call<number>("ledgerCalls")) - callsBefore) / N.counted;

  phase(`memory: ${N.rssTotal} calls at 16 concurrent callers`);
  const rssCall = charge(proxyUrl, `Bearer ${await issue()}`);
  await load.call("throughput", { n: N.rssFirst, concurrency: 16, request: rssCall });
  await proxy.call("idle");
  const rssFirst = await proxy.call<number>("rss");
  await load.call("throughput", { n: N.rssTotal - N.rssFirst, concurrency: 16, request: rssCall });
  await proxy.call("idle");
  const rssLast = await proxy.call<number>("rss");

  // Budget decisions per second with N parts against one part, under the same per-item write limit.
  const partsOptions = { dynamoEndpoint: ddb.endpoint, stripeUrl, auditDir, ...PARTS };
  const partRuns: Record<number, BudgetPartsRun> = {};
  for (const parts of [1, 4, 8]) {
    phase(
      `a hot budget in ${parts} part${parts === 1 ? "" : "s"}: ${PARTS.callers} callers for ${PARTS.measureMs / 1000} s, ` +
        `${PARTS.writesPerSecond} writes/s per item`,
    );
    partRuns[parts] = await measureBudgetParts(parts, partsOptions);
  }

  await proxy.call("close").catch(() => undefined);
  const others = [load, vendor, relay, lambda];
  await Promise.all([proxy.stop(), ...others.map((w) => w.call("close").catch(() => undefined))]);
  await Promise.all(others.map((w) => w.stop()));
  await ddb.stop();
  rmSync(auditDir, { recursive: true, force: true });
  phase(`bundles and cold start: each handler bundled, then imported by ${N.init} fresh node processes`);
  const cold = await measureColdStart(N.init, {
    ...process.env,
    KEYBRAKE_TABLE: table,
    KEYBRAKE_ISSUERS: JSON.stringify({ bench: { token_sha256: sha256Hex(ISSUER_TOKEN) } }),
  });

  // One line per figure: its JSON name, its value and its target (a new figure is one more line).
  const figures: Array<[name: string, value: number, target: string]> = [
    ["overhead_p50_ratio", overhead(50), "<= 1.2"],
    ["overhead_p99_ratio", overhead(99), "<= 2.0"],
    ["hot_key_ratio", proxyRate / rawRate, ">= 0.9"],
    ["issuance_p99_ratio", percentile(issuance, 99) / percentile(puts.samples, 99), "<= 1.5"],
    ["ledger_writes_per_call", writesPerCall, "1"],
    ["proxy_bundle_kb", cold.proxyBundleKb, "<= 1024"],
    ["issuer_bundle_kb", cold.issuerBundleKb, "<= 1024"],
    ["proxy_init_ms_ratio", cold.proxyInitRatio, "<= 1.6"],
    ["issuer_init_ms_ratio", cold.issuerInitRatio, "<= 1.6"],
    ["rss_growth_ratio", rssLast / rssFirst, "<= 1.3"],
    ["budget_parts_ratio_4", partRuns[4]!.decisionsPerSecond / partRuns[1]!.decisionsPerSecond, ">= 3.2"],
    ["budget_parts_ratio_8", partRuns[8]!.decisionsPerSecond / partRuns[1]!.decisionsPerSecond, ">= 6.4"],
    ["proxy_cpu_per_call_ratio", cpuPerCall / cpuPerWrite, "<= 3"],
    ["issuance_cpu_ratio", issueCpu / N.issue / (puts.cpuMicros / N.issue), "<= 3"],
    ["lambda_cpu_per_call_ratio", lambdaCpu / invocations / cpuPerWrite, "<= 3"],
    // Floors: what bounds the figures above on this machine, measured in the same run.
    ["relay_overhead_p50_ratio", (percentile(relayed, 50) - percentile(straight, 50)) / percentile(raw, 50), "floor"],
    ["relay_cpu_per_call_ratio", relayedCpu / relayed.length / cpuPerWrite, "floor"],
    ["hot_key_proxy_cpu_share", hotBusy, "floor (1 = one core)"],
    ["hot_key_machine_cpu_share", hotMachineBusy, "floor (1 = every core)"],
    ["hot_key_reservation_write_ratio", reservationRate / rawRate, "floor"],
    ["dynamodb_client_init_ms_ratio", cold.dynamoClientInitRatio, "floor"],
  ];
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const us = (x: number) => `${x.toFixed(0)} µs`;
  console.log(
    `keybrake bench${smoke ? " (smoke: tiny counts, figures are not meaningful)" : ""} — node ${process.version}, ${proxied.length} sequential samples, ${cold.node}`,
  );
  console.log(
    `baselines on this DynamoDB Local: conditional UpdateItem p50 ${ms(percentile(raw, 50))} p99 ${ms(percentile(raw, 99))}, ${us(cpuPerWrite)} CPU; ` +
      `${rawRate.toFixed(0)} conditional writes/s on one item at 64 callers (${reservationRate.toFixed(0)}/s as the proxy's reservation write); PutItem p99 ${ms(percentile(puts.samples, 99))}, ${us(puts.cpuMicros / N.issue)} CPU`,
  );
  console.log(
    `PaymentIntent create: via proxy p50 ${ms(percentile(proxied, 50))} p99 ${ms(percentile(proxied, 99))}, ${us(cpuPerCall)} proxy CPU; direct p50 ${ms(percentile(straight, 50))} p99 ${ms(percentile(straight, 99))}; ` +
      `via a bare relay p50 ${ms(percentile(relayed, 50))}, ${us(relayedCpu / relayed.length)} relay CPU; as a Lambda invocation ${us(lambdaCpu / invocations)} CPU; ` +
      `hot key ${proxyRate.toFixed(0)} decisions/s; issuance p99 ${ms(percentile(issuance, 99))}, ${us(issueCpu / N.issue)} CPU; RSS ${(rssFirst / 2 ** 20).toFixed(0)} → ${(rssLast / 2 ** 20).toFixed(0)} MiB`,
  );
  console.log(
    `cold start (median ms): node -e 0 ${cold.ms.baseline!.toFixed(0)}, proxy ${cold.ms.proxy!.toFixed(0)}, issuer ${cold.ms.issuer!.toFixed(0)}, the DynamoDB client alone ${cold.ms.dynamo!.toFixed(0)}`,
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
  for (const [name, value, target] of figures) console.log(`| \`${name}\` | ${value.toFixed(2)} | ${target} |`);
  if (process.env.KEYBRAKE_BENCH_OUT)
    writeFileSync(
      process.env.KEYBRAKE_BENCH_OUT,
      `${JSON.stringify(Object.fromEntries(figures.map(([name, value]) => [name, value])), null, 2)}\n`,
    );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
