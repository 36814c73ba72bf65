import { Command, CommanderError } from "commander";
import { registerAudit } from "./commands/audit";
import { registerKeys } from "./commands/keys";
import { registerRevoke } from "./commands/revoke";
import { registerSpend } from "./commands/spend";
import type { CliContext } from "./config";
import { CliError } from "./errors";

/** The `keybrake` command tree; `run` returns the exit code main.ts documents. */
const EXIT_CODES = `
Exit codes:
  0  success
  1  keybrake refused (a 4xx answer: its code and message are printed)
  2  usage: a bad or missing flag, value or environment variable
  3  could not complete: network, 5xx, AWS, a failed query, an unreadable audit file

Environment: KEYBRAKE_URL, KEYBRAKE_API_KEY (key commands); KEYBRAKE_AUDIT_FILE (local mode);
KEYBRAKE_LOG_GROUPS and the AWS SDK's usual AWS_REGION, AWS_PROFILE, ... (AWS).`;

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("keybrake")
    .description("Vault keys, revocation, audit and spend for a keybrake deployment (local or on AWS).")
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
  return program;
}

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
