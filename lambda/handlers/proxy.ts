// The proxy Lambda (every path outside /vault/). Clients, caches and configuration live at module scope and
// are reused across invocations; the Secrets Manager client is loaded on the first secret read.
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { handle } from "hono/aws-lambda";
import { metricsOptions } from "../audit/metrics";
import { cloudWatchSink } from "../audit/sink";
import { systemClock } from "../core/clock";
import { secretsManagerSource } from "../core/secrets";
import { createProxyApp } from "../http/proxy-app";
import { createDynamoClient } from "../ledger/dynamo";
import { KeyCache } from "../proxy/key-cache";
import { DEFAULT_UPSTREAM_TIMEOUT_MS } from "../proxy/upstream";
import { readProxyConfig } from "./config";
import { powertoolsLog } from "./log";

const config = readProxyConfig(process.env);
const db = createDynamoClient();
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-proxy" });
const metrics = new Metrics(metricsOptions(process.env));

export const handler = handle(
  createProxyApp({
    db,
    table: config.table,
    keys: new KeyCache(db, config.table),
    secrets: secretsManagerSource(config.secretArns),
    pricing: config.pricing,
    upstreams: config.upstreams,
    upstreamTimeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
    clock: systemClock,
    audit: cloudWatchSink(logger, metrics),
    log: powertoolsLog(logger),
  }),
);
