// The Logs Insights queries `keybrake audit` and `keybrake spend` run, as exact strings (the README prints them for the
// console), and the glob matcher local mode uses, checked against the query's regex.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSince, timeWindow } from "../../cli/since";
import { type AuditFilter, globRegexSource, labelMatch, matchesLabel } from "../../lambda/audit/filter";
import { recordsQuery, totalsQuery } from "../../lambda/audit/queries";

const window = { since: 1_763_800_000_000, until: 1_763_886_400_000 };
const f = (extra: Partial<AuditFilter> = {}): AuditFilter => ({ ...window, ...extra });

const FIELDS =
  "fields @timestamp, audit.event, audit.key_id, audit.issuer, audit.agent_run_label, audit.vendor, audit.method, " +
  "audit.endpoint, audit.decision, audit.reason, audit.settlement, audit.reservation_id, audit.reserved_usd, " +
  "audit.settled_usd, " +
  "audit.unsettled_usd, audit.spent_usd, audit.upstream_status, audit.upstream_error, audit.vendor_object_id, " +
  "audit.vendor_request_id, audit.idempotency_key, audit.budget_id, audit.latency_ms";
const EVENTS = '| filter audit.event in ["call", "reservation_swept"]';
// First per reservation (its spend is the largest among its records), then summed per group.
const stats = (groups: string) => [
  "| stats count(audit.decision) as n_calls, count(audit.reason) as n_refused, max(audit.spent_usd) as r_spent, " +
    `max(audit.unsettled_usd) as r_unsettled, max(@timestamp) as r_last by audit.reservation_id, ${groups}`,
  "| stats sum(n_calls) as calls, sum(n_refused) as refused, sum(r_spent) as spent_usd, " +
    `sum(r_unsettled) as unsettled_usd, max(r_last) as last_at by ${groups}`,
];

/** The records query's lines: every field, the spend events, then `filters`, newest first, at most `limit`. */
const records = (filters: string[], limit = 1000) =>
  [FIELDS, EVENTS, ...filters, "| sort @timestamp desc", `| limit ${limit}`].join("\n");
/** A totals query's lines: the spend events, then `filters`, summed per reservation then per `groups`, most spent first. */
const totals = (filters: string[], groups: string) =>
  [
    'filter audit.event in ["call", "reservation_swept"]',
    ...filters,
    ...stats(groups),
    "| sort spent_usd desc",
    "| limit 10000",
  ].join("\n");

describe("Logs Insights records query", () => {
  it("with no filter: the spend events only, newest first", () => {
    assert.equal(recordsQuery(f(), 1000), records([]));
  });

  it("with a vendor", () => {
    assert.equal(recordsQuery(f({ vendor: "stripe" }), 1000), records(['| filter audit.vendor = "stripe"']));
  });

  it("with an exact label (no `*`)", () => {
    assert.equal(
      recordsQuery(f({ label: labelMatch("modal-billing/cus_1") }), 50),
      records(['| filter audit.agent_run_label = "modal-billing/cus_1"'], 50),
    );
  });

  it("with a label glob: a regex literal, metacharacters and `/` escaped", () => {
    assert.equal(
      recordsQuery(f({ label: labelMatch("modal-billing/*") }), 1000),
      records(["| filter audit.agent_run_label like /^modal-billing\\/.*$/"]),
    );
    assert.equal(
      recordsQuery(f({ label: labelMatch("a.b/*") }), 1000),
      records(["| filter audit.agent_run_label like /^a\\.b\\/.*$/"]),
    );
  });

  it("with a key id", () => {
    assert.equal(
      recordsQuery(f({ keyId: "3f0c9a1b2c3d4e5f" }), 1000),
      records(['| filter audit.key_id = "3f0c9a1b2c3d4e5f"']),
    );
  });

  it("with a budget id: the reservations that charged it", () => {
    assert.equal(
      recordsQuery(f({ budgetId: "9b1e0c4d2a6f8e10" }), 1000),
      records(['| filter audit.budget_id = "9b1e0c4d2a6f8e10"']),
    );
  });

  it("with a vendor and a label", () => {
    assert.equal(
      recordsQuery(f({ vendor: "twilio", label: labelMatch("notify/*/sms") }), 1000),
      records(['| filter audit.vendor = "twilio"', "| filter audit.agent_run_label like /^notify\\/.*\\/sms$/"]),
    );
  });

  it('escapes `"` and `\\` in strings and `/`, `"` in regex literals, so a value cannot end its literal', () => {
    assert.equal(
      recordsQuery(f({ label: labelMatch('x" | stats count() by @log #\\'), keyId: 'k"1' }), 10),
      records(
        ['| filter audit.agent_run_label = "x\\" | stats count() by @log #\\\\"', '| filter audit.key_id = "k\\"1"'],
        10,
      ),
    );
    assert.equal(
      recordsQuery(f({ label: labelMatch('a/b"c/ | limit 1 /*') }), 10),
      records(['| filter audit.agent_run_label like /^a\\/b\\"c\\/ \\| limit 1 \\/.*$/'], 10),
    );
  });

  it("refuses control characters (a newline would start a new query line)", () => {
    assert.throws(() => recordsQuery(f({ keyId: "a\n| limit 1" }), 10), /control characters/);
    assert.throws(() => recordsQuery(f({ label: labelMatch("a\n*") }), 10), /control characters/);
  });
});

