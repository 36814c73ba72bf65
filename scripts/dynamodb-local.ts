// AWS's DynamoDB Local, taken from the jar the npm package amplify-dynamodb-simulator ships, without
// installing that package (it pulls 280 dependencies): `npm pack` it once into a cache folder and unpack only
// its `emulator/` folder. The cache folder is KEYBRAKE_CACHE_DIR when set; in a checkout, its ignored `.cache/`;
// for the installed package, `$XDG_CACHE_HOME/keybrake` (default `~/.cache/keybrake`), never node_modules.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { localDynamoConfig } from "../lambda/ledger/dynamo";

const VERSION = "2.9.30";
/** What the download weighs, for the progress line (the npm tarball, and the unpacked emulator folder). */
const DOWNLOAD_MB = 57;
const UNPACKED_MB = 65;
const CHECKOUT = __filename.endsWith(".ts");
const run = promisify(execFile);

/** The folder keybrake caches downloads in (see above). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KEYBRAKE_CACHE_DIR) return env.KEYBRAKE_CACHE_DIR;
  if (CHECKOUT) return join(__dirname, "..", ".cache");
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "keybrake");
}

export class JavaMissingError extends Error {
  override name = "JavaMissingError";
}

/** A step that failed for a reason outside keybrake (network, npm, Java); the message says what to do. */
export class DynamoDbLocalError extends Error {
  override name = "DynamoDbLocalError";
}

