// The scheduled sweep Lambda: ends reservations orphaned by a crash between reserve and settle, notes expiries.
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { metricsOptions } from "../audit/metrics";
import { cloudWatchSink } from "../audit/sink";
import { createDynamoClient } from "../ledger/dynamo";
import { runSweep } from "../sweep/run";
import { readSweepConfig } from "./config";

const config = readSweepConfig(process.env);
const db = createDynamoClient();
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-sweep" });
const metrics = new Metrics(metricsOptions(process.env));
const audit = cloudWatchSink(logger, metrics);

export const handler = async (): Promise<{ swept: number; expired: number }> =>
  runSweep(db, config.table, Date.now(), audit);