describe("Logs Insights totals queries", () => {
  it("audit: per label, most spent first, every label", () => {
    assert.equal(
      totalsQuery(f({ label: labelMatch("modal-billing/*") }), "label"),
      totals(["| filter audit.agent_run_label like /^modal-billing\\/.*$/"], "audit.agent_run_label"),
    );
  });

  it("spend: per vendor and label", () => {
    assert.equal(
      totalsQuery(f({ vendor: "resend" }), "vendor_label"),
      totals(['| filter audit.vendor = "resend"'], "audit.vendor, audit.agent_run_label"),
    );
  });
});

describe("label globs", () => {
  it("turn into anchored regexes", () => {
    assert.equal(globRegexSource("modal-billing/*"), "^modal-billing\\/.*$");
    assert.equal(globRegexSource("*"), "^.*$");
    assert.equal(globRegexSource("a+b(c)[d]{e}|f?^$\\"), "^a\\+b\\(c\\)\\[d\\]\\{e\\}\\|f\\?\\^\\$\\\\$");
  });

  it("match locally exactly what the query's regex matches", () => {
    const table: [pattern: string, label: string, matches: boolean][] = [
      ["modal-billing/*", "modal-billing/cus_1", true],
      ["modal-billing/*", "modal-billing/2026-11-22/cus_1", true], // `*` crosses `/`
      ["modal-billing/*", "modal-billing/", true],
      ["modal-billing/*", "modal-billingX/cus_1", false],
      ["modal-billing/*", "x/modal-billing/cus_1", false], // anchored at the start
      ["a.b/*", "a.b/run", true],
      ["a.b/*", "aXb/run", false], // `.` is literal
      ["*/cus_1", "modal-billing/cus_1", true],
      ["*/cus_1", "modal-billing/cus_12", false], // anchored at the end
      ["run(1)*", "run(1)-retry", true],
      ["run(1)*", "run1-retry", false],
      ['say "hi"/*', 'say "hi"/x', true],
      ["modal-billing/cus_1", "modal-billing/cus_1", true], // exact without `*`
      ["modal-billing/cus_1", "modal-billing/cus_12", false],
      ["a.b", "aXb", false],
    ];
    for (const [pattern, label, expected] of table) {
      const match = labelMatch(pattern);
      assert.equal(matchesLabel(match, label), expected, `${pattern} vs ${label}`);
      // The regex the query sends, read by a regex engine, agrees (exact labels are string equality there).
      if (match.kind === "glob")
        assert.equal(new RegExp(match.regex).test(label), expected, `query regex ${match.regex} vs ${label}`);
    }
    assert.equal(matchesLabel(labelMatch("*"), undefined), false, "a record with no label matches no label filter");
  });
});

describe("--since", () => {
  it("reads durations with the key-lifetime parser, and ISO 8601 times as UTC", () => {
    assert.deepEqual(parseSince("24h"), { seconds: 86_400 });
    assert.deepEqual(parseSince("30s"), { seconds: 30 });
    assert.deepEqual(parseSince("7d"), { seconds: 604_800 });
    assert.deepEqual(parseSince("2026-11-22T09:00:00Z"), { at: Date.UTC(2026, 10, 22, 9) });
    assert.deepEqual(parseSince("2026-11-22T09:00"), { at: Date.UTC(2026, 10, 22, 9) });
    assert.deepEqual(parseSince("2026-11-22"), { at: Date.UTC(2026, 10, 22) });
    assert.deepEqual(parseSince("2026-11-22T10:00:00+01:00"), { at: Date.UTC(2026, 10, 22, 9) });
    for (const bad of ["yesterday", "-5m", "5w", "", "Nov 22", "2026-13-45"])
      assert.equal(parseSince(bad), undefined, bad);
  });

  it("makes a window of whole seconds ending now", () => {
    const now = Date.UTC(2026, 10, 22, 12, 0, 0, 250);
    assert.deepEqual(timeWindow({ seconds: 86_400 }, now), {
      since: Date.UTC(2026, 10, 21, 12, 0, 1),
      until: Date.UTC(2026, 10, 22, 12, 0, 1),
    });
    assert.deepEqual(timeWindow({ at: Date.UTC(2026, 10, 22, 9, 0, 0, 900) }, now), {
      since: Date.UTC(2026, 10, 22, 9),
      until: Date.UTC(2026, 10, 22, 12, 0, 1),
    });
  });
});
