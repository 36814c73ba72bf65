// Where the CLI's commands find keybrake and its audit trail: the issuer's URL and token, and which audit source
// (the local file or CloudWatch Logs Insights) `audit` and `spend` read.
import { isIP } from "node:net";
import { auditFilePath } from "../lambda/core/env";
import { logGroupName } from "../lambda/handlers/config";
import type { AuditSource } from "./audit-source";
import { UsageError } from "./errors";
import type { LogsClient } from "./insights";
import type { IssuerConfig } from "./issuer-client";
import { localAuditSource } from "./local-audit";
import { parseLogGroups } from "./options";
import type { ProgressStream } from "./progress";

/** What the CLI reads from its environment and flags: where keybrake is, and where its audit trail is. */
export interface CliContext {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
  now(): number;
  /** main.ts builds the real CloudWatchLogsClient; a test may hand in another client. */
  logsClient(region: string | undefined): LogsClient;
}

/** The root Pulumi program names its component "keybrake": these are its functions' log groups. */
export const DEFAULT_LOG_GROUPS = (["proxy", "sweep", "issuer"] as const).map((fn) => logGroupName("keybrake", fn));

function baseUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${name} is not a URL: ${value}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UsageError(`${name} must be an http(s) URL: ${value}`);
  return url;
}

export function issuerConfig(flags: { url?: string; apiKey?: string }, env: CliContext["env"]): IssuerConfig {
  const url = flags.url ?? env.KEYBRAKE_URL;
  if (!url) throw new UsageError("KEYBRAKE_URL is not set (or pass --url)");
  baseUrl(url, flags.url ? "--url" : "KEYBRAKE_URL");
  const apiKey = flags.apiKey ?? env.KEYBRAKE_API_KEY;
  if (!apiKey) throw new UsageError("KEYBRAKE_API_KEY is not set (or pass --api-key)");
  return { url: url.replace(/\/+$/, ""), apiKey };
}

/** 127.0.0.0/8, ::1 and localhost: a keybrake on this machine is local mode. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1" || host === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(host);
}

export interface SourceFlags {
  local?: boolean;
  auditFile?: string;
  logGroups?: string[];
  region?: string;
}

/** Local mode when `--local` is given or KEYBRAKE_URL is a loopback address; CloudWatch Logs Insights otherwise. */
export function openAuditSource(flags: SourceFlags, ctx: CliContext): AuditSource {
  const warn = (message: string) => void ctx.stderr.write(`keybrake: ${message}\n`);
  const local =
    flags.local || (ctx.env.KEYBRAKE_URL ? isLoopback(baseUrl(ctx.env.KEYBRAKE_URL, "KEYBRAKE_URL")) : false);
  if (local) return localAuditSource(flags.auditFile ?? auditFilePath(ctx.env), warn);
  // Loaded only on this path: the key commands and local mode never load the CloudWatch Logs client.
  const { insightsAuditSource } = require("./insights") as typeof import("./insights");
  return insightsAuditSource({
    client: ctx.logsClient(flags.region),
    logGroups: flags.logGroups ?? envLogGroups(ctx.env) ?? DEFAULT_LOG_GROUPS,
    stderr: ctx.stderr,
    warn,
    noRegion: ctx.env.KEYBRAKE_URL
      ? "no AWS region for CloudWatch Logs: set AWS_REGION or pass --region"
      : "KEYBRAKE_URL is not set and there is no AWS region: for local mode, export KEYBRAKE_URL=http://127.0.0.1:8787 " +
        "(or pass --local); for CloudWatch Logs on AWS, set AWS_REGION (or pass --region)",
  });
}

function envLogGroups(env: CliContext["env"]): string[] | undefined {
  if (!env.KEYBRAKE_LOG_GROUPS) return undefined;
  try {
    return parseLogGroups(env.KEYBRAKE_LOG_GROUPS);
  } catch {
    throw new UsageError("KEYBRAKE_LOG_GROUPS must be a comma-separated list of log group names");
  }
}
