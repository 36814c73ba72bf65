import { Logger } from "@aws-lambda-powertools/logger";
import { loggerSink } from "./audit/sink";
import { requiredEnv } from "./core/env";
import { microToUsd } from "./core/money";
import { createDynamoClient } from "./ledger/dynamo";
import { sweepOrphans } from "./ledger/sweep";

/** Scheduled sweep Lambda: ends reservations orphaned by a crash between reserve and settle. */
const table = requiredEnv(process.env, "KEYBRAKE_TABLE");
const db = createDynamoClient();
const audit = loggerSink(new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "keybrake-sweep" }));

export const handler = async (): Promise<{ swept: number }> => {
  const now = Date.now();
  const swept = await sweepOrphans(db, table, now);
  for (const orphan of swept) {
    audit.write({
      event: "reservation_swept",
      time: new Date(now).toISOString(),
      key_id: orphan.keyId,
      unsettled_usd: microToUsd(orphan.amountMicro),
    });
  }
  return { swept: swept.length };
};
