// The `keybrake` executable: runs the command tree of program.ts on this process's argv, environment and streams,
// and exits with the code it returns (program.ts lists the commands and the exit codes).
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { run } from "./program";

// keybrake supports Node 20: the AWS SDK's 9-line notice about its own future Node support is not for our users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

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
