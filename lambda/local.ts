// Local mode: the issuer and proxy apps, the very ones the Lambda handlers wrap, served by Node's HTTP
// server over DynamoDB Local. The only differences are where secrets come from (env), where audit records
// go (a JSON-lines file) and that settlement finishes after the answer is sent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import { type AuditSink, fileSink } from "./audit/sink";
import { parseSpendCaps } from "./core/caps";
import { type Clock, systemClock } from "./core/clock";
import { auditFilePath, ENV, pricingFromEnv, upstreamsFromEnv } from "./core/env";
import { type Log, stderrLog } from "./core/log";
import { envSecretSource } from "./core/secrets";
import { sha256Hex } from "./core/vault-key";
import { VENDORS, type Vendor } from "./core/vendors";
import { createIssuerApp } from "./http/issuer-app";
import { createProxyApp } from "./http/proxy-app";
import { proxyListener } from "./http/proxy-node";
import { createDynamoClient, localDynamoConfig } from "./ledger/dynamo";
import { ensureLedgerTable } from "./ledger/table";
import { PENDING_GRACE_MS, type ProxyDeps } from "./proxy/call";
import { KeyCache } from "./proxy/key-cache";
import { Thresholds } from "./proxy/thresholds";
import { Upkeep } from "./proxy/upkeep";
import { DEFAULT_UPSTREAM_TIMEOUT_MS } from "./proxy/upstream";
import { runSweep } from "./sweep/run";

export interface LocalOptions {
  dynamoEndpoint: string;
  issuerToken: string;
  env?: NodeJS.ProcessEnv;
  port?: number;
  host?: string;
  table?: string;
  clock?: Clock;
  audit?: AuditSink;
  /** Default: KEYBRAKE_UPSTREAM_TIMEOUT_MS, else 25 s. */
  upstreamTimeoutMs?: number;
  /** Default: KEYBRAKE_PENDING_GRACE_MS, else 15 minutes. */
  pendingGraceMs?: number;
  /** Default: KEYBRAKE_SWEEP_INTERVAL_MS, else 60 s. */
  sweepIntervalMs?: number;
  /** A DynamoDB client to use instead of one for `dynamoEndpoint` (the benchmark counts its round trips). */
  db?: DynamoDBClient;
  /** How many keys' immutable fields to cache (default 10,000). */
  keyCacheSize?: number;
  /** Where unexpected errors are logged (default: JSON lines on stderr). */
  log?: Log;
}

export interface LocalServer {
  url: string;
  port: number;
  table: string;
  /** Where audit records are appended, unless the options gave their own sink. */
  auditFile?: string;
  keys: KeyCache;
  /** Resolves when every settlement still running after its answer has finished. */
  idle(): Promise<void>;
  /** Runs the sweep once (it also runs on a timer): orphaned reservations and key expiries. */
  sweep(): Promise<{ swept: number; expired: number }>;
  close(): Promise<void>;
}

export const LOCAL_ISSUER = "local";

