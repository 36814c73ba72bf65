import * as pulumi from "@pulumi/pulumi";
import { type IssuerCeilings, VaultKeyProxy, type VaultKeyProxyArgs, type VpcArgs } from "../components";

/**
 * The root program: `pulumi config set --secret keybrake:stripeSecretKey sk_live_…` then `pulumi up`.
 * A vendor is enabled when its keys are set; without `keybrake:issuers` there is one `default` issuer.
 * Alarms notify the `alarmTopicArn` topic; `keybrake:alarmEmail` subscribes an address to it.
 */
const config = new pulumi.Config("keybrake");

const proxy = new VaultKeyProxy("keybrake", {
  stripeSecretKey: config.getSecret("stripeSecretKey"),
  twilioAccountSid: config.getSecret("twilioAccountSid"),
  twilioAuthToken: config.getSecret("twilioAuthToken"),
  resendApiKey: config.getSecret("resendApiKey"),
  issuers: config.getObject<Record<string, IssuerCeilings>>("issuers"),
  vpc: config.getObject<VpcArgs>("vpc"),
  logRetentionDays: config.getNumber("logRetentionDays"),
  alarmEmail: config.get("alarmEmail"),
  dailySpendAlarmUsd: config.getObject<VaultKeyProxyArgs["dailySpendAlarmUsd"]>("dailySpendAlarmUsd"),
  refusalAlarmThreshold: config.getNumber("refusalAlarmThreshold"),
});

export const url = proxy.url;
export const tableName = proxy.tableName;
export const issuerFunctionName = proxy.issuerFunctionName;
export const proxyFunctionName = proxy.proxyFunctionName;
export const sweepFunctionName = proxy.sweepFunctionName;
export const logGroupNames = proxy.logGroupNames;
export const issuerTokens = proxy.issuerTokens;
export const dashboardName = proxy.dashboardName;
export const alarmTopicArn = proxy.alarmTopicArn;
