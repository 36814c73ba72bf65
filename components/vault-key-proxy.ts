// The VaultKeyProxy component: wires the ledger, secrets, Lambdas, entry point and observability that the other
// modules of components/ build, and exposes the deployment's URL.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Vendor } from "../lambda/core/vendors";
import { issuerEnvironment, proxyEnvironment, sweepEnvironment } from "../lambda/handlers/config";
import {
  DEFAULT_ALARMS,
  DEFAULT_ISSUERS,
  enabledVendors,
  metricsNamespace,
  spendCaps,
  type VaultKeyProxyArgs,
  validateArgs,
  validateName,
} from "./args";
import { type DeployedFunction, deployFunction, scheduleSweep, tableStatement } from "./functions";
import { issuerTokens } from "./issuer-tokens";
import { ledgerTable } from "./ledger-table";
import { capEventBus, observability } from "./observability";
import { privateEntry } from "./private-entry";
import { publicEntry } from "./public-entry";
import { vendorSecretArns } from "./vendor-secrets";

/**
 * keybrake in one component: the DynamoDB ledger, the vendor secrets, the issuer, proxy and sweep Lambdas
 * with least-privilege roles and audit log groups, an HTTP entry point (public, or private in a VPC), and what
 * operators watch: a CloudWatch dashboard and alarms notifying an SNS topic.
 *
 * @example
 * const kb = new VaultKeyProxy("keybrake", {
 *   stripeSecretKey: config.requireSecret("stripeSecretKey"),
 *   issuers: { billing: { vendors: ["stripe"], max_daily_usd_cap: 500, label_prefix: "modal-billing/" } },
 * });
 * export const url = kb.url;
 */
export class VaultKeyProxy extends pulumi.ComponentResource {
  /** Base URL of the issuer and proxy routes. */
  readonly url: pulumi.Output<string>;
  readonly tableName: pulumi.Output<string>;
  readonly issuerFunctionName: pulumi.Output<string>;
  readonly proxyFunctionName: pulumi.Output<string>;
  readonly sweepFunctionName: pulumi.Output<string>;
  /** The CloudWatch log groups holding the audit trail, per function. */
  readonly logGroupNames: pulumi.Output<{ issuer: string; proxy: string; sweep: string }>;
  /** Issuer name → issuer token (secret). */
  readonly issuerTokens: pulumi.Output<Record<string, string>>;
  readonly enabledVendors: Vendor[];
  /** The CloudWatch dashboard (spend, refusals, latency, ledger health, alarms). */
  readonly dashboardName: pulumi.Output<string>;
  /** The SNS topic every alarm notifies (on ALARM and back to OK): subscribe pagers or chat hooks to it. */
  readonly alarmTopicArn: pulumi.Output<string>;

