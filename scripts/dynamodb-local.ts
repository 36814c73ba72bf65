import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { localDynamoConfig } from "../lambda/ledger/dynamo";

/**
 * AWS's DynamoDB Local, taken from the jar the npm package amplify-dynamodb-simulator ships, without
 * installing that package (it pulls 280 dependencies): `npm pack` it once into an ignored cache folder
 * and unpack only its `emulator/` folder.
 */
const VERSION = "2.9.30";
const ROOT = join(__dirname, "..");
const CACHE = join(ROOT, ".cache", "dynamodb-local", VERSION);
const run = promisify(execFile);

export class JavaMissingError extends Error {
  override name = "JavaMissingError";
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

/** The folder holding DynamoDBLocal.jar and DynamoDBLocal_lib/, fetched on first use. */
export async function ensureDynamoDbLocal(progress: Progress = () => {}): Promise<string> {
  if (existsSync(join(CACHE, "DynamoDBLocal.jar"))) return CACHE;
  progress(`fetching DynamoDB Local ${VERSION} (about 65 MB, once) into ${CACHE}`);
  const work = mkdtempSync(join(tmpdir(), "keybrake-ddb-"));
  try {
    const { stdout } = await run("npm", [
      "pack",
      `amplify-dynamodb-simulator@${VERSION}`,
      "--pack-destination",
      work,
      "--silent",
    ]);
    const tarball = join(work, stdout.trim().split("\n").pop()!);
    const unpacked = join(work, "emulator");
    mkdirSync(unpacked);
    await run("tar", ["xzf", tarball, "-C", unpacked, "--strip-components=2", "package/emulator"]);
    if (!existsSync(join(unpacked, "DynamoDBLocal.jar")))
      throw new Error(`DynamoDBLocal.jar is missing from ${tarball}`);
    mkdirSync(join(CACHE, ".."), { recursive: true });
    try {
      renameSync(unpacked, CACHE);
    } catch (error) {
      // Another process unpacked it first: theirs is as good as ours.
      if (!existsSync(join(CACHE, "DynamoDBLocal.jar"))) throw error;
    }
    return CACHE;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /** The Java process (fault tests stop, resume and kill it with signals). */
  pid: number;
  stop(): Promise<void>;
}

export async function startDynamoDbLocal(
  options: { dataDir?: string; port?: number; progress?: Progress } = {},
): Promise<DynamoDbLocal> {
  await assertJava();
  const dir = await ensureDynamoDbLocal(options.progress);
  options.progress?.("starting DynamoDB Local (Java)");
  const port = options.port ?? (await freePort());
  const storage = options.dataDir ? ["-sharedDb", "-dbPath", options.dataDir] : ["-inMemory"];
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const child: ChildProcess = spawn(
    "java",
    [
      "-Xmx512m",
      `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
      "-jar",
      join(dir, "DynamoDBLocal.jar"),
      "-port",
      String(port),
      ...storage,
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const client = new DynamoDBClient({ ...localDynamoConfig(endpoint), maxAttempts: 1 });
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited with ${child.exitCode}:\n${output}`);
      try {
        await client.send(new ListTablesCommand({}));
        return { endpoint, port, pid: child.pid!, stop };
      } catch {
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not answer on ${endpoint} within 30 s:\n${output}`);
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
