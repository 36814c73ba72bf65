// Local mode (`npm start`'s script) as a separate process, for multi-instance and output-capturing tests.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import type { FakeVendors } from "./fake-vendors";
import { dynamoEndpoint, freshTable, ISSUER_TOKEN } from "./stack";

export interface LocalProcess {
  url: string;
  /** Everything the process printed so far, stdout and stderr. */
  output(): string;
  /** SIGTERM (a clean stop) by default; SIGKILL simulates a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** How the process ended, once it has (undefined while it runs). */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  pid: number;
}

const ROOT = join(__dirname, "..", "..");

export async function spawnLocal(env: Record<string, string>): Promise<LocalProcess> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "start.ts")], {
    cwd: ROOT,
    env: { ...process.env, KEYBRAKE_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local mode did not start:\n${output}`)), 30_000);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`local mode exited with ${code}:\n${output}`)));
  });
  return {
    url,
    pid: child.pid!,
    output: () => output,
    exit: () =>
      child.exitCode !== null || child.signalCode !== null
        ? { code: child.exitCode, signal: child.signalCode }
        : undefined,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await once(child, "exit");
    },
  };
}

/**
 * Local mode's environment over the test DynamoDB: `vendors`' upstreams (when given), a fresh table and the test
 * issuer token; `more` adds to it or overrides it (a shared KEYBRAKE_TABLE, KEYBRAKE_AUDIT_FILE, timings).
 */
export async function localEnv(
  vendors?: FakeVendors,
  more: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    ...vendors?.env,
    KEYBRAKE_DYNAMODB_ENDPOINT: await dynamoEndpoint(),
    KEYBRAKE_TABLE: freshTable(),
    KEYBRAKE_API_KEY: ISSUER_TOKEN,
    ...more,
  };
}

/** Three local-mode processes sharing `env`'s table: the first started alone (it creates the table), then two at once. */
export async function spawnInstances(env: Record<string, string>): Promise<LocalProcess[]> {
  const instances = [await spawnLocal(env)];
  instances.push(...(await Promise.all([spawnLocal(env), spawnLocal(env)])));
  return instances;
}
