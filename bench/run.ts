import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Hex } from "../lambda/core/vault-key";
import { createDynamoClient, localDynamoConfig } from "../lambda/ledger/dynamo";
import { ensureLedgerTable } from "../lambda/ledger/table";
import { startDynamoDbLocal } from "../scripts/dynamodb-local";
import { measureColdStart } from "./cold-start";
import { percentile } from "./stats";
import { startWorker } from "./worker";

/**
 * `npm run bench`: the proxy as it is deployed, one process per party: local mode (the handlers' code) in its
 * own process, a keep-alive load generator in another, the fake Stripe in a third, DynamoDB Local (Java) beside
 * them. Every figure is a ratio to a baseline measured in this run on the same DynamoDB Local, because absolute
 * times on a shared 2-core machine mean little; the CPU-time figures (the proxy process's own CPU time per call
 * against its own SDK client's per raw write) are the ones a busy machine disturbs least. `--smoke` runs tiny
 * counts (the test suite uses it so the script cannot rot). KEYBRAKE_BENCH_OUT names a file for the figures as
 * one JSON object. KEYBRAKE_BENCH_PROFILE names a folder for a V8 CPU profile of the proxy process.
 */
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
      init: 10,
      counted: 500,
    };
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
  const sequential = (n: number, request: object) => load.call<number[]>("sequential", { n, request });
  const writes = (n: number, pk = "raw-hot") => proxy.call<Costed>("writes", { n, pk });

  phase(`warming up (${N.warmup} calls on each path)`);
  // Warm every path (JIT, connection pools, the key cache) before measuring anything.
  await sequential(N.warmup, viaProxy);
  await sequential(N.warmup, direct);
  await writes(N.warmup);

  phase(
    `latency: ${N.latency} sequential calls via the proxy, direct, and as bare conditional writes, in ${N.rounds} alternating rounds`,
  );
  // Alternating rounds, so a burst of load from elsewhere on the machine falls on all three alike. The proxy
  // process's CPU time is taken over its proxied rounds only (it is idle during the direct ones).
  const proxied: number[] = [];
  const straight: number[] = [];
  const raw: number[] = [];
  let proxiedCpu = 0;
  let rawCpu = 0;
  const perRound = Math.ceil(N.latency / N.rounds);
  for (let round = 0; round < N.rounds; round++) {
    const before = await proxy.call<number>("cpu");
    proxied.push(...(await sequential(perRound, viaProxy)));
    await proxy.call("idle");
    proxiedCpu += (await proxy.call<number>("cpu")) - before;
    straight.push(...(await sequential(perRound, direct)));
    const w = await writes(perRound);
    raw.push(...w.samples);
    rawCpu += w.cpuMicros;
  }
  const overhead = (p: number) => (percentile(proxied, p) - percentile(straight, p)) / percentile(raw, p);
  const cpuPerCall = proxiedCpu / proxied.length;
  const cpuPerWrite = rawCpu / raw.length;

  phase(`one hot key: ${N.hot} calls at 64 concurrent callers, then as many bare conditional writes`);
  const hotKey = await issue();
  const proxyRate = await load.call<number>("throughput", {
    n: N.hot,
    concurrency: 64,
    request: charge(proxyUrl, `Bearer ${hotKey}`),
  });
  const rawRate = (await proxy.call<{ rate: number }>("writes", { n: N.hot, pk: "raw-hot-64", concurrency: 64 })).rate;

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

  await proxy.call("close").catch(() => undefined);
  await Promise.all([
    proxy.stop(),
    load.call("close").catch(() => undefined),
    vendor.call("close").catch(() => undefined),
  ]);
  await Promise.all([load.stop(), vendor.stop()]);
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
    ["proxy_cpu_per_call_ratio", cpuPerCall / cpuPerWrite, "<= 3"],
    ["issuance_cpu_ratio", issueCpu / N.issue / (puts.cpuMicros / N.issue), "<= 3"],
  ];
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const us = (x: number) => `${x.toFixed(0)} µs`;
  console.log(
    `keybrake bench${smoke ? " (smoke: tiny counts, figures are not meaningful)" : ""} — node ${process.version}, ${proxied.length} sequential samples, ${cold.node}`,
  );
  console.log(
    `baselines on this DynamoDB Local: conditional UpdateItem p50 ${ms(percentile(raw, 50))} p99 ${ms(percentile(raw, 99))}, ${us(cpuPerWrite)} CPU; ` +
      `${rawRate.toFixed(0)} conditional writes/s on one item at 64 callers; PutItem p99 ${ms(percentile(puts.samples, 99))}, ${us(puts.cpuMicros / N.issue)} CPU`,
  );
  console.log(
    `PaymentIntent create: via proxy p50 ${ms(percentile(proxied, 50))} p99 ${ms(percentile(proxied, 99))}, ${us(cpuPerCall)} proxy CPU; direct p50 ${ms(percentile(straight, 50))} p99 ${ms(percentile(straight, 99))}; ` +
      `hot key ${proxyRate.toFixed(0)} decisions/s; issuance p99 ${ms(percentile(issuance, 99))}, ${us(issueCpu / N.issue)} CPU; RSS ${(rssFirst / 2 ** 20).toFixed(0)} → ${(rssLast / 2 ** 20).toFixed(0)} MiB`,
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
