import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { bundleHandler, HANDLERS } from "../components/bundle";
import { percentile } from "./stats";

/**
 * Bundle sizes and cold-start cost: each handler bundle imported (module-scope init included) by a fresh
 * `node`, against a fresh `node -e 0`. The bundles sit inside the repo so the external AWS SDK resolves
 * from node_modules, as it resolves from the Lambda runtime.
 */
const run = promisify(execFile);
const OUT = join(__dirname, "..", ".cache", "bench");

async function medianStartMs(args: string[], env: NodeJS.ProcessEnv, runs: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run(process.execPath, args, { env });
    samples.push(performance.now() - t);
  }
  return percentile(samples, 50);
}

export interface ColdStart {
  proxyBundleKb: number;
  issuerBundleKb: number;
  proxyInitRatio: number;
  issuerInitRatio: number;
}

export async function measureColdStart(runs: number, env: NodeJS.ProcessEnv): Promise<ColdStart> {
  mkdirSync(OUT, { recursive: true });
  const files: Record<string, { path: string; kb: number }> = {};
  for (const name of ["proxy", "issuer"] as const) {
    const bundle = bundleHandler(HANDLERS[name]);
    const path = join(OUT, `${name}.js`);
    writeFileSync(path, bundle.code);
    files[name] = { path, kb: bundle.bytes / 1024 };
  }
  const baseline = await medianStartMs(["-e", "0"], env, runs);
  const init = async (name: string) =>
    (await medianStartMs(["-e", `require(${JSON.stringify(files[name]!.path)})`], env, runs)) / baseline;
  return {
    proxyBundleKb: files.proxy!.kb,
    issuerBundleKb: files.issuer!.kb,
    proxyInitRatio: await init("proxy"),
    issuerInitRatio: await init("issuer"),
  };
}
