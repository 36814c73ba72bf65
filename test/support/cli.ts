// The `keybrake` CLI run as a user runs it: its own process, its own environment, output captured.
import { spawn } from "node:child_process";
import { join } from "node:path";

export interface CliRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

const ROOT = join(__dirname, "..", "..");

/** Runs `cli/main.ts` with `env` on top of a copy of this process's environment minus every KEYBRAKE_ and AWS_ variable. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(KEYBRAKE_|AWS_)/.test(name)));
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli", "main.ts"), ...args], {
    cwd: ROOT,
    env: { ...base, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ args, code, stdout, stderr }));
  });
}
