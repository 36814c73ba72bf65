// The `keybrake` CLI as a user runs it, a separate process, against the real local-mode server: keys issued with
// the CLI, Stripe called through the proxy with stripe-node, then `audit` and `spend` reading the very audit file
// local mode wrote, revocation, and the exit codes scripts rely on.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type Stripe from "stripe";
import { fileSink } from "../../lambda/audit/sink";
import { type LocalServer, startLocalServer } from "../../lambda/local";
import { type CliRun, runCli } from "../support/cli";
import { type FakeVendors, startFakeVendors } from "../support/fake-vendors";
import { dynamoEndpoint, ISSUER_TOKEN, issuerAt } from "../support/stack";
import { stripeVia } from "../support/vendor-calls";

describe("keybrake CLI against local mode", () => {
  let vendors: FakeVendors;
  let server: LocalServer;
  let env: Record<string, string>;
  const reports: CliRun[] = []; // every audit/spend run, searched for vault keys at the end
  let key1: { key_id: string; vault_key: string };
  let key2: { key_id: string; vault_key: string };
  let key3: { key_id: string; vault_key: string };
  let charged: Stripe.PaymentIntent;

  before(async () => {
    vendors = await startFakeVendors();
    const auditFile = join(mkdtempSync(join(tmpdir(), "keybrake-cli-")), "audit.jsonl");
    server = await startLocalServer({
      dynamoEndpoint: await dynamoEndpoint(),
      issuerToken: ISSUER_TOKEN,
      env: vendors.env,
      table: `t_${randomBytes(6).toString("hex")}`,
      audit: fileSink(auditFile),
    });
    env = { KEYBRAKE_URL: server.url, KEYBRAKE_API_KEY: ISSUER_TOKEN, KEYBRAKE_AUDIT_FILE: auditFile };
  });
  after(async () => {
    await server.close();
    await vendors.close();
  });

  const cli = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { ...env, ...extraEnv });
  async function report(args: string[]): Promise<CliRun> {
    const run = await cli(args);
    reports.push(run);
    assert.equal(run.code, 0, run.stderr);
    return run;
  }
  /** Settlements finish after the answer, and the audit file is written through an async stream. */
  async function settled(): Promise<void> {
    await server.idle();
    await new Promise((r) => setTimeout(r, 300));
  }
  const ISSUE_DEFAULTS: Record<string, string> = {
    "--vendor": "stripe",
    "--cap": "5",
    "--endpoint": "POST /v1/payment_intents",
    "--expires-in": "5m",
    "--label": "x",
  };
  /** `keys issue` with a valid default for each flag but those in `flags` (`null` leaves the flag out), then `more`. */
  const issueArgs = (flags: Record<string, string | null>, ...more: string[]) => [
    "keys",
    "issue",
    ...Object.entries({ ...ISSUE_DEFAULTS, ...flags }).flatMap(([flag, value]) =>
      value === null ? [] : [flag, value],
    ),
    ...more,
  ];

  it("keys issue: --json prints keybrake's answer, the default output names each field", async () => {
    const json = await cli(issueArgs({ "--label": "modal-billing/cus_1", "--cap": "50" }, "--json"));
    assert.equal(json.code, 0, json.stderr);
    const issued = JSON.parse(json.stdout);
    assert.match(issued.vault_key, /^vk_[0-9a-f]{16}_/);
    assert.equal(issued.vendor, "stripe");
    assert.equal(issued.daily_usd_cap, 50);
    assert.deepEqual(issued.allowed_endpoints, ["POST /v1/payment_intents"]);
    assert.equal(issued.agent_run_label, "modal-billing/cus_1");
    const lifetime = Date.parse(issued.expires_at) - Date.now();
    assert.ok(lifetime > 200_000 && lifetime <= 300_000, `expires in 5 minutes: ${issued.expires_at}`);
    key1 = issued;

    const human = await cli(issueArgs({ "--label": "modal-billing/cus_2", "--cap": "20" }, "--max-request", "10"));
    assert.equal(human.code, 0, human.stderr);
    const field = (name: string) => new RegExp(`^${name} +(.+)$`, "m").exec(human.stdout)?.[1];
    key2 = { key_id: field("key_id")!, vault_key: field("vault_key")! };
    assert.match(key2.key_id, /^[0-9a-f]{16}$/);
    assert.ok(key2.vault_key.startsWith(`vk_${key2.key_id}_`));
    assert.equal(field("vendor"), "stripe");
    assert.equal(field("cap"), "20.00 USD a day, at most 10.00 a call");
    assert.equal(field("label"), "modal-billing/cus_2");
    assert.equal(field("endpoints"), "POST /v1/payment_intents");
    assert.ok(!Number.isNaN(Date.parse(field("expires_at")!)));

    key3 = JSON.parse((await cli(issueArgs({ "--label": "nightly/report" }, "--json"))).stdout);
  });

  it("the keys pay through the proxy with stripe-node; one charge is refused for the cap", async () => {
    const stripe1 = stripeVia(server.url, key1.vault_key, { maxNetworkRetries: 0 });
    charged = await stripe1.paymentIntents.create({ amount: 2999, currency: "usd" });
    const refused = await stripe1.paymentIntents.create({ amount: 2500, currency: "usd" }).then(
      () => assert.fail("expected a refusal"),
      (e: unknown) => e as Stripe.errors.StripeError,
    );
    assert.equal(refused.statusCode, 429);
    await stripeVia(server.url, key2.vault_key, { maxNetworkRetries: 0 }).paymentIntents.create({
      amount: 1000,
      currency: "usd",
    });
    await stripeVia(server.url, key3.vault_key, { maxNetworkRetries: 0 }).paymentIntents.create({
      amount: 150,
      currency: "usd",
    });
    await settled();
  });

  it("audit --json: the records field by field, newest first, and a total per label", async () => {
    const { records, totals } = JSON.parse((await report(["audit", "--label", "modal-billing/*", "--json"])).stdout);
    assert.equal(records.length, 3, "key events and other labels are left out");
    const times = records.map((r: { time: string }) => Date.parse(r.time));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
      "newest first",
    );

    const [paid2, refused, paid1] = records;
    assert.deepEqual(
      pick(
        paid1,
        "event",
        "key_id",
        "agent_run_label",
        "vendor",
        "method",
        "endpoint",
        "decision",
        "settlement",
        "spent_usd",
        "upstream_status",
        "vendor_object_id",
      ),
      {
        event: "call",
        key_id: key1.key_id,
        agent_run_label: "modal-billing/cus_1",
        vendor: "stripe",
        method: "POST",
        endpoint: "/v1/payment_intents",
        decision: "forwarded",
        settlement: "settled",
        spent_usd: 29.99,
        upstream_status: 200,
        vendor_object_id: charged.id,
      },
    );
    assert.equal(paid1.reason, undefined);
    assert.deepEqual(pick(refused, "key_id", "decision", "reason", "spent_usd", "unsettled_usd", "upstream_status"), {
      key_id: key1.key_id,
      decision: "refused",
      reason: "cap_exceeded",
      spent_usd: 0,
      unsettled_usd: 0,
      upstream_status: undefined,
    });
    assert.deepEqual(pick(paid2, "key_id", "decision", "spent_usd"), {
      key_id: key2.key_id,
      decision: "forwarded",
      spent_usd: 10,
    });

    assert.deepEqual(totals, [
      { agent_run_label: "modal-billing/cus_1", calls: 2, refused: 1, spent_usd: 29.99, unsettled_usd: 0 },
      { agent_run_label: "modal-billing/cus_2", calls: 1, refused: 0, spent_usd: 10, unsettled_usd: 0 },
    ]);
  });

  it("audit prints a table of the calls and a total per label", async () => {
    const { stdout } = await report(["audit"]);
    const lines = stdout.split("\n");
    assert.match(
      lines[0]!,
      /^time +key_id +label +vendor +call +outcome +settlement +spent_usd +status +vendor_object_id$/,
    );
    const row = lines.find((l) => l.includes(charged.id))!;
    assert.match(
      row,
      new RegExp(
        `^\\S+Z +${key1.key_id} +modal-billing/cus_1 +stripe +POST /v1/payment_intents +forwarded +settled +29\\.99 +200 +${charged.id}$`,
      ),
    );
    assert.ok(
      lines.some((l) => / refused: cap_exceeded +none +0\.00 +- +-$/.test(l)),
      stdout,
    );
    assert.match(stdout, /^label +calls +refused +spent_usd +unsettled_usd$/m);
    assert.match(stdout, /^modal-billing\/cus_1 +2 +1 +29\.99 +0\.00$/m);
    assert.match(stdout, /^modal-billing\/cus_2 +1 +0 +10\.00 +0\.00$/m);
    assert.match(stdout, /^nightly\/report +1 +0 +1\.50 +0\.00$/m);
  });

  it("audit filters by key, exact label, vendor, time and count", async () => {
    const records = async (...args: string[]) =>
      JSON.parse((await report(["audit", "--json", ...args])).stdout).records as { key_id: string }[];
    assert.deepEqual(
      (await records("--key", key2.key_id)).map((r) => r.key_id),
      [key2.key_id],
    );
    assert.equal((await records("--label", "modal-billing/cus_1")).length, 2);
    assert.equal((await records("--label", "modal-billing")).length, 0, "without `*` the label is exact");
    assert.equal((await records("--vendor", "twilio")).length, 0);
    assert.equal((await records("--vendor", "stripe")).length, 4);
    assert.equal((await records("--since", new Date(Date.now() + 60_000).toISOString())).length, 0);
    assert.equal((await records("--since", "5m")).length, 4);

    const limited = await report(["audit", "--json", "--limit", "1"]);
    const { records: one, totals } = JSON.parse(limited.stdout);
    assert.equal(one.length, 1);
    assert.equal(totals.length, 3, "totals cover every match, not only the records shown");
  });

  it("keys revoke: the key's next call is refused as revoked_key", async () => {
    const revoked = await cli(["keys", "revoke", key1.key_id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, `revoked ${key1.key_id}\n`);
    const error = await stripeVia(server.url, key1.vault_key, { maxNetworkRetries: 0 })
      .paymentIntents.create({ amount: 100, currency: "usd" })
      .then(
        () => assert.fail("expected a refusal"),
        (e: unknown) => e as Stripe.errors.StripeError,
      );
    assert.equal(error.statusCode, 401);
    assert.equal(error.code, "keybrake_revoked_key");
    await settled();
    const { records } = JSON.parse((await report(["audit", "--json", "--key", key1.key_id, "--limit", "1"])).stdout);
    assert.deepEqual(pick(records[0], "decision", "reason", "spent_usd"), {
      decision: "refused",
      reason: "revoked_key",
      spent_usd: 0,
    });
  });

  it("spend --json: per vendor and label, and each vendor's total", async () => {
    const { by_label, by_vendor } = JSON.parse((await report(["spend", "--json"])).stdout);
    assert.deepEqual(
      by_label.map((r: Record<string, unknown>) =>
        pick(r, "vendor", "agent_run_label", "calls", "refused", "spent_usd", "unsettled_usd"),
      ),
      [
        {
          vendor: "stripe",
          agent_run_label: "modal-billing/cus_1",
          calls: 3,
          refused: 2,
          spent_usd: 29.99,
          unsettled_usd: 0,
        },
        {
          vendor: "stripe",
          agent_run_label: "modal-billing/cus_2",
          calls: 1,
          refused: 0,
          spent_usd: 10,
          unsettled_usd: 0,
        },
        { vendor: "stripe", agent_run_label: "nightly/report", calls: 1, refused: 0, spent_usd: 1.5, unsettled_usd: 0 },
      ],
    );
    for (const row of by_label) assert.ok(Date.now() - Date.parse(row.last_at) < 120_000, `last_at ${row.last_at}`);
    assert.equal(by_vendor.length, 1);
    assert.deepEqual(pick(by_vendor[0], "vendor", "calls", "refused", "spent_usd", "unsettled_usd"), {
      vendor: "stripe",
      calls: 5,
      refused: 2,
      spent_usd: 41.49,
      unsettled_usd: 0,
    });

    const table = (await report(["spend", "--label", "modal-billing/*"])).stdout;
    assert.match(table, /^vendor +label +calls +refused +spent_usd +unsettled_usd +last_call$/m);
    assert.match(table, /^stripe +modal-billing\/cus_1 +3 +2 +29\.99 +0\.00 +\S+Z$/m);
    assert.match(table, /^stripe +4 +2 +39\.99 +0\.00$/m, "the vendor total");
    assert.ok(!table.includes("nightly"));
  });

  it("keys show: the revoked key, with what it spent today", async () => {
    const json = await cli(["keys", "show", key1.key_id, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(pick(JSON.parse(json.stdout), "key_id", "status", "spent_today_usd"), {
      key_id: key1.key_id,
      status: "revoked",
      spent_today_usd: 29.99,
    });
    const human = await cli(["keys", "show", key1.key_id]);
    assert.match(human.stdout, /^status +revoked$/m);
    assert.match(human.stdout, /^spent_today +29\.99$/m);
    assert.match(human.stdout, /^label +modal-billing\/cus_1$/m);
    assert.match(human.stdout, /^counterparty +-$/m);
    const revokedAt = /^revoked_at +(\S+)$/m.exec(human.stdout)?.[1];
    assert.equal(revokedAt, JSON.parse(json.stdout).revoked_at, "the time it was revoked, as keybrake answered");
    const perCall = await cli(["keys", "show", key2.key_id]);
    assert.match(perCall.stdout, /^cap +20\.00 USD a day, at most 10\.00 a call$/m);
    assert.ok(!/^revoked_at/m.test(perCall.stdout), "an active key has no revoked_at line");

    const locked = await issuerAt(server.url)("POST", "/vault/keys", {
      vendor: "stripe",
      daily_usd_cap: 5,
      allowed_endpoints: ["POST /v1/payment_intents"],
      expires_in: "5m",
      agent_run_label: "locked/cus_9",
      counterparty: { stripe_customer: "cus_9" },
    });
    assert.equal(locked.status, 201, JSON.stringify(locked.body));
    const shown = await cli(["keys", "show", (locked.body as { key_id: string }).key_id]);
    assert.match(shown.stdout, /^counterparty +stripe_customer=cus_9$/m);
  });

  it("revoke --label-prefix stops the rest of the run", async () => {
    const run = await cli(["revoke", "--label-prefix", "modal-billing/"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "revoked 1 key\n", "cus_1 was already revoked");
    assert.equal(JSON.parse((await cli(["keys", "show", key2.key_id, "--json"])).stdout).status, "revoked");
    assert.equal(JSON.parse((await cli(["keys", "show", key3.key_id, "--json"])).stdout).status, "active");
  });

  it("audit and spend output never carries a vault key", () => {
    assert.ok(reports.length >= 10);
    for (const run of reports) {
      for (const key of [key1, key2, key3]) {
        assert.ok(
          !run.stdout.includes(key.vault_key) && !run.stderr.includes(key.vault_key),
          `a vault key in: keybrake ${run.args.join(" ")}`,
        );
      }
      assert.ok(!run.stdout.includes("vk_"));
    }
  });

  describe("exit codes", () => {
    const oneLine = (run: CliRun) => {
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, `one line on stderr: ${run.stderr}`);
      assert.ok(!/\n\s+at /.test(run.stderr), "no stack trace");
      assert.equal(run.stdout, "");
    };

    it("2 for a bad flag value, naming the flag", async () => {
      for (const [args, flag] of [
        [issueArgs({ "--cap": "-1" }), "--cap"],
        [issueArgs({ "--cap": "1.0000001" }), "--cap"],
        [issueArgs({}, "--max-request", "0"), "--max-request"],
        [issueArgs({ "--vendor": "paypal" }), "--vendor"],
        [issueArgs({ "--expires-in": "soon" }), "--expires-in"],
        [issueArgs({ "--endpoint": "/v1/x" }), "--endpoint"],
        [issueArgs({ "--endpoint": "post /v1/x" }), "--endpoint"],
        [issueArgs({ "--endpoint": "GET /v1/../x" }), "--endpoint"],
        [["audit", "--since", "yesterday"], "--since"],
        [["spend", "--since", "-5m"], "--since"],
        [["audit", "--limit", "0"], "--limit"],
        [["audit", "--vendor", "paypal"], "--vendor"],
      ] as [string[], string][]) {
        const run = await cli(args);
        assert.equal(run.code, 2, `keybrake ${args.join(" ")}: ${run.stderr}`);
        assert.ok(run.stderr.startsWith("keybrake: ") && run.stderr.includes(flag), `names ${flag}: ${run.stderr}`);
        oneLine(run);
      }
    });

    it("2 for a missing flag, naming it", async () => {
      for (const flag of ["--endpoint", "--label"]) {
        const run = await cli(issueArgs({ [flag]: null }));
        assert.equal(run.code, 2);
        assert.match(run.stderr, new RegExp(flag));
        oneLine(run);
      }
    });

    it("2 without KEYBRAKE_API_KEY or KEYBRAKE_URL, naming the variable", async () => {
      const noKey = await runCli(["keys", "show", key1.key_id], { KEYBRAKE_URL: server.url });
      assert.equal(noKey.code, 2);
      assert.equal(noKey.stderr, "keybrake: KEYBRAKE_API_KEY is not set (or pass --api-key)\n");
      const noUrl = await runCli(["revoke", "--label-prefix", "x/"], { KEYBRAKE_API_KEY: ISSUER_TOKEN });
      assert.equal(noUrl.code, 2);
      assert.equal(noUrl.stderr, "keybrake: KEYBRAKE_URL is not set (or pass --url)\n");
      const flags = await runCli(
        ["keys", "show", key1.key_id, "--json", "--url", server.url, "--api-key", ISSUER_TOKEN],
        {},
      );
      assert.equal(flags.code, 0, "--url and --api-key stand in for the variables");
    });

    it("2 for an unknown command", async () => {
      const run = await cli(["refund"]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^keybrake: unknown command 'refund'/);
    });

    it("1 when keybrake refuses: an unknown key id, a wrong issuer token", async () => {
      const unknown = await cli(["keys", "show", "0000000000000000"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^keybrake: 404 not_found: .+\n$/);
      oneLine(unknown);
      const revoke = await cli(["keys", "revoke", "0000000000000000"]);
      assert.equal(revoke.code, 1);
      const wrongToken = await cli(["keys", "show", key1.key_id], { KEYBRAKE_API_KEY: "kbt_wrong" });
      assert.equal(wrongToken.code, 1);
      assert.match(wrongToken.stderr, /^keybrake: 401 invalid_issuer_token: /);
    });

    it("3 when keybrake cannot be reached or the audit file cannot be read", async () => {
      const port = await closedPort();
      const unreachable = await cli(["keys", "show", key1.key_id], { KEYBRAKE_URL: `http://127.0.0.1:${port}` });
      assert.equal(unreachable.code, 3);
      assert.match(
        unreachable.stderr,
        new RegExp(`^keybrake: cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED\\n$`),
      );
      const noFile = await cli(["audit"], {
        KEYBRAKE_AUDIT_FILE: join(tmpdir(), `missing-${randomBytes(4).toString("hex")}.jsonl`),
      });
      assert.equal(noFile.code, 3);
      assert.match(noFile.stderr, /^keybrake: cannot read the audit file .+ \(ENOENT\)/);
      oneLine(noFile);
    });
  });
});

function pick(record: Record<string, unknown>, ...fields: string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f, record[f]]));
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
