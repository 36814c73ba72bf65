import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { handle } from "hono/aws-lambda";
import { metricsOptions } from "./audit/metrics";
import { cloudWatchSink } from "./audit/sink";
import { systemClock } from "./core/clock";
import { requiredEnv, vendorList } from "./core/env";
import { createIssuerApp } from "./http/issuer-app";
import { type IssuerInput, parseIssuers } from "./issuer/ceilings";
import { createDynamoClient } from "./ledger/dynamo";

/** Issuer Lambda: `/vault/*`. Issuer tokens arrive only as SHA-256 hashes with their ceilings. */
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-issuer" });
const metrics = new Metrics(metricsOptions(process.env));

export const handler = handle(
  createIssuerApp({
    db: createDynamoClient(),
    table: requiredEnv(process.env, "KEYBRAKE_TABLE"),
    issuers: parseIssuers(JSON.parse(requiredEnv(process.env, "KEYBRAKE_ISSUERS")) as Record<string, IssuerInput>),
    enabledVendors: vendorList(process.env.KEYBRAKE_ENABLED_VENDORS),
    clock: systemClock,
    audit: cloudWatchSink(logger, metrics),
  }),
);
