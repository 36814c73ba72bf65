// What operators watch: an SNS topic for alarm notifications (optionally mailed), alarms on ledger errors, refusal
// spikes, vendor overage and daily spend per vendor, and the dashboard. Every alarm and graph reads the metrics the
// Lambdas publish (lambda/audit/metrics.ts) under the `service` dimension = the component's name.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { CAP_THRESHOLD_DETAIL_TYPE, EVENT_SOURCE } from "../lambda/audit/events";
import { DIMENSION, METRIC } from "../lambda/audit/metrics";
import type { Vendor } from "../lambda/core/vendors";
import { dashboard } from "./dashboard";
import { savedQueries } from "./saved-queries";

export interface ObservabilityArgs {
  namespace: string;
  vendors: Vendor[];
  alarmEmail?: pulumi.Input<string>;
  dailySpendAlarmUsd: Partial<Record<Vendor, number>>;
  refusalAlarmThreshold: number;
  ledgerErrorAlarmThreshold: number;
  functions: { issuer: aws.lambda.Function; proxy: aws.lambda.Function; sweep: aws.lambda.Function };
  /** The functions' log groups: the audit trail the saved queries and the dashboard's log table read. */
  logGroupNames: pulumi.Input<string>[];
  tableName: pulumi.Input<string>;
  /** The bus the proxy puts cap threshold events on: a rule routes the budgets' ones to the alarm topic. */
  capEvents: aws.cloudwatch.EventBus;
}

export interface Observability {
  dashboardName: pulumi.Output<string>;
  alarmTopicArn: pulumi.Output<string>;
}

export function observability(name: string, args: ObservabilityArgs, parent: pulumi.Resource): Observability {
  const topic = alarmTopic(name, args.alarmEmail, parent);
  const alarms = metricAlarms(name, args, topic.arn, parent);
  routeCapEvents(name, args.capEvents, topic, parent);
  savedQueries(name, args.logGroupNames, parent);
  const board = dashboard(
    name,
    {
      service: name,
      namespace: args.namespace,
      vendors: args.vendors,
      functions: {
        issuer: args.functions.issuer.name,
        proxy: args.functions.proxy.name,
        sweep: args.functions.sweep.name,
      },
      tableName: args.tableName,
      logGroupNames: args.logGroupNames,
      alarmArns: alarms.map((a) => a.arn),
    },
    parent,
  );
  return { dashboardName: board.dashboardName, alarmTopicArn: topic.arn };
}

function alarmTopic(name: string, email: pulumi.Input<string> | undefined, parent: pulumi.Resource): aws.sns.Topic {
  const topic = new aws.sns.Topic(`${name}-alarms`, { displayName: `keybrake ${name} alarms` }, { parent });
  if (email !== undefined) {
    // Stays "pending confirmation" until the link SNS mails is clicked; deleting the topic removes it either way.
    new aws.sns.TopicSubscription(
      `${name}-alarms-email`,
      { topic: topic.arn, protocol: "email", endpoint: email },
      { parent },
    );
  }
  return topic;
}

interface AlarmSpec {
  suffix: string;
  description: string;
  metricName: string;
  dimensions: Record<string, string>;
  period: number;
  threshold: number;
  comparisonOperator: "GreaterThanOrEqualToThreshold" | "GreaterThanThreshold";
}

