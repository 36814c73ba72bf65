// The operators' CloudWatch dashboard: spend, calls and refusals per vendor, refusal reasons, latency, ledger
// health, settlement outcomes and the alarms' states. The body is built from resolved names by the pure
// `dashboardWidgets`, so it can be read (and tested) as plain JSON.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DIMENSION, METRIC } from "../lambda/audit/metrics";
import type { Vendor } from "../lambda/core/vendors";
import { SAVED_QUERIES } from "./saved-queries";

export interface DashboardSpec {
  /** The `service` dimension value: the component's name. */
  service: string;
  namespace: string;
  region: string;
  vendors: Vendor[];
  functions: { issuer: string; proxy: string; sweep: string };
  tableName: string;
  logGroupNames: string[];
  alarmArns: string[];
}

export interface DashboardInputs
  extends Omit<DashboardSpec, "region" | "functions" | "tableName" | "logGroupNames" | "alarmArns"> {
  functions: { issuer: pulumi.Input<string>; proxy: pulumi.Input<string>; sweep: pulumi.Input<string> };
  tableName: pulumi.Input<string>;
  logGroupNames: pulumi.Input<string>[];
  alarmArns: pulumi.Input<string>[];
}

/** Every graph aggregates over 5 minutes. */
export const DASHBOARD_PERIOD = 300;

export function dashboard(name: string, inputs: DashboardInputs, parent: pulumi.Resource): aws.cloudwatch.Dashboard {
  const region = aws.getRegionOutput({}, { parent }).region;
  const { issuer, proxy, sweep } = inputs.functions;
  return new aws.cloudwatch.Dashboard(
    `${name}-dashboard`,
    {
      // Dashboards are global to the account, not regional: the region in the name keeps two regions apart.
      dashboardName: region.apply((r) => dashboardName(name, r)),
      dashboardBody: pulumi
        .all([
          region,
          issuer,
          proxy,
          sweep,
          inputs.tableName,
          pulumi.all(inputs.logGroupNames),
          pulumi.all(inputs.alarmArns),
        ])
        .apply(([region, issuer, proxy, sweep, tableName, logGroupNames, alarmArns]) =>
          JSON.stringify({
            widgets: dashboardWidgets({
              ...inputs,
              region,
              functions: { issuer, proxy, sweep },
              tableName,
              logGroupNames,
              alarmArns,
            }),
          }),
        ),
    },
    { parent },
  );
}

/** `${name}-${region}` in the characters PutDashboard accepts (A-Z, a-z, 0-9, - and _), at most 255. */
export function dashboardName(name: string, region: string): string {
  const suffix = `-${region}`;
  return name.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 255 - suffix.length) + suffix;
}

type MetricLine = Array<string | Record<string, unknown>>;

