// `keybrake audit` and `keybrake spend` on AWS: the real CloudWatchLogsClient, pointed by the standard
// AWS_ENDPOINT_URL_CLOUDWATCH_LOGS at a fake Logs Insights that checks what it is asked (log groups, the exact query,
// the time range, a SigV4 signature) and answers Running, then Complete in the API's shape.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { isLoopback } from "../../cli/config";
import { queryProgress } from "../../cli/progress";
import { labelMatch } from "../../lambda/audit/filter";
import { recordsQuery, totalsQuery } from "../../lambda/audit/queries";
import { runCli } from "../support/cli";
import {
  type FakeCloudWatchLogs,
  row,
  type StartedQuery,
  startFakeCloudWatchLogs,
} from "../support/fake-cloudwatch-logs";

const DEFAULT_GROUPS = ["/keybrake/keybrake/proxy", "/keybrake/keybrake/sweep", "/keybrake/keybrake/issuer"];
const RUN = "modal-billing/2026-11-22/*";
const RUN_REGEX = "like /^modal-billing\\/2026-11-22\\/.*$/";

const RECORDS = [
  row({
    "@timestamp": "2026-11-22 10:15:07.412",
    "audit.event": "call",
    "audit.key_id": "9a41c0d2e8b3f711",
    "audit.issuer": "billing",
    "audit.agent_run_label": "modal-billing/2026-11-22/cus_456",
    "audit.vendor": "stripe",
    "audit.method": "POST",
    "audit.endpoint": "/v1/payment_intents",
    "audit.decision": "refused",
    "audit.reason": "cap_exceeded",
    "audit.settlement": "none",
    "audit.reserved_usd": 0,
    "audit.settled_usd": 0,
    "audit.unsettled_usd": 0,
    "audit.spent_usd": 0,
    "audit.idempotency_key": "modal-cus_456-999900",
    "audit.latency_ms": 14,
  }),
  row({
    "@timestamp": "2026-11-22 10:15:03.120",
    "audit.event": "call",
    "audit.key_id": "3f0c9a1b2c3d4e5f",
    "audit.issuer": "billing",
    "audit.agent_run_label": "modal-billing/2026-11-22/cus_123",
    "audit.vendor": "stripe",
    "audit.method": "POST",
    "audit.endpoint": "/v1/payment_intents",
    "audit.decision": "forwarded",
    "audit.settlement": "settled",
    "audit.reserved_usd": 29.99,
    "audit.settled_usd": 29.99,
    "audit.unsettled_usd": 0,
    "audit.spent_usd": 29.99,
    "audit.upstream_status": 200,
    "audit.vendor_object_id": "pi_3QxYz2LkdIwHu7ix0abc",
    "audit.vendor_request_id": "req_8Hq2nLw0",
    "audit.idempotency_key": "modal-cus_123-2999",
    "audit.latency_ms": 412,
  }),
  row({
    "@timestamp": "2026-11-22 10:14:59.001",
    "audit.event": "reservation_swept",
    "audit.key_id": "c77e01aa5f2b9d40",
    "audit.issuer": "billing",
    "audit.agent_run_label": "modal-billing/2026-11-22/cus_789",
    "audit.vendor": "stripe",
    "audit.unsettled_usd": 12.5,
    "audit.spent_usd": 12.5,
  }),
];

/** A `stats` row of the 2026-11-22 run for one customer (by vendor when `vendor` is given), last_at that day. */
const sums = (
  customer: string,
  calls: number,
  refused: number,
  spent_usd: number | string,
  unsettled_usd: number,
  time: string,
  vendor?: string,
) =>
  row({
    ...(vendor ? { "audit.vendor": vendor } : {}),
    "audit.agent_run_label": `modal-billing/2026-11-22/${customer}`,
    calls,
    refused,
    spent_usd,
    unsettled_usd,
    last_at: `2026-11-22 ${time}`,
  });

const TOTALS = [
  sums("cus_123", 1, 0, 29.99, 0, "10:15:03.120"),
  sums("cus_789", 0, 0, 12.5, 12.5, "10:14:59.001"),
  // Logs Insights sums in floating point: 0.1 + 0.2 comes back as 0.30000000000000004.
  sums("cus_999", 2, 0, "0.30000000000000004", 0, "09:02:11.000"),
  sums("cus_456", 1, 1, 0, 0, "10:15:07.412"),
];

