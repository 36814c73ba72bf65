// Bundle sizes and cold-start cost, as Lambda's nodejs22.x starts a handler: each bundle alone in a folder as
// `index.js`, required (module-scope init included) by a fresh Node 22 with Lambda's flags, against a fresh
// `node -e 0` of the same binary. NODE_PATH points at the checkout's node_modules, as Lambda's points at the
// runtime's own AWS SDK, so a bundle that leaves a package external still finds it (a self-contained one never
// looks). Off Linux x64 the running Node stands in for Node 22, and the figures say so.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { bundleHandler, HANDLERS } from "../components/bundle";
import { ensureNode22, LAMBDA_NODE_FLAGS } from "../test/support/node22";
import { percentile } from "./stats";

const run = promisify(execFile);

/**
 * The median start time of each script, `runs` fresh processes each, taken in turn (one of each, then again), so
 * a burst of load from elsewhere on the machine falls on all of them alike.
 */
async function medianStartMs(
  node: string,
  scripts: Record<string, string>,
  env: NodeJS.ProcessEnv,
  runs: number,
): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(scripts).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, script] of Object.entries(scripts)) {
      const t = performance.now();
      await run(node, [...LAMBDA_NODE_FLAGS.filter(() => node !== process.execPath), "-e", script], { env });
      samples[name]!.push(performance.now() - t);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, percentile(v, 50)]));
}

export interface ColdStart {
  /** Which Node ran them. */
  node: string;
  /** Median start times in ms: `node -e 0` (baseline), and requiring each bundle (proxy, issuer, dynamo). */
  ms: Record<string, number>;
  /** A bundle of the ledger's DynamoDB client alone, built alike: what loading the AWS SDK costs by itself. */
  dynamoClientInitRatio: number;
  proxyBundleKb: number;
  issuerBundleKb: number;
  proxyInitRatio: number;
  issuerInitRatio: number;
}

export async function measureColdStart(runs: number, env: NodeJS.ProcessEnv): Promise<ColdStart> {
  const node = (await ensureNode22(env)) ?? process.execPath;
  const dir = mkdtempSync(join(tmpdir(), "keybrake-cold-"));
  try {
    const files: Record<string, { path: string; kb: number }> = {};
    const entries = { proxy: HANDLERS.proxy, issuer: HANDLERS.issuer, dynamo: join(__dirname, "dynamo-client.ts") };
    for (const name of ["proxy", "issuer", "dynamo"] as const) {
      const bundle = bundleHandler(entries[name]);
      const path = join(dir, name, "index.js");
      mkdirSync(join(dir, name));
      writeFileSync(path, bundle.code);
      files[name] = { path, kb: bundle.bytes / 1024 };
    }
    const lambdaEnv = { ...env, NODE_PATH: join(__dirname, "..", "node_modules") };
    const version = (await run(node, ["--version"])).stdout.trim();
    const load = (name: string) => `require(${JSON.stringify(files[name]!.path)})`;
    const ms = await medianStartMs(
      node,
      { baseline: "0", proxy: load("proxy"), issuer: load("issuer"), dynamo: load("dynamo") },
      lambdaEnv,
      runs,
    );
    const init = (name: string) => ms[name]! / ms.baseline!;
    return {
      node: `cold start on node ${version}${node === process.execPath ? " (the running node: no Node 22 here)" : ""}`,
      ms,
      proxyBundleKb: files.proxy!.kb,
      issuerBundleKb: files.issuer!.kb,
      proxyInitRatio: init("proxy"),
      issuerInitRatio: init("issuer"),
      dynamoClientInitRatio: init("dynamo"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