export function dashboardWidgets(spec: DashboardSpec): object[] {
  const { namespace, service, vendors, region } = spec;
  /** One of our metrics under [service, ...dims]; options carry stat, period and label. */
  const ours = (metric: string, dims: Record<string, string>, options: Record<string, unknown>): MetricLine => [
    namespace,
    metric,
    DIMENSION.service,
    service,
    ...Object.entries(dims).flat(),
    { period: DASHBOARD_PERIOD, ...options },
  ];
  const sum = (metric: string, dims: Record<string, string>, label: string) =>
    ours(metric, dims, { stat: "Sum", label });
  const lambda = (metric: string, fn: string, stat: string, label: string): MetricLine => [
    "AWS/Lambda",
    metric,
    "FunctionName",
    fn,
    { stat, period: DASHBOARD_PERIOD, label },
  ];
  const graph = (title: string, x: number, y: number, metrics: MetricLine[], extra: Record<string, unknown> = {}) => ({
    type: "metric",
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region, view: "timeSeries", stacked: false, period: DASHBOARD_PERIOD, metrics, ...extra },
  });
  const search = (id: string, schema: string, terms: Record<string, string>, label: string) => ({
    id,
    label,
    expression: `SEARCH('${schema} ${Object.entries(terms)
      .map(([k, v]) => `${k}="${v}"`)
      .join(" ")}', 'Sum', ${DASHBOARD_PERIOD})`,
  });

  return [
    {
      type: "alarm",
      x: 0,
      y: 0,
      width: 24,
      height: 4,
      properties: { title: "Alarms", alarms: spec.alarmArns, sortBy: "stateUpdatedTimestamp" },
    },
    graph(
      "Spend per vendor (USD)",
      0,
      4,
      vendors.map((v) => sum(METRIC.spendUsd, { [DIMENSION.vendor]: v }, v)),
      { stacked: true, yAxis: { left: { min: 0, label: "USD" } } },
    ),
    graph(
      "Calls and refusals per vendor",
      12,
      4,
      vendors.flatMap((v) => [
        sum(METRIC.calls, { [DIMENSION.vendor]: v }, `${v} calls`),
        sum(METRIC.refusals, { [DIMENSION.vendor]: v }, `${v} refusals`),
      ]),
    ),
    graph("Refusals by reason", 0, 10, [
      [
        search(
          "reasons",
          `{${schemaName(namespace)},${DIMENSION.service},${DIMENSION.reason}}`,
          { MetricName: METRIC.refusals, [DIMENSION.service]: service },
          "${PROP('Dim.reason')}",
        ),
      ],
    ]),
    graph(
      "Proxy latency",
      12,
      10,
      [
        ...vendors.flatMap((v) =>
          ["p50", "p99"].map((stat) =>
            ours(METRIC.latencyMs, { [DIMENSION.vendor]: v }, { stat, label: `${v} ${stat}` }),
          ),
        ),
        lambda("Duration", spec.functions.proxy, "p99", "proxy Lambda p99"),
      ],
      { yAxis: { left: { min: 0, label: "ms" } } },
    ),
    graph("Ledger errors", 0, 16, [
      sum(METRIC.ledgerErrors, {}, "ledger errors (503 or failed settlement)"),
      ...(["issuer", "proxy", "sweep"] as const).map((fn) =>
        lambda("Errors", spec.functions[fn], "Sum", `${fn} Lambda errors`),
      ),
      // DynamoDB reports these per table and operation: the search finds every operation the handlers use.
      [
        search(
          "throttled",
          "{AWS/DynamoDB,TableName,Operation}",
          { MetricName: "ThrottledRequests", TableName: spec.tableName },
          "throttled ${PROP('Dim.Operation')}",
        ),
      ],
      [
        search(
          "systemerrors",
          "{AWS/DynamoDB,TableName,Operation}",
          { MetricName: "SystemErrors", TableName: spec.tableName },
          "DynamoDB system errors ${PROP('Dim.Operation')}",
        ),
      ],
    ]),
    graph("Settlement outcomes", 12, 16, [
      ...[METRIC.settled, METRIC.released, METRIC.unsettled, METRIC.retried, METRIC.swept].map((m) => sum(m, {}, m)),
      ours(METRIC.unsettledUsd, {}, { stat: "Sum", label: "kept as spent, outcome unknown (USD)", yAxis: "right" }),
    ]),
    // What a cap rollout watches: warnings before the wall, shadow caps that would have refused, vendor overage.
    graph("Caps: warnings, shadow refusals, overage", 0, 22, [
      ...vendors.flatMap((v) => [
        sum(METRIC.capThresholds, { [DIMENSION.vendor]: v }, `${v} 80 % / 100 % warnings`),
        sum(METRIC.wouldRefuse, { [DIMENSION.vendor]: v }, `${v} forwarded, a shadow cap would refuse`),
      ]),
      ours(METRIC.overageUsd, {}, { stat: "Sum", label: "vendor overage (USD)", yAxis: "right" }),
    ]),
    // Run labels are too many for metric dimensions: spend per label comes from the audit log itself.
    {
      type: "log",
      x: 0,
      y: 28,
      width: 24,
      height: 8,
      properties: {
        title: "Spend per vendor and run label (audit log)",
        region,
        view: "table",
        query: [...spec.logGroupNames.map((group) => `SOURCE '${group}'`), SAVED_QUERIES["spend-by-label"]].join(" | "),
      },
    },
  ];
}

/** A namespace in a SEARCH schema: quoted when it holds anything but letters, digits, _ and /. */
function schemaName(namespace: string): string {
  return /^[A-Za-z0-9_/]+$/.test(namespace) ? namespace : `"${namespace}"`;
}