const SPEND = [
  sums("cus_123", 1, 0, 29.99, 0, "10:15:03.120", "stripe"),
  sums("cus_789", 0, 0, 12.5, 12.5, "10:14:59.001", "stripe"),
  sums("cus_123", 3, 1, 0.0498, 0, "10:16:40.500", "twilio"),
];

describe("keybrake audit and spend on AWS (CloudWatch Logs Insights)", () => {
  let logs: FakeCloudWatchLogs;
  let env: Record<string, string>;
  const home = mkdtempSync(join(tmpdir(), "keybrake-aws-"));

  before(async () => {
    logs = await startFakeCloudWatchLogs();
    env = {
      KEYBRAKE_URL: "https://abc123.execute-api.us-east-1.amazonaws.com",
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logs.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
      AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_CONFIG_FILE: join(home, "config"),
      AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
    };
  });
  after(() => logs.close());
  beforeEach(() => {
    logs.started.length = 0;
    logs.script = (query) => ({
      status: "Complete",
      results: query.queryString.includes("| stats") ? TOTALS : RECORDS,
    });
  });

  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });
  const byKind = (kind: "records" | "stats"): StartedQuery => {
    const found = logs.started.filter((q) => q.queryString.includes("| stats") === (kind === "stats"));
    assert.equal(found.length, 1, `one ${kind} query`);
    return found[0]!;
  };

  it("audit runs the records and totals queries over the deployment's log groups and the --since window", async () => {
    const before = Date.now();
    const run = await cli(["audit", "--label", RUN, "--since", "2026-11-22T00:00:00Z", "--json"]);
    const afterRun = Date.now();
    assert.equal(run.code, 0, run.stderr);
    assert.equal(logs.started.length, 2, "the records query and the totals query");

    const filter = { label: labelMatch(RUN), since: 0, until: 0 };
    const records = byKind("records");
    const stats = byKind("stats");
    assert.equal(records.queryString, recordsQuery(filter, 1000));
    assert.ok(records.queryString.includes(`| filter audit.agent_run_label ${RUN_REGEX}\n`));
    assert.equal(stats.queryString, totalsQuery(filter, "label"));
    assert.ok(stats.queryString.includes("by audit.agent_run_label\n| sort spent_usd desc\n| limit 10000"));
    for (const query of [records, stats]) {
      assert.deepEqual(query.logGroupNames, DEFAULT_GROUPS);
      assert.equal(query.startTime, Date.UTC(2026, 10, 22) / 1000, "the range is StartQuery's, in epoch seconds");
      assert.ok(
        query.endTime >= Math.floor(before / 1000) && query.endTime <= Math.ceil(afterRun / 1000) + 1,
        `endTime is now: ${query.endTime}`,
      );
      assert.match(
        String(query.headers.authorization),
        /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/logs\/aws4_request/,
      );
      assert.ok(query.polls >= 2, "polled until Complete");
    }
    // Not a terminal: one plain line, no redraws.
    assert.equal(run.stderr, "querying 3 log groups…\n");
  });

  it("audit --json answers in the same shapes as local mode", async () => {
    const run = await cli(["audit", "--label", RUN, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const { records, totals } = JSON.parse(run.stdout);
    assert.deepEqual(records, [
      {
        event: "call",
        time: "2026-11-22T10:15:07.412Z",
        key_id: "9a41c0d2e8b3f711",
        issuer: "billing",
        agent_run_label: "modal-billing/2026-11-22/cus_456",
        vendor: "stripe",
        method: "POST",
        endpoint: "/v1/payment_intents",
        decision: "refused",
        reason: "cap_exceeded",
        settlement: "none",
        reserved_usd: 0,
        settled_usd: 0,
        unsettled_usd: 0,
        spent_usd: 0,
        idempotency_key: "modal-cus_456-999900",
        latency_ms: 14,
      },
      {
        event: "call",
        time: "2026-11-22T10:15:03.120Z",
        key_id: "3f0c9a1b2c3d4e5f",
        issuer: "billing",
        agent_run_label: "modal-billing/2026-11-22/cus_123",
        vendor: "stripe",
        method: "POST",
        endpoint: "/v1/payment_intents",
        decision: "forwarded",
        settlement: "settled",
        reserved_usd: 29.99,
        settled_usd: 29.99,
        unsettled_usd: 0,
        spent_usd: 29.99,
        upstream_status: 200,
        vendor_object_id: "pi_3QxYz2LkdIwHu7ix0abc",
        vendor_request_id: "req_8Hq2nLw0",
        idempotency_key: "modal-cus_123-2999",
        latency_ms: 412,
      },
      {
        event: "reservation_swept",
        time: "2026-11-22T10:14:59.001Z",
        key_id: "c77e01aa5f2b9d40",
        issuer: "billing",
        agent_run_label: "modal-billing/2026-11-22/cus_789",
        vendor: "stripe",
        unsettled_usd: 12.5,
        spent_usd: 12.5,
      },
    ]);
    assert.deepEqual(totals, [
      { agent_run_label: "modal-billing/2026-11-22/cus_123", calls: 1, refused: 0, spent_usd: 29.99, unsettled_usd: 0 },
      {
        agent_run_label: "modal-billing/2026-11-22/cus_789",
        calls: 0,
        refused: 0,
        spent_usd: 12.5,
        unsettled_usd: 12.5,
      },
      { agent_run_label: "modal-billing/2026-11-22/cus_999", calls: 2, refused: 0, spent_usd: 0.3, unsettled_usd: 0 },
      { agent_run_label: "modal-billing/2026-11-22/cus_456", calls: 1, refused: 1, spent_usd: 0, unsettled_usd: 0 },
    ]);
  });

  it("audit prints the records and the totals as tables", async () => {
    const run = await cli(["audit", "--vendor", "stripe", "--key", "3f0c9a1b2c3d4e5f"]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(
      byKind("records").queryString.includes(
        '| filter audit.vendor = "stripe"\n| filter audit.key_id = "3f0c9a1b2c3d4e5f"\n',
      ),
    );
    assert.equal(byKind("records").endTime - byKind("records").startTime, 86_400, "--since defaults to 24h");
    const lines = run.stdout.split("\n");
    assert.match(
      lines[0]!,
      /^time +key_id +label +vendor +call +outcome +settlement +spent_usd +status +vendor_object_id$/,
    );
    assert.match(
      lines[1]!,
      /^2026-11-22T10:15:07Z +9a41c0d2e8b3f711 +modal-billing\/2026-11-22\/cus_456 +stripe +POST \/v1\/payment_intents +refused: cap_exceeded +none +0\.00 +- +-$/,
    );
    assert.match(
      lines[2]!,
      /^2026-11-22T10:15:03Z +3f0c9a1b2c3d4e5f +modal-billing\/2026-11-22\/cus_123 +stripe +POST \/v1\/payment_intents +forwarded +settled +29\.99 +200 +pi_3QxYz2LkdIwHu7ix0abc$/,
    );
    assert.match(
      lines[3]!,
      /^2026-11-22T10:14:59Z +c77e01aa5f2b9d40 +modal-billing\/2026-11-22\/cus_789 +stripe +- +swept +unsettled +12\.50 +- +-$/,
    );
    assert.match(
      run.stdout,
      /^label +calls +refused +spent_usd +unsettled_usd\nmodal-billing\/2026-11-22\/cus_123 +1 +0 +29\.99 +0\.00\n/m,
    );
    assert.match(run.stdout, /^modal-billing\/2026-11-22\/cus_789 +0 +0 +12\.50 +12\.50$/m);
    assert.match(run.stdout, /^modal-billing\/2026-11-22\/cus_999 +2 +0 +0\.30 +0\.00$/m);
  });

  it("spend runs one stats query per vendor and label; the vendor totals are summed exactly", async () => {
    logs.script = () => ({ status: "Complete", results: SPEND });
    const run = await cli(["spend", "--label", RUN, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(logs.started.length, 1);
    const [query] = logs.started;
    assert.equal(query!.queryString, totalsQuery({ label: labelMatch(RUN) }, "vendor_label"));
    assert.ok(query!.queryString.includes("by audit.vendor, audit.agent_run_label\n"));
    assert.equal(query!.endTime - query!.startTime, 7 * 86_400, "--since defaults to 7d");
    const { by_label, by_vendor } = JSON.parse(run.stdout);
    assert.deepEqual(by_label, [
      {
        vendor: "stripe",
        agent_run_label: "modal-billing/2026-11-22/cus_123",
        calls: 1,
        refused: 0,
        spent_usd: 29.99,
        unsettled_usd: 0,
        last_at: "2026-11-22T10:15:03.120Z",
      },
      {
        vendor: "stripe",
        agent_run_label: "modal-billing/2026-11-22/cus_789",
        calls: 0,
        refused: 0,
        spent_usd: 12.5,
        unsettled_usd: 12.5,
        last_at: "2026-11-22T10:14:59.001Z",
      },
      {
        vendor: "twilio",
        agent_run_label: "modal-billing/2026-11-22/cus_123",
        calls: 3,
        refused: 1,
        spent_usd: 0.0498,
        unsettled_usd: 0,
        last_at: "2026-11-22T10:16:40.500Z",
      },
    ]);
    assert.deepEqual(by_vendor, [
      {
        vendor: "stripe",
        calls: 1,
        refused: 0,
        spent_usd: 42.49,
        unsettled_usd: 12.5,
        last_at: "2026-11-22T10:15:03.120Z",
      },
      {
        vendor: "twilio",
        calls: 3,
        refused: 1,
        spent_usd: 0.0498,
        unsettled_usd: 0,
        last_at: "2026-11-22T10:16:40.500Z",
      },
    ]);

    const table = await cli(["spend", "--label", RUN]);
    assert.match(
      table.stdout,
      /^stripe +modal-billing\/2026-11-22\/cus_789 +0 +0 +12\.50 +12\.50 +2026-11-22T10:14:59Z$/m,
    );
    assert.match(
      table.stdout,
      /^twilio +modal-billing\/2026-11-22\/cus_123 +3 +1 +0\.0498 +0\.00 +2026-11-22T10:16:40Z$/m,
    );
    assert.match(
      table.stdout,
      /^vendor +calls +refused +spent_usd +unsettled_usd\nstripe +1 +0 +42\.49 +12\.50\ntwilio +3 +1 +0\.0498 +0\.00\n$/m,
    );
  });

  it("takes the log groups from --log-groups, else KEYBRAKE_LOG_GROUPS, and the region from --region", async () => {
    assert.equal(
      (await cli(["spend", "--json"], { KEYBRAKE_LOG_GROUPS: "/keybrake/prod/proxy, /keybrake/prod/sweep" })).code,
      0,
    );
    assert.deepEqual(logs.started[0]!.logGroupNames, ["/keybrake/prod/proxy", "/keybrake/prod/sweep"]);
    const run = await cli(["spend", "--json", "--log-groups", "/keybrake/eu/proxy", "--region", "eu-west-1"], {
      KEYBRAKE_LOG_GROUPS: "/ignored",
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "querying 1 log group…\n");
    assert.deepEqual(logs.started[1]!.logGroupNames, ["/keybrake/eu/proxy"]);
    assert.match(String(logs.started[1]!.headers.authorization), /\/eu-west-1\/logs\/aws4_request/);
  });

  it("exits 3 when a query ends Failed, or AWS refuses to start it", async () => {
    logs.script = () => ({ status: "Failed" });
    const failed = await cli(["spend"]);
    assert.equal(failed.code, 3);
    assert.match(
      failed.stderr,
      /^querying 3 log groups…\nkeybrake: the Logs Insights query [0-9a-f-]+ ended Failed\n$/,
    );
    assert.equal(failed.stdout, "");

    logs.script = (query) =>
      query.queryString.includes("| stats") ? { status: "Timeout" } : { status: "Complete", results: RECORDS };
    const timedOut = await cli(["audit", "--json"]);
    assert.equal(timedOut.code, 3);
    assert.match(timedOut.stderr, /ended Timeout\n$/);
    assert.equal(timedOut.stdout, "", "no partial output");

    logs.script = () => ({
      error: "ResourceNotFoundException",
      message: "Log group '/keybrake/keybrake/proxy' does not exist for account ID '123456789012'",
    });
    const missing = await cli(["audit"]);
    assert.equal(missing.code, 3);
    assert.match(
      missing.stderr,
      /keybrake: AWS ResourceNotFoundException: Log group '\/keybrake\/keybrake\/proxy' does not exist .*\(check --log-groups \/ KEYBRAKE_LOG_GROUPS\)\n$/,
    );
  });

  it("exits 2 for a bad --log-groups or KEYBRAKE_LOG_GROUPS", async () => {
    const flag = await cli(["audit", "--log-groups", " , "]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--log-groups/);
    const variable = await cli(["audit"], { KEYBRAKE_LOG_GROUPS: "," });
    assert.equal(variable.code, 2);
    assert.equal(variable.stderr, "keybrake: KEYBRAKE_LOG_GROUPS must be a comma-separated list of log group names\n");
    assert.equal(logs.started.length, 0);
  });

  it("reads the local audit file instead when --local is given or KEYBRAKE_URL is a loopback address", async () => {
    const file = join(home, "audit.jsonl");
    const record = {
      event: "call",
      time: new Date().toISOString(),
      key_id: "0123456789abcdef",
      agent_run_label: "local/run",
      vendor: "resend",
      method: "POST",
      endpoint: "/emails",
      decision: "forwarded",
      reserved_usd: 0.002,
      settled_usd: 0.001,
      unsettled_usd: 0,
      spent_usd: 0.001,
      settlement: "settled",
      latency_ms: 9,
      ledger_writes: 2,
    };
    writeFileSync(file, `${JSON.stringify(record)}\n`);
    for (const extra of [
      { KEYBRAKE_URL: "http://localhost:8787" },
      { KEYBRAKE_URL: "http://127.0.0.1:8787" },
      { KEYBRAKE_URL: "http://[::1]:8787" },
    ]) {
      const run = await cli(["spend", "--json"], { ...extra, KEYBRAKE_AUDIT_FILE: file });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).by_vendor[0].spent_usd, 0.001);
    }
    const forced = await cli(["audit", "--json", "--local", "--audit-file", file]);
    assert.equal(JSON.parse(forced.stdout).records[0].key_id, "0123456789abcdef");
    assert.equal(logs.started.length, 0, "Logs Insights was never asked");
  });

  it("recognises loopback addresses", () => {
    for (const url of [
      "http://127.0.0.1:8787",
      "http://127.1.2.3",
      "http://localhost:8787",
      "http://[::1]:8787",
      "http://api.localhost",
    ]) {
      assert.equal(isLoopback(new URL(url)), true, url);
    }
    for (const url of [
      "https://abc123.execute-api.us-east-1.amazonaws.com",
      "http://10.0.0.5:8787",
      "http://128.0.0.1",
      "http://localhost.example.com",
    ]) {
      assert.equal(isLoopback(new URL(url)), false, url);
    }
  });

  it("shows progress on a terminal by redrawing one line, and elsewhere as one plain line", () => {
    const tty: string[] = [];
    let clock = 1_000_000;
    const live = queryProgress({ isTTY: true, write: (t: string) => tty.push(t) }, 3, () => clock);
    assert.equal(tty.at(-1), "\r\x1b[K⠋ querying 3 log groups… 0s, 0 records scanned");
    clock += 4_200;
    live.scanned("q1", 1200);
    live.scanned("q2", 45_000);
    assert.equal(
      tty.at(-1),
      "\r\x1b[K⠹ querying 3 log groups… 4s, 45,000 records scanned",
      "the furthest of the concurrent queries",
    );
    live.done();
    assert.equal(tty.at(-1), "\r\x1b[K", "the line is cleared before results print");
    live.scanned("q1", 99);
    assert.equal(tty.at(-1), "\r\x1b[K", "nothing is drawn after done");

    const piped: string[] = [];
    const quiet = queryProgress({ isTTY: false, write: (t: string) => piped.push(t) }, 1);
    quiet.scanned("q1", 1200);
    quiet.done();
    assert.deepEqual(piped, ["querying 1 log group…\n"]);
  });
});
