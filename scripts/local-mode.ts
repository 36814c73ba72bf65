// Local mode, as `npm start` (in a checkout) and `keybrake local` (from the installed package) run it: DynamoDB
// Local unless KEYBRAKE_DYNAMODB_ENDPOINT names a running DynamoDB, then the issuer and proxy routes on
// 127.0.0.1:$KEYBRAKE_PORT. It says what it is doing while it starts, then what is enabled and where each vendor's
// calls go (loudly when that is the real API), and runs until Ctrl-C, SIGTERM or SIGHUP, or, when an npm script
// started it, until npm goes away; then it stops the server and DynamoDB Local. Java cannot outlive it either way.
import { randomBytes } from "node:crypto";
import { resolve as absolute } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { parseSpendCaps } from "../lambda/core/caps";
import { DEFAULT_UPSTREAMS, ENV, pricingFromEnv, upstreamsFromEnv, upstreamUrlEnv } from "../lambda/core/env";
import { envSecretSource } from "../lambda/core/secrets";
import { VENDORS, type Vendor } from "../lambda/core/vendors";
import { localDynamoConfig } from "../lambda/ledger/dynamo";
import { startLocalServer } from "../lambda/local";
import { DynamoDbLocalError, JavaMissingError, startDynamoDbLocal } from "./dynamodb-local";

export interface LocalModeIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** A local-mode failure with a one-line message that says what to do; `usage` when the environment is wrong. */
export class LocalModeError extends Error {
  override name = "LocalModeError";
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}

const VENDOR_NAMES: Record<Vendor, string> = { stripe: "Stripe", twilio: "Twilio", resend: "Resend" };
const VENDOR_SECRETS: Record<Vendor, string> = {
  stripe: "STRIPE_SECRET_KEY",
  twilio: "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
  resend: "RESEND_API_KEY",
};

function listenPort(env: NodeJS.ProcessEnv): number {
  const text = env.KEYBRAKE_PORT || "8787";
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535)
    throw new LocalModeError(`KEYBRAKE_PORT must be a port number (0 picks a free one), got ${text}`, true);
  return port;
}

/** The settings local mode would otherwise only trip over at the first call, checked before anything starts. */
function checkEnvironment(env: NodeJS.ProcessEnv): void {
  try {
    pricingFromEnv(env);
  } catch (error) {
    const message = (error as Error).message;
    throw new LocalModeError(
      `KEYBRAKE_PRICING: ${error instanceof SyntaxError ? `not JSON (${message})` : message}`,
      true,
    );
  }
  try {
    parseSpendCaps(env[ENV.spendCaps]);
  } catch (error) {
    throw new LocalModeError((error as Error).message, true);
  }
  for (const vendor of VENDORS) {
    const value = env[upstreamUrlEnv(vendor)];
    if (value && !/^https?:\/\/[^/]/.test(value))
      throw new LocalModeError(`${upstreamUrlEnv(vendor)} must be an http(s) URL, got ${value}`, true);
  }
}

async function assertReachable(endpoint: string): Promise<void> {
  const client = new DynamoDBClient({ ...localDynamoConfig(endpoint), maxAttempts: 1 });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(5_000) });
  } catch (error) {
    const e = error as Error & { code?: string };
    throw new LocalModeError(
      `cannot reach DynamoDB at ${endpoint} (KEYBRAKE_DYNAMODB_ENDPOINT): ${e.code ?? e.name}: ` +
        "start it, or unset KEYBRAKE_DYNAMODB_ENDPOINT and local mode starts DynamoDB Local itself",
    );
  } finally {
    client.destroy();
  }
}

/** The lines that say what this local mode will do with a call: who is enabled, and where each vendor's calls go. */
export function vendorLines(env: NodeJS.ProcessEnv, enabled: ReadonlySet<Vendor>): { table: string[]; loud: string[] } {
  const upstreams = upstreamsFromEnv(env);
  const width = Math.max(...VENDORS.map((v) => v.length));
  const table: string[] = [];
  const loud: string[] = [];
  for (const vendor of VENDORS) {
    const name = vendor.padEnd(width);
    if (!enabled.has(vendor)) {
      table.push(`  ${name}  off (set ${VENDOR_SECRETS[vendor]} to enable it)`);
      continue;
    }
    const url = upstreams[vendor];
    if (url === DEFAULT_UPSTREAMS[vendor]) {
      table.push(`  ${name}  ${url}  (the real API)`);
      const live = vendor === "stripe" && /^(sk|rk)_live_/.test(env.STRIPE_SECRET_KEY ?? "");
      loud.push(
        `!! ${VENDOR_NAMES[vendor]} calls go to the real ${VENDOR_NAMES[vendor]} API (${url}) with your ${VENDOR_SECRETS[vendor]}` +
          `${live ? ", a live key: they move real money" : ""}. Set ${upstreamUrlEnv(vendor)} to send them elsewhere.`,
      );
    } else table.push(`  ${name}  ${url}  (${upstreamUrlEnv(vendor)})`);
  }
  return { table, loud };
}

/**
 * Runs local mode until it is told to stop; resolves with the exit code. Throws LocalModeError (and
 * JavaMissingError, DynamoDbLocalError) with a one-line message when it cannot start.
 */
export async function runLocalMode(io: LocalModeIo): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"; // Node 20 is supported here
  const { env } = io;
  // Listening from the first moment: a stop asked for while starting ends the process at once (Java goes with
  // it, see dynamodb-local.ts); once serving, it stops the server and DynamoDB Local in order.
  const stopping = stopRequested(env, process.ppid);
  try {
    return await serve(io, stopping);
  } finally {
    stopping.dispose(); // nothing of ours may keep the process alive once local mode is over, or failed to start
  }
}

