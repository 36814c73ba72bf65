// The `keybrake` command tree (commander), and `run`, which turns any outcome into an exit code:
//
//   keybrake keys issue|show|revoke   the issuer routes (KEYBRAKE_URL, KEYBRAKE_API_KEY; --url/--api-key override)
//   keybrake revoke --label-prefix p  revoke a whole run at once
//   keybrake audit / keybrake spend   the audit trail: the local audit file when --local is given or KEYBRAKE_URL
//                                     is a loopback address, CloudWatch Logs Insights otherwise
//   keybrake local                    local mode from the installed package (what `npm start` runs in a checkout)
import { Command, CommanderError } from "commander";
import { registerAudit } from "./commands/audit";
import { registerKeys } from "./commands/keys";
import { registerLocal } from "./commands/local";
import { registerRevoke } from "./commands/revoke";
import { registerSpend } from "./commands/spend";
import type { CliContext } from "./config";
import { CliError } from "./errors";
import { packageVersion } from "./version";

/**
 * What `--help` prints after the commands. The exit codes are the CLI's contract with scripts, listed here and
 * nowhere else in the code (docs/cli.md#exit-codes explains each one; errors.ts has a class per code).
 */
const EXIT_CODES = `
Exit codes:
  0  success
  1  keybrake refused (a 4xx answer: its code and message are printed)
  2  usage: a bad or missing flag, value or environment variable
  3  could not complete: network, 5xx, AWS, a failed query, an unreadable audit file

Environment: KEYBRAKE_URL, KEYBRAKE_API_KEY (key commands); KEYBRAKE_AUDIT_FILE (local mode);
KEYBRAKE_LOG_GROUPS and the AWS SDK's usual AWS_REGION, AWS_PROFILE, ... (AWS).
\`keybrake local --help\` lists local mode's own variables.

Example, against local mode (\`keybrake local\` in another terminal):
  export KEYBRAKE_URL=http://127.0.0.1:8787 KEYBRAKE_API_KEY=<the issuer token it printed>
  keybrake keys issue --vendor stripe --cap 50 --endpoint "POST /v1/payment_intents" --expires-in 5m --label demo/1
  keybrake audit --label 'demo/*'`;

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("keybrake")
    .description("Vault keys, revocation, audit and spend for a keybrake deployment (local or on AWS).")
    .version(packageVersion(), "-V, --version", "print keybrake's version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void ctx.stdout.write(text),
      writeErr: (text) => void ctx.stderr.write(text),
      outputError: (text, write) => write(`keybrake: ${text.replace(/^error: /, "")}`),
    })
    .showSuggestionAfterError()
    .addHelpText("after", EXIT_CODES);
  registerKeys(program, ctx);
  registerRevoke(program, ctx);
  registerAudit(program, ctx);
  registerSpend(program, ctx);
  registerLocal(program, ctx);
  return program;
}

/** Runs one command line and returns its exit code (EXIT_CODES lists them); it never throws. */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  try {
    await buildProgram(ctx).parseAsync(argv);
    return 0;
  } catch (error) {
    // commander has already printed its own message (or the help it was asked for).
    if (error instanceof CommanderError)
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" ? 0 : 2;
    if (error instanceof CliError) {
      ctx.stderr.write(`keybrake: ${error.message}\n`);
      return error.exitCode;
    }
    ctx.stderr.write(`keybrake: ${error instanceof Error ? error.message : String(error)}\n`);
    return 3;
  }
}