/** DynamoDB Local needs Java 17+. */
export async function assertJava(): Promise<void> {
  let banner: string;
  try {
    banner = (await run("java", ["-version"])).stderr;
  } catch {
    banner = "";
  }
  const major = Number(/version "(\d+)/.exec(banner)?.[1] ?? 0);
  if (major < 17) {
    throw new JavaMissingError(
      `DynamoDB Local needs Java 17+${banner ? ` (found ${major})` : " (no java on PATH)"}: install a Java 17+ runtime ` +
        "(e.g. apt-get install openjdk-17-jre-headless) or set KEYBRAKE_DYNAMODB_ENDPOINT to a running DynamoDB",
    );
  }
}

/** Where long steps report themselves (a line each), so nothing waits in silence. */
export type Progress = (line: string) => void;

const seconds = (since: number) => `${Math.round((Date.now() - since) / 1000)} s`;

/** Runs `work`, reporting `what` every `every` ms until it settles, so a long step is never silent. */
async function withHeartbeat<T>(progress: Progress, what: string, work: Promise<T>, every = 5_000): Promise<T> {
  const since = Date.now();
  const timer = setInterval(() => progress(`${what} (${seconds(since)})`), every);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** The folder holding DynamoDBLocal.jar and DynamoDBLocal_lib/, fetched on first use. */
export async function ensureDynamoDbLocal(
  progress: Progress = () => {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const target = join(cacheDir(env), "dynamodb-local", VERSION);
  if (existsSync(join(target, "DynamoDBLocal.jar"))) return target;
  const since = Date.now();
  progress(
    `downloading DynamoDB Local ${VERSION} (npm package amplify-dynamodb-simulator, about ${DOWNLOAD_MB} MB, ` +
      `${UNPACKED_MB} MB unpacked; once) into ${target}`,
  );
  const work = mkdtempSync(join(tmpdir(), "keybrake-ddb-"));
  try {
    const packed = run(
      "npm",
      ["pack", `amplify-dynamodb-simulator@${VERSION}`, "--pack-destination", work, "--silent"],
      { maxBuffer: 1 << 20, env },
    ).catch((error: Error & { stderr?: string }) => {
      const why = (error.stderr || error.message).trim().split("\n").pop();
      throw new DynamoDbLocalError(
        `could not download DynamoDB Local with npm (${why}): check the network and npm registry settings, ` +
          "or set KEYBRAKE_DYNAMODB_ENDPOINT to a running DynamoDB",
      );
    });
    const { stdout } = await withHeartbeat(progress, "still downloading DynamoDB Local", packed);
    const tarball = join(work, stdout.trim().split("\n").pop()!);
    progress(`unpacking DynamoDB Local (downloaded in ${seconds(since)})`);
    const unpacked = join(work, "emulator");
    mkdirSync(unpacked);
    await run("tar", ["xzf", tarball, "-C", unpacked, "--strip-components=2", "package/emulator"]);
    if (!existsSync(join(unpacked, "DynamoDBLocal.jar")))
      throw new DynamoDbLocalError(`DynamoDBLocal.jar is missing from ${tarball}`);
    mkdirSync(join(target, ".."), { recursive: true });
    try {
      renameSync(unpacked, target);
    } catch (error) {
      // Another process unpacked it first: theirs is as good as ours. (Across file systems, rename fails: copy.)
      if (!existsSync(join(target, "DynamoDBLocal.jar"))) {
        if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
        await run("cp", ["-R", unpacked, target]);
      }
    }
    progress(`DynamoDB Local ${VERSION} is in ${target} (${seconds(since)})`);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /**
   * Sends a signal to DynamoDB Local: Java and its watchdog, as one process group (fault tests stop, resume and
   * kill it with SIGSTOP, SIGCONT and SIGKILL).
   */
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/**
 * Java that cannot outlive us. The JVM is started by a small POSIX shell that also watches its stdin, a pipe from
 * this process: when this process exits, however it exits (Ctrl-C, SIGTERM, a crash, SIGKILL), the pipe closes and
 * the shell kills Java. `stop()` closes the pipe the same way. (On Windows, Java is started directly.)
 */
const WATCHDOG = [
  'java "$@" </dev/null & java=$!',
  '{ cat >/dev/null; kill "$java" 2>/dev/null; } <&3 >/dev/null 2>&1 &',
  'wait "$java"',
].join("\n");

function spawnJava(args: string[], cwd: string): ChildProcess {
  if (process.platform === "win32") return spawn("java", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  // Its own process group, so a signal can reach Java itself (see `signal`), not only the shell.
  return spawn("/bin/sh", ["-c", `exec 3<&0\n${WATCHDOG}`, "keybrake-dynamodb-local", ...args], {
    cwd,
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
}

export async function startDynamoDbLocal(
  options: { dataDir?: string; port?: number; progress?: Progress; env?: NodeJS.ProcessEnv } = {},
): Promise<DynamoDbLocal> {
  await assertJava();
  const dir = await ensureDynamoDbLocal(options.progress, options.env);
  const port = options.port ?? (await freePort());
  options.progress?.(`starting DynamoDB Local (Java) on port ${port}`);
  const since = Date.now();
  const storage = options.dataDir ? ["-sharedDb", "-dbPath", options.dataDir] : ["-inMemory"];
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const child = spawnJava(
    [
      "-Xmx512m",
      `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
      "-jar",
      join(dir, "DynamoDBLocal.jar"),
      "-port",
      String(port),
      ...storage,
    ],
    dir,
  );
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  child.stdin?.on("error", () => {}); // the watchdog gone first: nothing left to tell
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      if (child.stdin) child.stdin.end();
      else child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const client = new DynamoDBClient({ ...localDynamoConfig(endpoint), maxAttempts: 1 });
  const deadline = Date.now() + 60_000;
  let reported = Date.now();
  try {
    for (;;) {
      if (child.exitCode !== null)
        throw new DynamoDbLocalError(`DynamoDB Local exited with ${child.exitCode}:\n${output}`);
      try {
        await client.send(new ListTablesCommand({}));
        options.progress?.(`DynamoDB Local answered on ${endpoint} (${seconds(since)})`);
        const signal = (sig: NodeJS.Signals) =>
          process.platform === "win32" ? child.kill(sig) : process.kill(-child.pid!, sig);
        return { endpoint, port, signal: (sig) => void signal(sig), stop };
      } catch {
        if (Date.now() > deadline)
          throw new DynamoDbLocalError(`DynamoDB Local did not answer on ${endpoint} within 60 s:\n${output}`);
        if (Date.now() - reported >= 5_000) {
          reported = Date.now();
          options.progress?.(`waiting for DynamoDB Local to answer (${seconds(since)})`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