function metricAlarms(
  name: string,
  args: ObservabilityArgs,
  topicArn: pulumi.Output<string>,
  parent: pulumi.Resource,
): aws.cloudwatch.MetricAlarm[] {
  const specs: AlarmSpec[] = [
    {
      suffix: "ledger-errors",
      description: `keybrake ${name}: the ledger could not be reached (calls answered 503, nothing forwarded) or a settlement write failed, at least ${args.ledgerErrorAlarmThreshold} time(s) in 1 minute. Check DynamoDB and the proxy's logs.`,
      metricName: METRIC.ledgerErrors,
      dimensions: {},
      period: 60,
      threshold: args.ledgerErrorAlarmThreshold,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
    },
    {
      suffix: "refusal-spike",
      description: `keybrake ${name}: at least ${args.refusalAlarmThreshold} proxy calls refused in 5 minutes (caps, allowlists, bad keys, unpriceable requests). See "Refusals by reason" on the dashboard.`,
      metricName: METRIC.refusals,
      dimensions: {},
      period: 300,
      threshold: args.refusalAlarmThreshold,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
    },
    {
      suffix: "vendor-overage",
      description: `keybrake ${name}: a vendor charged more than keybrake reserved (a Twilio price above its estimate) in the last 5 minutes. The audit records carry overage_usd; raise the matching price in the pricing config (docs/pricing.md).`,
      metricName: METRIC.overageUsd,
      dimensions: {},
      period: 300,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
    },
    // One period of 86400 s is allowed: PutMetricAlarm takes any multiple of 60 as Period and caps Period x
    // EvaluationPeriods at 604,800 s (7 days). The window is the default sliding one: the Sum of SpendUSD over
    // the 24 hours before each evaluation — a rolling day, not the UTC day the keys' caps reset on (the
    // @pulumi/aws version used here has no setting for CloudWatch's wall-clock window).
    ...(Object.entries(args.dailySpendAlarmUsd) as Array<[Vendor, number]>).map(
      ([vendor, usd]): AlarmSpec => ({
        suffix: `daily-spend-${vendor}`,
        description: `keybrake ${name}: ${vendor} spend through the proxy over the last 24 hours is above ${usd} USD (settled plus kept-as-spent, all keys).`,
        metricName: METRIC.spendUsd,
        dimensions: { [DIMENSION.vendor]: vendor },
        period: 86400,
        threshold: usd,
        comparisonOperator: "GreaterThanThreshold",
      }),
    ),
  ];
  return specs.map(
    (spec) =>
      new aws.cloudwatch.MetricAlarm(
        `${name}-${spec.suffix}`,
        {
          alarmDescription: spec.description,
          namespace: args.namespace,
          metricName: spec.metricName,
          dimensions: { [DIMENSION.service]: name, ...spec.dimensions },
          statistic: "Sum",
          period: spec.period,
          evaluationPeriods: 1,
          threshold: spec.threshold,
          comparisonOperator: spec.comparisonOperator,
          // No data means no calls (or no errors): not a reason to alarm.
          treatMissingData: "notBreaching",
          alarmActions: [topicArn],
          okActions: [topicArn],
        },
        { parent },
      ),
  );
}

/** The deployment's own EventBridge bus for cap threshold events (the proxy may put events on it and nowhere else). */
export function capEventBus(name: string, parent: pulumi.Resource): aws.cloudwatch.EventBus {
  return new aws.cloudwatch.EventBus(`${name}-events`, { name: `${name}-events` }, { parent });
}

/**
 * Routes the budgets' threshold events (a user budget, an issuer's budget, the deployment's cap crossing 80 % or
 * reaching 100 %) from the bus to the alarm topic, as one line a person reads. A key's own thresholds stay on the
 * bus (one per run's key would flood a pager); a team routes them with its own rule. The topic's policy keeps the
 * account's default statement (the alarms publish under it) and lets only this rule publish besides.
 */
function routeCapEvents(
  name: string,
  bus: aws.cloudwatch.EventBus,
  topic: aws.sns.Topic,
  parent: pulumi.Resource,
): aws.cloudwatch.EventRule {
  const rule = new aws.cloudwatch.EventRule(
    `${name}-cap-thresholds`,
    {
      eventBusName: bus.name,
      description: `keybrake ${name}: budgets, issuer budgets and deployment caps crossing 80 % or reaching 100 %`,
      eventPattern: JSON.stringify({
        source: [EVENT_SOURCE],
        "detail-type": [CAP_THRESHOLD_DETAIL_TYPE],
        detail: { level: ["budget", "issuer", "deployment"] },
      }),
    },
    { parent },
  );
  new aws.cloudwatch.EventTarget(
    `${name}-cap-thresholds`,
    {
      rule: rule.name,
      eventBusName: bus.name,
      arn: topic.arn,
      inputTransformer: {
        inputPaths: {
          level: "$.detail.level",
          cap: "$.detail.cap",
          pct: "$.detail.threshold_pct",
          trigger: "$.detail.trigger",
          spent: "$.detail.spent_usd",
          capUsd: "$.detail.cap_usd",
          vendor: "$.detail.vendor",
          day: "$.detail.day",
        },
        inputTemplate: `"keybrake ${name}: the <level> cap (<cap>, <vendor>) reached <pct> % on <day> by <trigger>: <spent> of <capUsd> USD spent."`,
      },
    },
    { parent },
  );
  new aws.sns.TopicPolicy(
    `${name}-alarms`,
    {
      arn: topic.arn,
      policy: pulumi.all([topic.arn, rule.arn]).apply(([topicArn, ruleArn]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "__default_statement_ID",
              Effect: "Allow",
              Principal: { AWS: "*" },
              Action: [
                "SNS:GetTopicAttributes",
                "SNS:SetTopicAttributes",
                "SNS:AddPermission",
                "SNS:RemovePermission",
                "SNS:DeleteTopic",
                "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic",
                "SNS:Publish",
              ],
              Resource: topicArn,
              Condition: { StringEquals: { "AWS:SourceOwner": topicArn.split(":")[4] } },
            },
            {
              Sid: "keybrake-cap-thresholds",
              Effect: "Allow",
              Principal: { Service: "events.amazonaws.com" },
              Action: "sns:Publish",
              Resource: topicArn,
              Condition: { ArnEquals: { "aws:SourceArn": ruleArn } },
            },
          ],
        }),
      ),
    },
    { parent },
  );
  return rule;
}
