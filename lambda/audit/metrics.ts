// CloudWatch metrics derived from audit records, published as Embedded Metric Format through Powertools.
// Every metric carries the `service` dimension, whose value is the deployment's name (KEYBRAKE_DEPLOYMENT),
// so two keybrakes in one account never mix. Dimensions are low-cardinality only (vendor, issuer, refusal
// reason); run labels are high-cardinality and are answered from the audit log instead.
//
// Dimension sets: the call and sweep metrics are published under [service], [service, vendor] and
// [service, issuer]; `Refusals` also under [service, reason].
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { MetricsOptions } from "@aws-lambda-powertools/metrics/types";
import type { AuditRecord, CallRecord } from "./record";

export const METRICS_NAMESPACE = "Keybrake";

export const METRIC = {
  /** Every proxied call, forwarded or refused. */
  calls: "Calls",
  forwarded: "Forwarded",
  refusals: "Refusals",
  /** USD the ledger keeps (settled + unsettled), from calls and swept reservations. */
  spendUsd: "SpendUSD",
  /** USD kept as spent because the outcome was unknown. */
  unsettledUsd: "UnsettledUSD",
  /** USD a vendor charged above the reservation (Twilio's real price above the estimate): the alarm watches it. */
  overageUsd: "OverageUSD",
  /** Settlement outcomes of forwarded calls. */
  settled: "Settled",
  released: "Released",
  unsettled: "Unsettled",
  retried: "Retried",
  /** Reservations the sweep ended. */
  swept: "Swept",
  /** Proxy time from arrival to answer, vendor included. */
  latencyMs: "LatencyMs",
  /** The ledger could not be reached (503, nothing forwarded) or a settlement write failed. */
  ledgerErrors: "LedgerErrors",
  /** A cap crossed 80 % or reached 100 % (one per cap, threshold and UTC day). */
  capThresholds: "CapThresholds",
  /** Calls forwarded although a cap in shadow mode would have refused them. */
  wouldRefuse: "WouldRefuse",
} as const;

export const DIMENSION = { service: "service", vendor: "vendor", issuer: "issuer", reason: "reason" } as const;
/** The issuer dimension's value when a call was refused before its key was known. */
export const NO_ISSUER = "none";

/** The Lambdas' Metrics settings: the component sets the namespace and names the deployment. */
export function metricsOptions(env: NodeJS.ProcessEnv): MetricsOptions {
  return {
    namespace: env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
    serviceName: env.KEYBRAKE_DEPLOYMENT || "keybrake",
  };
}

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/** One EMF document: metrics sharing dimension sets (each set is extended with `service`). */
export interface MetricBlob {
  dimensionSets: Array<Record<string, string>>;
  metrics: Array<{ name: string; unit: Unit; value: number }>;
}

const count = (name: string) => ({ name, unit: MetricUnit.Count, value: 1 });
const usd = (name: string, value: number) => ({ name, unit: MetricUnit.NoUnit, value });

/** The metrics one audit record stands for (key issue and revoke events have none). */
export function metricsFor(record: AuditRecord): MetricBlob[] {
  if (record.event === "call") return callMetrics(record);
  if (record.event === "cap_threshold") {
    return [{ dimensionSets: spendDimensions(record.vendor, record.issuer), metrics: [count(METRIC.capThresholds)] }];
  }
  // Only a swept `pending` marker is spend no call record carried. Any other marker the sweep closes (an exact
  // call's, a settled one's) was most likely carried by its call record already: counting it again would
  // double the metric, so a crash right after such a call is the spend metrics can miss (the audit cannot).
  if (record.event !== "reservation_swept" || record.swept_as !== "pending") return [];
  return [
    {
      dimensionSets: spendDimensions(record.vendor, record.issuer),
      metrics: [
        count(METRIC.swept),
        usd(METRIC.spendUsd, record.spent_usd),
        usd(METRIC.unsettledUsd, record.unsettled_usd),
      ],
    },
  ];
}

const SETTLEMENT_METRIC: Partial<Record<CallRecord["settlement"], string>> = {
  settled: METRIC.settled,
  released: METRIC.released,
  unsettled: METRIC.unsettled,
  retry: METRIC.retried,
};

function callMetrics(record: CallRecord): MetricBlob[] {
  const metrics = [
    count(METRIC.calls),
    count(record.decision === "forwarded" ? METRIC.forwarded : METRIC.refusals),
    usd(METRIC.spendUsd, record.spent_usd),
    { name: METRIC.latencyMs, unit: MetricUnit.Milliseconds, value: record.latency_ms },
  ];
  const outcome = SETTLEMENT_METRIC[record.settlement];
  if (outcome) metrics.push(count(outcome));
  if (record.unsettled_usd > 0) metrics.push(usd(METRIC.unsettledUsd, record.unsettled_usd));
  if (record.overage_usd !== undefined && record.overage_usd > 0)
    metrics.push(usd(METRIC.overageUsd, record.overage_usd));
  if (record.reason === "ledger_unavailable" || record.ledger_error) metrics.push(count(METRIC.ledgerErrors));
  if (record.would_refuse) metrics.push(count(METRIC.wouldRefuse));
  const blobs: MetricBlob[] = [{ dimensionSets: spendDimensions(record.vendor, record.issuer ?? NO_ISSUER), metrics }];
  if (record.reason)
    blobs.push({ dimensionSets: [{ [DIMENSION.reason]: record.reason }], metrics: [count(METRIC.refusals)] });
  return blobs;
}

function spendDimensions(vendor: string, issuer: string): Array<Record<string, string>> {
  return [{}, { [DIMENSION.vendor]: vendor }, { [DIMENSION.issuer]: issuer }];
}

/**
 * Publishes a record's metrics. Synchronous from first dimension to flush, so concurrent requests in one
 * process (local mode) cannot interleave their dimensions on the shared module-scope instance.
 */
export function publishMetrics(metrics: Metrics, record: AuditRecord): void {
  for (const blob of metricsFor(record)) {
    for (const set of blob.dimensionSets) metrics.addDimensions(set);
    for (const m of blob.metrics) metrics.addMetric(m.name, m.unit, m.value);
    metrics.publishStoredMetrics();
  }
}
