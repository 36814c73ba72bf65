// The handlers' Log on Lambda: unexpected errors go to the function's log group through Powertools, which
// writes an Error's name, message and stack.
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Log } from "../core/log";

export function powertoolsLog(logger: Logger): Log {
  return { error: (message, extra = {}) => logger.error(message, extra) };
}
