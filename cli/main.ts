import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { run } from "./program";

// keybrake supports Node 20: the AWS SDK's 9-line notice about its own future Node support is not for our users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/**
 * `keybrake`: the command-line client of a keybrake deployment.
 *
 *   keybrake keys issue|show|revoke   the issuer routes (KEYBRAKE_URL, KEYBRAKE_API_KEY; --url/--api-key override)
 *   keybrake revoke --label-prefix p  revoke a whole run at once
 *   keybrake audit / keybrake spend   the audit trail: the local audit file when --local is given or KEYBRAKE_URL
 *                                     is a loopback address, CloudWatch Logs Insights otherwise
 *   keybrake local                    local mode from the installed package (what `npm start` runs in a checkout)
 *
 * Exit codes, for scripts:
 *   0  success
 *   1  keybrake answered with a refusal (4xx); stderr shows its code and message,
 *      e.g. `keybrake: 404 not_found: no key abc`
 *   2  usage error: a bad or missing flag or value (`--cap -1`, an unparsable `--since`), an unknown command,
 *      KEYBRAKE_URL or KEYBRAKE_API_KEY not set; one line naming the flag or variable
 *   3  could not complete: network error, 5xx, AWS error, a query that Failed / timed out, an unreadable audit file
 */
const clients: CloudWatchLogsClient[] = [];

void run(process.argv, {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  now: Date.now,
  logsClient(region) {
    // Loaded here, not at the top: only `audit` and `spend` on AWS need the CloudWatch Logs client.
    const { CloudWatchLogsClient: Client } =
      require("@aws-sdk/client-cloudwatch-logs") as typeof import("@aws-sdk/client-cloudwatch-logs");
    const client = new Client(region ? { region } : {});
    clients.push(client);
    return client;
  },
}).then((code) => {
  for (const client of clients) client.destroy(); // idle keep-alive sockets would hold the process open
  process.exitCode = code;
});