async function serve(io: LocalModeIo, stopping: StopRequest): Promise<number> {
  const { env } = io;
  const say = (line: string) => void io.stdout.write(`${line}\n`);
  const progress = (line: string) => say(`keybrake: ${line}`);
  const port = listenPort(env);
  checkEnvironment(env);

  let endpoint = env.KEYBRAKE_DYNAMODB_ENDPOINT;
  let stopDynamo: (() => Promise<void>) | undefined;
  if (endpoint) {
    progress(`using the DynamoDB at ${endpoint} (KEYBRAKE_DYNAMODB_ENDPOINT)`);
    await assertReachable(endpoint);
  } else {
    const ddb = await startDynamoDbLocal({ dataDir: env.KEYBRAKE_DATA_DIR || undefined, progress, env });
    endpoint = ddb.endpoint;
    stopDynamo = ddb.stop;
  }

  const generated = !env.KEYBRAKE_API_KEY;
  const issuerToken = env.KEYBRAKE_API_KEY || `kbt_${randomBytes(24).toString("base64url")}`;
  let server: Awaited<ReturnType<typeof startLocalServer>>;
  try {
    server = await startLocalServer({
      dynamoEndpoint: endpoint,
      issuerToken,
      env,
      port,
      table: env.KEYBRAKE_TABLE || "keybrake",
    });
  } catch (error) {
    await stopDynamo?.();
    const e = error as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE")
      throw new LocalModeError(`port ${port} is taken (another keybrake?): set KEYBRAKE_PORT to a free port`, true);
    throw error;
  }

  const enabled = new Set<Vendor>();
  const secrets = envSecretSource(env);
  for (const vendor of VENDORS) if (await secrets.get(vendor)) enabled.add(vendor);
  const vendors = vendorLines(env, enabled);
  say(`keybrake local mode listening on ${server.url}`);
  say(`  DynamoDB       ${endpoint}${env.KEYBRAKE_DATA_DIR ? ` (data in ${env.KEYBRAKE_DATA_DIR})` : " (in memory)"}`);
  // Absolute: `keybrake audit` run from another folder needs KEYBRAKE_AUDIT_FILE set to exactly this.
  say(`  audit records  ${absolute(server.auditFile!)} (keybrake audit and keybrake spend read them)`);
  say(
    `  issuer token   ${generated ? `${issuerToken} (generated; set KEYBRAKE_API_KEY to choose one)` : "yours, from KEYBRAKE_API_KEY"}`,
  );
  say("  vendors and where their calls go:");
  for (const line of vendors.table) say(`  ${line}`);
  if (enabled.size === 0)
    say("!! no vendor is enabled, so no vault key can be issued: set STRIPE_SECRET_KEY, RESEND_API_KEY or TWILIO_*");
  for (const line of vendors.loud) say(line);
  // A token the user chose is a secret of theirs: never echoed. A generated one is printed so it can be used.
  say(
    generated
      ? `In another terminal: export KEYBRAKE_URL=${server.url} KEYBRAKE_API_KEY=${issuerToken}`
      : `In another terminal: export KEYBRAKE_URL=${server.url} (and the same KEYBRAKE_API_KEY)`,
  );
  say("Ctrl-C stops it (and DynamoDB Local).");

  const signal = await stopping.serving();
  progress(`${signal}: stopping`);
  await server.close();
  await stopDynamo?.();
  progress("stopped");
  return 0;
}

/**
 * What asks local mode to stop: SIGINT, SIGTERM or SIGHUP, or, when an npm script runs it (npm start, npx), npm
 * going away: `kill <npm's pid>` ends npm and its `sh -c` but delivers nothing to us, and we would be left serving,
 * orphaned. Outside npm a changed parent is left alone (`nohup keybrake local &` must keep running). Before
 * `serving()` is called (still starting), a stop exits at once with 128 + the signal's number.
 */
interface StopRequest {
  /** Now serving: resolves with what asked it to stop. */
  serving(): Promise<string>;
  /** Stops listening for signals and for npm going away. */
  dispose(): void;
}

function stopRequested(env: NodeJS.ProcessEnv, parent: number): StopRequest {
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  let serving = false;
  let asked: string | undefined;
  let resolve: ((reason: string) => void) | undefined;
  const finish = (reason: string, code: number) => {
    if (!serving) process.exit(code);
    if (asked !== undefined) process.exit(code); // a second Ctrl-C while stopping: at once
    asked = reason;
    clearInterval(timer);
    resolve?.(reason);
  };
  const handlers = Object.entries(signals).map(([name, number]) => {
    const handler = () => finish(name, 128 + number);
    process.on(name, handler);
    return [name, handler] as const;
  });
  const orphaned = () => {
    if (process.ppid !== parent) finish("npm went away", 129);
  };
  const timer = env.npm_lifecycle_event ? setInterval(orphaned, 500) : undefined;
  return {
    serving() {
      serving = true;
      const stopped = new Promise<string>((r) => {
        resolve = r;
      });
      if (timer) orphaned(); // npm may have gone while we started
      return stopped;
    },
    dispose() {
      clearInterval(timer);
      for (const [name, handler] of handlers) process.removeListener(name, handler);
    },
  };
}

/** One line for a failure to start, as both entries print it. */
export function describeFailure(error: unknown): { message: string; usage: boolean } {
  if (error instanceof LocalModeError) return { message: error.message, usage: error.usage };
  if (error instanceof JavaMissingError || error instanceof DynamoDbLocalError)
    return { message: error.message, usage: false };
  return { message: error instanceof Error ? error.message : String(error), usage: false };
}
