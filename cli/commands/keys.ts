// `keybrake keys issue|show|revoke`: one vault key at a time, over the issuer routes.
import type { Command } from "commander";
import type { IssuedKeyBody, KeyStatusBody } from "../../lambda/issuer/service";
import { type CliContext, issuerConfig } from "../config";
import { UsageError } from "../errors";
import { dash, formatUsd, renderFields, toJson } from "../format";
import { issuerRequest } from "../issuer-client";
import { collectEndpoint, parseExpiresIn, parseText, parseUsd, parseVendor } from "../options";
import { type IssuerFlags, withIssuerFlags } from "./issuer-flags";

const usdOrDash = (value: number | undefined) => (value === undefined ? "-" : formatUsd(value));
const keyPath = (keyId: string) => `/vault/keys/${encodeURIComponent(keyId)}`;

export function registerKeys(program: Command, ctx: CliContext): void {
  const keys = program.command("keys").description("issue, show and revoke vault keys");

  withIssuerFlags(
    keys
      .command("issue")
      .description("issue a vault key (POST /vault/keys)")
      .requiredOption("--vendor <vendor>", "stripe, twilio or resend", parseVendor)
      .requiredOption("--cap <usd>", "most USD the key may spend per UTC day", parseUsd)
      .option("--endpoint <endpoint>", 'an allowed "METHOD /path" (repeat for more)', collectEndpoint)
      .requiredOption("--expires-in <duration>", '"30s", "5m", "2h", "1d" or seconds', parseExpiresIn)
      .requiredOption("--label <label>", "agent run label: who is spending", (v: string) => parseText(v, "a run label"))
      .option("--max-request <usd>", "most USD any single call may cost", parseUsd),
  ).action(
    async (
      flags: IssuerFlags & {
        vendor: string;
        cap: number;
        endpoint?: string[];
        expiresIn: string;
        label: string;
        maxRequest?: number;
      },
    ) => {
      if (!flags.endpoint?.length) throw new UsageError("required option '--endpoint <endpoint>' not specified");
      const key = await issuerRequest<IssuedKeyBody>(issuerConfig(flags, ctx.env), "POST", "/vault/keys", {
        vendor: flags.vendor,
        daily_usd_cap: flags.cap,
        allowed_endpoints: flags.endpoint,
        expires_in: flags.expiresIn,
        agent_run_label: flags.label,
        ...(flags.maxRequest === undefined ? {} : { max_request_usd: flags.maxRequest }),
      });
      if (flags.json) return void ctx.stdout.write(toJson(key));
      ctx.stdout.write(
        renderFields([
          ["key_id", key.key_id],
          ["vault_key", key.vault_key],
          ["vendor", key.vendor],
          ["cap", capLine(key.daily_usd_cap, key.max_request_usd)],
          ["label", key.agent_run_label],
          ["endpoints", key.allowed_endpoints.join(", ")],
          ["expires_at", key.expires_at],
        ]),
      );
    },
  );

  withIssuerFlags(
    keys.command("show").description("a key's status and today's spend (GET /vault/keys/{id})").argument("<key_id>"),
  ).action(async (keyId: string, flags: IssuerFlags) => {
    const key = await issuerRequest<KeyStatusBody>(issuerConfig(flags, ctx.env), "GET", keyPath(keyId));
    if (flags.json) return void ctx.stdout.write(toJson(key));
    ctx.stdout.write(
      renderFields([
        ["key_id", key.key_id],
        ["status", dash(key.status)],
        ["vendor", dash(key.vendor)],
        ["label", dash(key.agent_run_label)],
        ["cap", key.daily_usd_cap === undefined ? "-" : capLine(key.daily_usd_cap, key.max_request_usd)],
        ["spent_today", usdOrDash(key.spent_today_usd)],
        ["remaining_today", usdOrDash(key.remaining_today_usd)],
        ["unsettled", usdOrDash(key.unsettled_usd)],
        ["endpoints", key.allowed_endpoints?.join(", ") ?? "-"],
        ["counterparty", counterpartyLine(key.counterparty)],
        ["expires_at", dash(key.expires_at)],
        ...(key.revoked_at ? [["revoked_at", key.revoked_at] as [string, string]] : []),
      ]),
    );
  });

  withIssuerFlags(
    keys.command("revoke").description("revoke one key now (DELETE /vault/keys/{id})").argument("<key_id>"),
  ).action(async (keyId: string, flags: IssuerFlags) => {
    const answer = await issuerRequest<{ key_id: string; status: string }>(
      issuerConfig(flags, ctx.env),
      "DELETE",
      keyPath(keyId),
    );
    ctx.stdout.write(flags.json ? toJson(answer) : `revoked ${answer.key_id}\n`);
  });
}

/** The key's caps in one line: its daily cap and, when it has one, its per-call ceiling. */
function capLine(dailyUsd: number, maxRequestUsd: number | undefined): string {
  const perCall = maxRequestUsd === undefined ? "" : `, at most ${formatUsd(maxRequestUsd)} a call`;
  return `${formatUsd(dailyUsd)} USD a day${perCall}`;
}

/** Whom a locked key may act on (`-` when it is not locked), as `field=value` pairs. */
function counterpartyLine(lock: KeyStatusBody["counterparty"]): string {
  const pairs = Object.entries(lock ?? {}).map(([field, value]) => `${field}=${[value].flat().join(",")}`);
  return pairs.length > 0 ? pairs.join(" ") : "-";
}
