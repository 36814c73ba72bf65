// The root program: `pulumi config set --secret keybrake:stripeSecretKey sk_live_…` then `pulumi up`.
// A vendor is enabled when its keys are set; without `keybrake:issuers` there is one `default` issuer.
// Alarms notify the `alarmTopicArn` topic; `keybrake:alarmEmail` subscribes an address to it. Every
// `keybrake:` key is checked (deploy/config.ts): a misspelled one fails `pulumi preview`, naming it.
import * as pulumi from "@pulumi/pulumi";
import { VaultKeyProxy } from "../components";
import { stackArgs } from "./config";

const proxy = new VaultKeyProxy("keybrake", stackArgs(new pulumi.Config("keybrake"), pulumi.runtime.allConfig()));

export const url = proxy.url;
export const tableName = proxy.tableName;
export const issuerFunctionName = proxy.issuerFunctionName;
export const proxyFunctionName = proxy.proxyFunctionName;
export const sweepFunctionName = proxy.sweepFunctionName;
export const logGroupNames = proxy.logGroupNames;
export const issuerTokens = proxy.issuerTokens;
export const dashboardName = proxy.dashboardName;
export const alarmTopicArn = proxy.alarmTopicArn;
