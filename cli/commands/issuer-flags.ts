// The flags every issuer-route command takes; `--url` and `--api-key` override the environment.
import type { Command } from "commander";

export interface IssuerFlags {
  url?: string;
  apiKey?: string;
  json?: boolean;
}

export function withIssuerFlags(command: Command): Command {
  return command
    .option("--url <url>", "keybrake base URL (default: $KEYBRAKE_URL)")
    .option("--api-key <token>", "issuer token (default: $KEYBRAKE_API_KEY)")
    .option("--json", "print keybrake's answer as JSON");
}
