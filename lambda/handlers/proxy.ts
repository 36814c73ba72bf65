// The proxy Lambda (every path outside /vault/). Clients, caches and configuration live at module scope and
// are reused across invocations; the Secrets Manager client is loaded on the first secret read.
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { handle } from "hono/aws-lambda";
import { capEventPublisher } from "../audit/events";
import { metricsOptions } from "../audit/metrics";
import { cloudWatchSink } from "../audit/sink";
import { systemClock } from "../core/clock";
import { secretsManagerSource } from "../core/secrets";
import { fitsLambdaResponse, LAMBDA_RESPONSE_LIMIT_BYTES } from "../http/lambda-limits";
import { createProxyApp, restCookies } from "../http/proxy-app";
import { createDynamoClient } from "../ledger/dynamo";
import { PENDING_GRACE_MS } from "../proxy/call";
import { KeyCache } from "../proxy/key-cache";
import { Thresholds } from "../proxy/thresholds";
import { Upkeep } from "../proxy/upkeep";
import { DEFAULT_UPSTREAM_TIMEOUT_MS } from "../proxy/upstream";
import { readProxyConfig } from "./config";
import { powertoolsLog } from "./log";

const config = readProxyConfig(process.env);
const db = createDynamoClient();
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-proxy" });
const metrics = new Metrics(metricsOptions(process.env));
const log = powertoolsLog(logger);
const audit = cloudWatchSink(logger, metrics);

const app = handle(
  createProxyApp({
    db,
    table: config.table,
    keys: new KeyCache(db, config.table),
    secrets: secretsManagerSource(config.secretArns),
    pricing: config.pricing,
    upstreams: config.upstreams,
    upstreamTimeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
    pendingGraceMs: PENDING_GRACE_MS,
    // Compensations left over when an invocation returns wait here for the next one.
    upkeep: new Upkeep({ db, table: config.table, log, background: false }),
    spendCaps: config.spendCaps,
    // Cap warnings: an audit record and its metric, and an event on the deployment's bus for the alarm topic.
    thresholds: new Thresholds({
      db,
      table: config.table,
      audit,
      log,
      publish: config.eventBus
        ? capEventPublisher(config.eventBus, process.env.KEYBRAKE_DEPLOYMENT || "keybrake")
        : undefined,
    }),
    maxResponseBytes: LAMBDA_RESPONSE_LIMIT_BYTES,
    fitsResponse: fitsLambdaResponse,
    clock: systemClock,
    audit,
    log,
  }),
);

/** The Lambda entry: hono's adapter, with each vendor cookie its own `Set-Cookie` on the REST (1.0) path too. */
export const handler: typeof app = async (event, context) => restCookies(await app(event, context));
