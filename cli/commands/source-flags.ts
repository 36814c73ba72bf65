// The filter and source flags `audit` and `spend` share.
import type { Command } from "commander";
import type { LabelMatch } from "../../lambda/audit/filter";
import type { Vendor } from "../../lambda/core/vendors";
import type { SourceFlags } from "../config";
import { parseLabel, parseLogGroups, parseSinceOption, parseVendor } from "../options";
import type { Since } from "../since";

export interface FilterFlags extends SourceFlags {
  vendor?: Vendor;
  since?: Since;
  label?: LabelMatch;
  json?: boolean;
}

export function withFilterFlags(command: Command, defaultSince: string): Command {
  return command
    .option("--vendor <vendor>", "only this vendor: stripe, twilio or resend", parseVendor)
    .option(
      "--since <when>",
      `a duration back from now ("30s", "5m", "24h", "7d") or an ISO 8601 time (default: ${defaultSince})`,
      parseSinceOption,
    )
    .option("--label <glob>", "run label; `*` matches any run of characters, e.g. 'modal-billing/*'", parseLabel)
    .option("--json", "print the result as JSON")
    .option("--local", "read the local audit file even when KEYBRAKE_URL is not a loopback address")
    .option("--audit-file <path>", "local mode's audit file (default: $KEYBRAKE_AUDIT_FILE or .keybrake/audit.jsonl)")
    .option(
      "--log-groups <a,b>",
      "CloudWatch log groups to query (default: $KEYBRAKE_LOG_GROUPS or the /keybrake/keybrake/* groups)",
      parseLogGroups,
    )
    .option("--region <region>", "AWS region of the log groups (default: the AWS SDK's own chain)");
}
