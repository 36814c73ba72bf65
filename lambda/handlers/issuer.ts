// The issuer Lambda (`/vault/*`). Issuer tokens arrive only as SHA-256 hashes with their ceilings.
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { handle } from "hono/aws-lambda";
import { metricsOptions } from "../audit/metrics";
import { cloudWatchSink } from "../audit/sink";
import { systemClock } from "../core/clock";
import { createIssuerApp } from "../http/issuer-app";
import { createDynamoClient } from "../ledger/dynamo";
import { readIssuerConfig } from "./config";
import { powertoolsLog } from "./log";

const config = readIssuerConfig(process.env);
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-issuer" });
const metrics = new Metrics(metricsOptions(process.env));

export const handler = handle(
  createIssuerApp({
    db: createDynamoClient(),
    table: config.table,
    issuers: config.issuers,
    enabledVendors: config.enabledVendors,
    spendCaps: config.spendCaps,
    clock: systemClock,
    audit: cloudWatchSink(logger, metrics),
    log: powertoolsLog(logger),
  }),
);
