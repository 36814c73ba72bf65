// `npx tsx bench/profile.ts <folder> [calls] [raw|proxy|issue]`: a V8 CPU profile of the proxy process while it serves
// `calls` sequential PaymentIntent creates (or, with `raw`, runs as many bare conditional writes; with `issue`,
// issues as many keys), written to <folder> when it exits. Open it in Chrome's DevTools, or summarise it with
// bench/profile-summary.ts.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDynamoClient, localDynamoConfig } from "../lambda/ledger/dynamo";
import { ensureLedgerTable } from "../lambda/ledger/table";
import { startDynamoDbLocal } from "../scripts/dynamodb-local";
import { startWorker } from "./worker";

async function main(): Promise<void> {
  const [dir = "profile", count = "3000", what = "proxy"] = process.argv.slice(2);
  const n = Number(count);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const ddb = await startDynamoDbLocal();
  const setup = createDynamoClient(localDynamoConfig(ddb.endpoint));
  await ensureLedgerTable(setup, "bench");
  setup.destroy();
  const token = `kbt_bench_${randomBytes(8).toString("hex")}`;
  const auditDir = mkdtempSync(join(tmpdir(), "keybrake-profile-"));
  const vendor = await startWorker(join(__dirname, "vendor-process.ts"), process.env);
  const proxy = await startWorker(
    join(__dirname, "proxy-process.ts"),
    {
      ...process.env,
      BENCH_DYNAMODB_ENDPOINT: ddb.endpoint,
      BENCH_TABLE: "bench",
      BENCH_ISSUER_TOKEN: token,
      BENCH_STRIPE_URL: vendor.ready.url as string,
      BENCH_AUDIT_DIR: auditDir,
    },
    dir === "-" ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`],
  );
  const load = await startWorker(join(__dirname, "load-process.ts"), process.env);
  const issue = {
    url: `${proxy.ready.url}/vault/keys`,
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      vendor: "stripe",
      daily_usd_cap: 1_000_000,
      allowed_endpoints: ["POST /v1/payment_intents"],
      expires_in: "1h",
      agent_run_label: "bench/profile",
    }),
  };
  const key = (JSON.parse(await load.call<string>("once", issue)) as { vault_key: string }).vault_key;
  const charge = {
    url: `${proxy.ready.url}/v1/payment_intents`,
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/x-www-form-urlencoded" },
    body: "amount=1&currency=usd&customer=cus_bench",
    idempotent: true,
  };
  if (what === "ratio") {
    // Alternating rounds of proxied calls and bare writes: the proxy process's CPU time per call over its CPU time
    // per write, round by round (the noise of a shared machine falls on both alike).
    const ratios: number[] = [];
    const perCall: number[] = [];
    const perWrite: number[] = [];
    for (let round = 0; round < 14; round++) {
      const before = await proxy.call<number>("cpu");
      await load.call("sequential", { n, request: charge });
      await proxy.call("idle");
      const call = ((await proxy.call<number>("cpu")) - before) / n;
      const raw = (await proxy.call<{ cpuMicros: number }>("writes", { n, pk: "raw" })).cpuMicros / n;
      if (round < 2) continue; // warm-up
      ratios.push(call / raw);
      perCall.push(call);
      perWrite.push(raw);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const min = (xs: number[]) => Math.min(...xs);
    console.log(
      `CPU per call: median ${median(perCall).toFixed(0)} µs, least ${min(perCall).toFixed(0)} µs; per raw write: median ${median(perWrite).toFixed(0)} µs, least ${min(perWrite).toFixed(0)} µs; ` +
        `ratio of medians ${(median(perCall) / median(perWrite)).toFixed(2)}, of least ${(min(perCall) / min(perWrite)).toFixed(2)}`,
    );
  }
  if (what !== "ratio") {
    const t = Date.now();
    const before = await proxy.call<{ user: number; system: number }>("cpuSplit");
    if (what === "raw") await proxy.call("writes", { n, pk: "raw" });
    else await load.call("sequential", { n, request: what === "issue" ? issue : charge });
    await proxy.call("idle");
    const after = await proxy.call<{ user: number; system: number }>("cpuSplit");
    const user = (after.user - before.user) / n;
    const system = (after.system - before.system) / n;
    console.log(
      `${n} ${what}: ${((Date.now() - t) / n).toFixed(2)} ms each, ${(user + system).toFixed(0)} µs proxy CPU each (user ${user.toFixed(0)}, system ${system.toFixed(0)})`,
    );
  }
  await proxy.call("close").catch(() => undefined);
  await load.call("close").catch(() => undefined);
  await vendor.call("close").catch(() => undefined);
  await Promise.all([proxy.stop(), load.stop(), vendor.stop()]);
  await ddb.stop();
  rmSync(auditDir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
