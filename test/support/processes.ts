import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";

/** Local mode (`npm start`'s script) as a separate process, for multi-instance and output-capturing tests. */
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
