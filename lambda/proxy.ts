import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { handle } from "hono/aws-lambda";
import { metricsOptions } from "./audit/metrics";
import { cloudWatchSink } from "./audit/sink";
import { systemClock } from "./core/clock";
import { pricingFromEnv, requiredEnv, UPSTREAM_TIMEOUT_MS, upstreamsFromEnv } from "./core/env";
import { secretsManagerSource } from "./core/secrets";
import { createProxyApp } from "./http/proxy-app";
import { createDynamoClient } from "./ledger/dynamo";
import { KeyCache } from "./proxy/key-cache";

/** Proxy Lambda: clients, caches and configuration live at module scope and are reused across invocations. */
const table = requiredEnv(process.env, "KEYBRAKE_TABLE");
const db = createDynamoClient();
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-proxy" });
const metrics = new Metrics(metricsOptions(process.env));

export const handler = handle(
  createProxyApp({
    db,
    table,
    keys: new KeyCache(db, table),
    secrets: secretsManagerSource({
      stripe: process.env.KEYBRAKE_STRIPE_SECRET_ARN,
      twilio: process.env.KEYBRAKE_TWILIO_SECRET_ARN,
      resend: process.env.KEYBRAKE_RESEND_SECRET_ARN,
    }),
    pricing: pricingFromEnv(process.env),
    upstreams: upstreamsFromEnv(process.env),
    upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS,
    clock: systemClock,
    audit: cloudWatchSink(logger, metrics),
  }),
);