export async function startLocalServer(options: LocalOptions): Promise<LocalServer> {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const table = options.table ?? "keybrake";
  const db = options.db ?? createDynamoClient(localDynamoConfig(options.dynamoEndpoint));
  await ensureLedgerTable(db, table);
  const auditFile = options.audit ? undefined : auditFilePath(env);
  const audit = options.audit ?? fileSink(auditFile!);
  const log = options.log ?? stderrLog;
  const secrets = envSecretSource(env);
  const enabledVendors = new Set<Vendor>();
  for (const vendor of VENDORS) if (await secrets.get(vendor)) enabledVendors.add(vendor);

  const inFlight = new Set<Promise<void>>();
  const keys = new KeyCache(db, table, options.keyCacheSize);
  const upkeep = new Upkeep({ db, table, log, background: true });
  const timing = localTiming(env, options);
  // Issuer budgets (the local issuer is `local`) and deployment caps, as the component writes them on AWS.
  const spendCaps = parseSpendCaps(env[ENV.spendCaps]);
  const issuerApp = createIssuerApp({
    db,
    table,
    issuers: [{ name: LOCAL_ISSUER, tokenSha256: sha256Hex(options.issuerToken), ceilings: {} }],
    enabledVendors,
    spendCaps,
    clock,
    audit,
    log,
  });
  const proxyDeps: ProxyDeps = {
    db,
    table,
    keys,
    secrets,
    pricing: pricingFromEnv(env),
    upstreams: upstreamsFromEnv(env),
    upstreamTimeoutMs: timing.upstreamTimeoutMs,
    pendingGraceMs: timing.pendingGraceMs,
    upkeep,
    spendCaps,
    // Local mode's cap warnings are audit records only (no EventBridge).
    thresholds: new Thresholds({ db, table, audit, log }),
    clock,
    audit,
    log,
    afterResponse(work) {
      // The answer is already sent: nothing this work does may escape as an unhandled rejection.
      const tracked = work.catch((error: unknown) => log.error("keybrake.call failed after its answer", { error }));
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
    },
  };
  const proxyApp = createProxyApp(proxyDeps);
  // API Gateway's routes, in one process: /vault/* to the issuer, everything else to the proxy.
  const app = new Hono();
  app.all("/vault/*", (c) => issuerApp.fetch(c.req.raw, c.env));
  app.all("*", (c) => proxyApp.fetch(c.req.raw, c.env));
  const routed = getRequestListener(app.fetch, { hostname: options.host ?? "127.0.0.1" });
  // The hot path skips the web Request/Response round trip: a proxy call whose path Hono would route as written
  // goes straight to the proxy (the same handleProxyCall, see http/proxy-node.ts); any other target (dot
  // segments, percent-encoding, backslashes: what a URL parser rewrites before routing) takes Hono's routing,
  // so every request reaches the very app it reached before.
  const proxyDirect = proxyListener(proxyDeps, log);
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const target = req.url ?? "/";
    const path = target.split("?", 1)[0]!;
    if (REWRITTEN_BY_URL_PARSER.test(path) || path === "/vault" || path.startsWith("/vault/")) routed(req, res);
    else proxyDirect(req, res);
  };

  const server: Server = await new Promise((resolve, reject) => {
    const s = createServer(listener);
    s.once("error", reject); // e.g. the port is taken: a one-line error, not a crash
    s.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;

  const sweep = () => runSweep(db, table, clock(), audit);
  const timer = setInterval(() => void sweep().catch(() => undefined), timing.sweepIntervalMs);
  timer.unref();

  const idle = async () => {
    do {
      await Promise.all([...inFlight]);
      await upkeep.idle();
    } while (inFlight.size);
  };
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    table,
    auditFile,
    keys,
    idle,
    sweep,
    async close() {
      clearInterval(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Compensations get a while to reach a ledger that is back; past that they are left to the sweep.
      const giveUp = setTimeout(() => upkeep.stop(), CLOSE_COMPENSATION_WAIT_MS);
      await Promise.all([...inFlight]);
      await upkeep.idle();
      clearTimeout(giveUp);
      await audit.close();
      db.destroy();
    },
  };
}

const CLOSE_COMPENSATION_WAIT_MS = 5_000;
/** A `.` or `..` segment, a percent-encoding, a backslash or a fragment: targets the WHATWG URL parser rewrites. */
const REWRITTEN_BY_URL_PARSER = /(?:^|\/)\.\.?(?:\/|$)|[%\\#]/;

/** Local mode's env vars for the timings that make every guarantee testable from outside in seconds. */
export const LOCAL_TIMING_ENV = {
  upstreamTimeoutMs: "KEYBRAKE_UPSTREAM_TIMEOUT_MS",
  pendingGraceMs: "KEYBRAKE_PENDING_GRACE_MS",
  sweepIntervalMs: "KEYBRAKE_SWEEP_INTERVAL_MS",
} as const;

function localTiming(
  env: NodeJS.ProcessEnv,
  options: LocalOptions,
): { upstreamTimeoutMs: number; pendingGraceMs: number; sweepIntervalMs: number } {
  const read = (name: keyof typeof LOCAL_TIMING_ENV, fallback: number) => {
    const given = options[name];
    if (given !== undefined) return given;
    const text = env[LOCAL_TIMING_ENV[name]];
    if (text === undefined || text === "") return fallback;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new Error(
        `${LOCAL_TIMING_ENV[name]} must be a whole number of milliseconds above 0, got ${JSON.stringify(text)}`,
      );
    return value;
  };
  return {
    upstreamTimeoutMs: read("upstreamTimeoutMs", DEFAULT_UPSTREAM_TIMEOUT_MS),
    pendingGraceMs: read("pendingGraceMs", PENDING_GRACE_MS),
    sweepIntervalMs: read("sweepIntervalMs", 60_000),
  };
}