  constructor(name: string, args: VaultKeyProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("keybrake:index:VaultKeyProxy", name, {}, opts);
    validateName(name);
    validateArgs(args);
    const vendors = enabledVendors(args);
    this.enabledVendors = vendors;

    const table = ledgerTable(name, args, this);
    const secretArns = vendorSecretArns(name, args, vendors, this);
    const tokens = issuerTokens(name, args.issuers ?? DEFAULT_ISSUERS, this);
    const namespace = metricsNamespace(args);
    const shared = { logRetentionDays: args.logRetentionDays ?? 365, metricsNamespace: namespace, vpc: args.vpc };
    // Typed explicitly: Pulumi's TypeScript loader checks this file on its own, where `[]` would infer never.
    // The table's key, used through DynamoDB only: no role may call KMS with it directly.
    const kms: pulumi.Output<aws.iam.PolicyStatement>[] = args.kmsKeyArn
      ? [
          pulumi.all([args.kmsKeyArn, aws.getRegionOutput({}, { parent: this }).region]).apply(
            ([arn, region]): aws.iam.PolicyStatement => ({
              Effect: "Allow",
              Action: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
              Resource: arn,
              Condition: { StringEquals: { "kms:ViaService": `dynamodb.${region}.amazonaws.com` } },
            }),
          ),
        ]
      : [];
    const statements = (...list: pulumi.Output<aws.iam.PolicyStatement>[]) => pulumi.all([...list, ...kms]);
    // Issuer budgets and deployment caps declared as code: both functions get them (KEYBRAKE_SPEND_CAPS).
    const caps = spendCaps(args);
    // Cap threshold events (80 %, 100 %) go to the deployment's own bus; a rule routes them to the alarm topic.
    const bus = capEventBus(name, this);

    const issuer = deployFunction(
      name,
      {
        name: "issuer",
        memoryMb: args.issuerMemoryMb ?? 256,
        timeoutSeconds: 10,
        environment: issuerEnvironment({
          table: table.name,
          issuersJson: tokens.issuersEnv,
          enabledVendors: vendors,
          spendCaps: caps,
        }),
        statements: statements(tableStatement(["GetItem", "PutItem", "UpdateItem", "Query"], table.arn, true)),
      },
      shared,
      this,
    );
    const proxy = deployFunction(
      name,
      {
        name: "proxy",
        memoryMb: args.proxyMemoryMb ?? 512,
        timeoutSeconds: 30,
        environment: proxyEnvironment({
          table: table.name,
          secretArns,
          pricing: args.pricing,
          spendCaps: caps,
          eventBus: bus.name,
        }),
        statements: statements(
          // UpdateItem covers each update of a budget reservation's TransactWriteItems and GetItem its
          // TransactGetItems (no ConditionCheck is used, so no ConditionCheckItem); BatchGetItem reads where a
          // key and its budgets stand while the vendor answers.
          tableStatement(["GetItem", "UpdateItem", "BatchGetItem"], table.arn),
          bus.arn.apply(
            (arn): aws.iam.PolicyStatement => ({ Effect: "Allow", Action: ["events:PutEvents"], Resource: arn }),
          ),
          pulumi.all(vendors.map((v) => secretArns[v]!)).apply(
            (arns): aws.iam.PolicyStatement => ({
              Effect: "Allow",
              Action: ["secretsmanager:GetSecretValue"],
              Resource: arns,
            }),
          ),
        ),
      },
      shared,
      this,
    );
    const sweep = deployFunction(
      name,
      {
        name: "sweep",
        memoryMb: 256,
        timeoutSeconds: 60,
        environment: sweepEnvironment({ table: table.name }),
        statements: statements(tableStatement(["Scan", "UpdateItem"], table.arn)),
      },
      shared,
      this,
    );
    scheduleSweep(name, sweep.fn, this);

    this.url = args.vpc
      ? privateEntry(
          name,
          {
            vpc: args.vpc,
            issuer: issuer.fn,
            proxy: proxy.fn,
            throttlingRateLimit: args.throttlingRateLimit,
            throttlingBurstLimit: args.throttlingBurstLimit,
          },
          this,
        )
      : publicEntry(name, { ...args, issuer: issuer.fn, proxy: proxy.fn }, this);
    this.tableName = table.name;
    this.issuerFunctionName = issuer.fn.name;
    this.proxyFunctionName = proxy.fn.name;
    this.sweepFunctionName = sweep.fn.name;
    this.logGroupNames = logGroups({ issuer, proxy, sweep });
    this.issuerTokens = tokens.tokens;
    const watch = observability(
      name,
      {
        namespace,
        vendors,
        alarmEmail: args.alarmEmail,
        dailySpendAlarmUsd: args.dailySpendAlarmUsd ?? {},
        refusalAlarmThreshold: args.refusalAlarmThreshold ?? DEFAULT_ALARMS.refusalAlarmThreshold,
        ledgerErrorAlarmThreshold: args.ledgerErrorAlarmThreshold ?? DEFAULT_ALARMS.ledgerErrorAlarmThreshold,
        functions: { issuer: issuer.fn, proxy: proxy.fn, sweep: sweep.fn },
        logGroupNames: [proxy.logGroup.name, sweep.logGroup.name, issuer.logGroup.name],
        tableName: table.name,
        capEvents: bus,
      },
      this,
    );
    this.dashboardName = watch.dashboardName;
    this.alarmTopicArn = watch.alarmTopicArn;
    this.registerOutputs({
      url: this.url,
      tableName: this.tableName,
      issuerFunctionName: this.issuerFunctionName,
      proxyFunctionName: this.proxyFunctionName,
      sweepFunctionName: this.sweepFunctionName,
      logGroupNames: this.logGroupNames,
      issuerTokens: this.issuerTokens,
      dashboardName: this.dashboardName,
      alarmTopicArn: this.alarmTopicArn,
    });
  }
}

function logGroups(fns: Record<"issuer" | "proxy" | "sweep", DeployedFunction>) {
  return pulumi
    .all([fns.issuer.logGroup.name, fns.proxy.logGroup.name, fns.sweep.logGroup.name])
    .apply(([issuer, proxy, sweep]) => ({ issuer, proxy, sweep }));
}
