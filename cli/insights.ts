// The AWS path of `audit` and `spend`: CloudWatch Logs Insights queries over the deployment's log groups
// (StartQuery, then GetQueryResults until the query ends), answered in the same shapes as local mode.
import { setTimeout as sleep } from "node:timers/promises";
import {
  type CloudWatchLogsClient,
  GetQueryResultsCommand,
  type ResultField,
  StartQueryCommand,
  StopQueryCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import type { AuditFilter, SpendRecord } from "../lambda/audit/filter";
import { MAX_ROWS, RECORD_FIELDS, recordsQuery, totalsQuery } from "../lambda/audit/queries";
import { sumUsd } from "../lambda/core/money";
import type { AuditSource } from "./audit-source";
import { IncompleteError, UsageError } from "./errors";
import { type ProgressStream, queryProgress } from "./progress";
import { bySpend, type LabelTotals } from "./totals";

export type LogsClient = Pick<CloudWatchLogsClient, "send"> & Partial<Pick<CloudWatchLogsClient, "config">>;

export interface InsightsOptions {
  client: LogsClient;
  logGroups: string[];
  stderr: ProgressStream;
  warn(message: string): void;
  /** What to say when no AWS region can be found (checked before any query starts). */
  noRegion: string;
}

const NUMERIC = new Set<string>([
  "reserved_usd",
  "settled_usd",
  "unsettled_usd",
  "spent_usd",
  "upstream_status",
  "latency_ms",
]);
const FINISHED_BADLY = new Set(["Failed", "Cancelled", "Timeout", "Unknown"]);

export function insightsAuditSource(options: InsightsOptions): AuditSource {
  const run = (filter: AuditFilter, queries: string[]) => runQueries(options, filter, queries);
  return {
    async audit(filter, limit) {
      const [records, totals] = await run(filter, [recordsQuery(filter, limit), totalsQuery(filter, "label")]);
      warnIfCapped(options, totals!);
      return {
        records: records!.map(toRecord),
        totals: bySpend(totals!.map(toLabelTotals)),
        truncated: records!.length >= limit,
      };
    },
    async spend(filter) {
      const [rows] = await run(filter, [totalsQuery(filter, "vendor_label")]);
      warnIfCapped(options, rows!);
      return bySpend(rows!.map((row) => ({ vendor: row["audit.vendor"] ?? "", ...toLabelTotals(row) })));
    },
  };
}

type Row = Record<string, string>;

/**
 * Runs the queries concurrently over the filter's time range. When one fails, or on Ctrl-C, the others are
 * stopped (StopQuery): a query left running keeps scanning, and Logs Insights bills by the byte scanned.
 */
async function runQueries(options: InsightsOptions, filter: AuditFilter, queries: string[]): Promise<Row[][]> {
  // A missing region is configuration, reported alone, before the progress line and any query.
  const region = options.client.config?.region;
  if (region) await send(options, () => region());
  const progress = queryProgress(options.stderr, options.logGroups.length);
  const running = new Set<string>();
  const abandon = new AbortController();
  const stopRunning = () =>
    Promise.race([
      Promise.all(
        [...running].map((queryId) => options.client.send(new StopQueryCommand({ queryId })).catch(() => undefined)),
      ),
      sleep(2000, undefined, { ref: false }),
    ]);
  const interrupt = () => {
    abandon.abort();
    progress.done();
    void stopRunning().then(() => process.exit(130));
  };
  process.once("SIGINT", interrupt);
  const runOne = async (queryString: string): Promise<Row[]> => {
    const started = await send(options, () =>
      options.client.send(
        new StartQueryCommand({
          logGroupNames: options.logGroups,
          queryString,
          startTime: Math.floor(filter.since / 1000),
          endTime: Math.floor(filter.until / 1000),
          limit: MAX_ROWS,
        }),
      ),
    );
    const queryId = started.queryId!;
    running.add(queryId);
    const results = await poll(options, queryId, abandon.signal, (scanned) => progress.scanned(queryId, scanned));
    running.delete(queryId);
    return results.map(rowObject);
  };
  const outcomes = queries.map((query) =>
    runOne(query).catch((error: unknown) => {
      abandon.abort();
      throw error;
    }),
  );
  try {
    return await Promise.all(outcomes);
  } catch (error) {
    await Promise.allSettled(outcomes); // the others notice the abort at once; none is left mid-request
    await stopRunning();
    throw error;
  } finally {
    process.removeListener("SIGINT", interrupt);
    progress.done();
  }
}

async function poll(
  options: InsightsOptions,
  queryId: string,
  abandon: AbortSignal,
  scanned: (records: number) => void,
): Promise<ResultField[][]> {
  let wait = 300; // then ×1.5 per poll, up to 2 s
  for (;;) {
    await sleep(wait, undefined, { signal: abandon }).catch(() => {
      throw new IncompleteError("the query was abandoned");
    });
    wait = Math.min(wait * 1.5, 2000);
    const answer = await send(options, () => options.client.send(new GetQueryResultsCommand({ queryId })));
    scanned(answer.statistics?.recordsScanned ?? 0);
    if (answer.status === "Complete") return answer.results ?? [];
    if (FINISHED_BADLY.has(answer.status ?? "Unknown")) {
      throw new IncompleteError(`the Logs Insights query ${queryId} ended ${answer.status}`);
    }
  }
}

/** Any SDK failure is "could not complete" (3), except a missing region, which is configuration (2). */
async function send<T>(options: InsightsOptions, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const e = error as Error;
    if (/region is missing/i.test(e.message)) throw new UsageError(options.noRegion);
    const hint = e.name === "ResourceNotFoundException" ? " (check --log-groups / KEYBRAKE_LOG_GROUPS)" : "";
    throw new IncompleteError(`AWS ${e.name}: ${e.message}${hint}`);
  }
}

function rowObject(fields: ResultField[]): Row {
  const row: Row = {};
  for (const { field, value } of fields) if (field && value !== undefined) row[field] = value;
  return row;
}

/** Logs Insights shows times as `2026-11-22 10:15:03.123` (UTC); the CLI speaks ISO 8601 like the records. */
function insightsTime(value: string): string {
  if (/^\d+$/.test(value)) return new Date(Number(value)).toISOString();
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/.exec(value);
  const ms = Date.parse(m ? `${m[1]}T${m[2]}Z` : value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

/** Logs Insights sums in floating point; the CLI rounds back to the micro-USD the records were written in. */
const usd = (value: string | undefined): number => (value === undefined ? 0 : sumUsd([Number(value)]));

function toRecord(row: Row): SpendRecord {
  const record: Record<string, unknown> = { event: row["audit.event"], time: insightsTime(row["@timestamp"] ?? "") };
  for (const field of RECORD_FIELDS) {
    const value = row[`audit.${field}`];
    if (value !== undefined && field !== "event") record[field] = NUMERIC.has(field) ? Number(value) : value;
  }
  return record as unknown as SpendRecord;
}

function toLabelTotals(row: Row): LabelTotals {
  return {
    agent_run_label: row["audit.agent_run_label"] ?? null,
    calls: Number(row.calls ?? 0),
    refused: Number(row.refused ?? 0),
    spent_usd: usd(row.spent_usd),
    unsettled_usd: usd(row.unsettled_usd),
    last_at: row.last_at ? insightsTime(row.last_at) : null,
  };
}

function warnIfCapped(options: InsightsOptions, rows: unknown[]): void {
  if (rows.length >= MAX_ROWS)
    options.warn(`totals cover the first ${MAX_ROWS.toLocaleString("en-US")} labels only; narrow --label or --since`);
}
