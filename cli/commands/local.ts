// `keybrake local`: local mode from the installed package, what `npm start` runs in a checkout. Configured by the
// environment only (KEYBRAKE_PORT, the vendor secrets, KEYBRAKE_*_URL, …: see the README's local mode table). Its
// code is loaded only when this command runs, so the other commands never load DynamoDB's client.
import type { Command } from "commander";
import type { CliContext } from "../config";
import { IncompleteError, UsageError } from "../errors";

export function registerLocal(program: Command, ctx: CliContext): void {
  program
    .command("local")
    .description("run keybrake locally over DynamoDB Local (needs Java 17+), as `npm start` does in a checkout")
    .addHelpText(
      "after",
      `
Configured by environment variables: KEYBRAKE_PORT (default 8787), KEYBRAKE_API_KEY (generated when unset),
STRIPE_SECRET_KEY, TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, RESEND_API_KEY, KEYBRAKE_STRIPE_URL /
KEYBRAKE_TWILIO_URL / KEYBRAKE_RESEND_URL (default: the real APIs), KEYBRAKE_DYNAMODB_ENDPOINT, KEYBRAKE_DATA_DIR,
KEYBRAKE_AUDIT_FILE, KEYBRAKE_PRICING, KEYBRAKE_SPEND_CAPS (caps as code), KEYBRAKE_CACHE_DIR (where DynamoDB Local is downloaded, once; default
$XDG_CACHE_HOME/keybrake or ~/.cache/keybrake).`,
    )
    .action(async () => {
      const { runLocalMode, describeFailure } =
        require("../../scripts/local-mode") as typeof import("../../scripts/local-mode");
      try {
        await runLocalMode({ env: ctx.env, stdout: ctx.stdout, stderr: ctx.stderr });
      } catch (error) {
        const { message, usage } = describeFailure(error);
        throw usage ? new UsageError(message) : new IncompleteError(message);
      }
    });
}
