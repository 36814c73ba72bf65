// A whole keybrake for one test file: the real local-mode server (the Lambda handlers' apps) on a fresh table of the
// shared DynamoDB Local, fake vendor upstreams, an in-memory audit trail and a movable clock.
import { randomBytes } from "node:crypto";
import { after } from "node:test";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { AuditRecord } from "../../lambda/audit/record";
import { fileSink, memorySink } from "../../lambda/audit/sink";
import type { IssuedKeyBody, KeyStatusBody } from "../../lambda/issuer/service";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { type LocalServer, startLocalServer } from "../../lambda/local";
import { startDynamoDbLocal } from "../../scripts/dynamodb-local";
import { type FakeVendors, startFakeVendors } from "./fake-vendors";

export const ISSUER_TOKEN = "kbt_test_issuer_token_0123456789";

let shared: Promise<string> | undefined;
/** The DynamoDB Local `npm test` started, or one started for this process when a file runs alone. */
export function dynamoEndpoint(): Promise<string> {
  if (process.env.KEYBRAKE_TEST_DYNAMODB_ENDPOINT) return Promise.resolve(process.env.KEYBRAKE_TEST_DYNAMODB_ENDPOINT);
  shared ??= startDynamoDbLocal().then((ddb) => {
    after(() => ddb.stop());
    return ddb.endpoint;
  });
  return shared;
}

export interface TestClock {
  (): number;
  /** Shift the proxy's notion of now by this many ms (tests cross midnight and expiry with it). */
  shift(ms: number): void;
  /** Jump to an absolute moment; time keeps flowing from there. */
  set(ms: number): void;
}

export function testClock(): TestClock {
  let offset = 0;
  const clock = (() => Date.now() + offset) as TestClock;
  clock.shift = (ms) => {
    offset += ms;
  };
  clock.set = (ms) => {
    offset = ms - Date.now();
  };
  return clock;
}

/** A table name no other test uses: every test file (and every process group) makes its own tables. */
export function freshTable(): string {
  return `t_${randomBytes(6).toString("hex")}`;
}

/** A call to the issuer API: status and parsed JSON body (undefined when empty). */
export type Issuer = (
  method: string,
  path: string,
  body?: unknown,
  token?: string,
) => Promise<{ status: number; body: any }>;

/** An issuer API client for a keybrake at `baseUrl`, with the test issuer token unless `token` is given. */
export function issuerAt(baseUrl: string): Issuer {
  return async (method, path, body, token = ISSUER_TOKEN) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

/** How many answers came back with each HTTP status, e.g. `{ 200: 5, 429: 395 }`. */
export function tally(answers: Iterable<number | { status: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const a of answers) {
    const status = typeof a === "number" ? a : a.status;
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}

export interface Stack {
  url: string;
  server: LocalServer;
  vendors: FakeVendors;
  /** The audit records, unless `auditFile` was given. */
  audit: AuditRecord[];
  clock: TestClock;
  /** `POST /vault/keys` with the local issuer token; throws unless 201. */
  issue(body?: Record<string, unknown>): Promise<IssuedKeyBody>;
  issuer: Issuer;
  /** `GET /vault/keys/{id}` once every settlement still running has finished. */
  keyState(keyId: string): Promise<KeyStatusBody>;
  close(): Promise<void>;
}

export const STRIPE_KEY_REQUEST = {
  vendor: "stripe",
  daily_usd_cap: 50.0,
  allowed_endpoints: ["POST /v1/payment_intents"],
  expires_in: "5m",
  agent_run_label: "modal-billing/cus_123",
};

/** A client on the test DynamoDB that records each command's name in `commands`, in order (empty it to start over). */
export async function recordingDb(): Promise<{ db: DynamoDBClient; commands: string[] }> {
  const commands: string[] = [];
  const db = createDynamoClient(localDynamoConfig(await dynamoEndpoint()));
  db.middlewareStack.add(
    (next, context) => (args) => {
      commands.push(context.commandName!);
      return next(args);
    },
    { step: "initialize" },
  );
  return { db, commands };
}

export interface StackOptions {
  env?: Record<string, string>;
  upstreamTimeoutMs?: number;
  db?: DynamoDBClient;
  keyCacheSize?: number;
  /** Write the audit trail as local mode does, JSON lines to this file (closed by `close()`), not to `audit`. */
  auditFile?: string;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const vendors = await startFakeVendors();
  const audit: AuditRecord[] = [];
  const clock = testClock();
  const server = await startLocalServer({
    dynamoEndpoint: await dynamoEndpoint(),
    issuerToken: ISSUER_TOKEN,
    env: { ...vendors.env, ...options.env },
    table: freshTable(),
    clock,
    audit: options.auditFile ? fileSink(options.auditFile) : memorySink(audit),
    upstreamTimeoutMs: options.upstreamTimeoutMs,
    db: options.db,
    keyCacheSize: options.keyCacheSize,
  });
  const issuer = issuerAt(server.url);
  return {
    url: server.url,
    server,
    vendors,
    audit,
    clock,
    issuer,
    async keyState(keyId: string) {
      await server.idle();
      return (await issuer("GET", `/vault/keys/${keyId}`)).body;
    },
    async issue(body = STRIPE_KEY_REQUEST) {
      const res = await issuer("POST", "/vault/keys", body);
      if (res.status !== 201) throw new Error(`issue failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as IssuedKeyBody;
    },
    async close() {
      await server.close();
      await vendors.close();
    },
  };
}
