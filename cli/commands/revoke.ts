// `keybrake revoke --label-prefix p`: stop a whole run (or batch, or customer) at once.
import type { Command } from "commander";
import { type CliContext, issuerConfig } from "../config";
import { toJson } from "../format";
import { issuerRequest } from "../issuer-client";
import { parseText } from "../options";
import { type IssuerFlags, withIssuerFlags } from "./issuer-flags";

export function registerRevoke(program: Command, ctx: CliContext): void {
  withIssuerFlags(
    program
      .command("revoke")
      .description("revoke every key whose run label starts with a prefix (POST /vault/revoke)")
      .requiredOption("--label-prefix <prefix>", "e.g. modal-billing/", (v: string) => parseText(v, "a label prefix")),
  ).action(async (flags: IssuerFlags & { labelPrefix: string }) => {
    const answer = await issuerRequest<{ revoked: number }>(issuerConfig(flags, ctx.env), "POST", "/vault/revoke", {
      agent_run_label_prefix: flags.labelPrefix,
    });
    ctx.stdout.write(flags.json ? toJson(answer) : `revoked ${answer.revoked} key${answer.revoked === 1 ? "" : "s"}\n`);
  });
}
