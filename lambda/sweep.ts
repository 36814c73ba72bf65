import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { metricsOptions } from "./audit/metrics";
import { cloudWatchSink } from "./audit/sink";
import { runSweep } from "./audit/sweep-records";
import { requiredEnv } from "./core/env";
import { createDynamoClient } from "./ledger/dynamo";

/** Scheduled sweep Lambda: ends reservations orphaned by a crash between reserve and settle, notes expiries. */
const table = requiredEnv(process.env, "KEYBRAKE_TABLE");
const db = createDynamoClient();
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-sweep" });
const metrics = new Metrics(metricsOptions(process.env));
const audit = cloudWatchSink(logger, metrics);

export const handler = async (): Promise<{ swept: number; expired: number }> => runSweep(db, table, Date.now(), audit);
