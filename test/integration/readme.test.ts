// The README's quick start as a reader runs it: its `npm start` block in a shell of its own, its curl and CLI blocks in
// another (jq included), docs/cli.md's local session after them, and the answers docs/http-api.md shows, each command's
// output compared with what the docs print under it (ids and times aside). The only changes are the port (a free one
// instead of 8787) and where Stripe is (a fake). Then Ctrl-C must stop all of it, Java included. The SDK table's rows
// run against local mode with each official SDK configured as the row says.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Resend } from "resend";
import Stripe from "stripe";
import twilio from "twilio";
import { type FakeVendors, SECRETS, startFakeVendors } from "../support/fake-vendors";
import { consoleSteps, ROOT, type Step, shapeMatches, shellSteps, snippet } from "../support/markdown";
import {
  type Background,
  background,
  checkoutCliDir,
  cleanEnv,
  killBackgrounds,
  portClosed,
  type RanStep,
  runSession,
} from "../support/sessions";
import { type Stack, startStack } from "../support/stack";

const DOCUMENTED_URL = "http://127.0.0.1:8787";

function assertSteps(ran: RanStep[], where: string): void {
  for (const step of ran) {
    assert.equal(step.status, 0, `${where}: \`${step.command}\` exited ${step.status}:\n${step.output}`);
    if (step.expected.trim())
      assert.ok(
        shapeMatches(step.output, step.expected),
        `${where}: \`${step.command}\` printed\n${step.output}\nbut the docs show\n${step.expected}`,
      );
  }
}

describe("the README's local quick start and docs/cli.md's local session, run as written", () => {
  let vendors: FakeVendors;
  let start: Background;
  let url: string;
  let cliDir: string;
  let auditFile: string;
  let sessionEnv: Record<string, string>;
  const issuerToken = /export KEYBRAKE_API_KEY=(\S+)/.exec(snippet("README.md", "quickstart-start"))![1]!;
  const stripeSecret = /export STRIPE_SECRET_KEY=(\S+)/.exec(snippet("README.md", "quickstart-start"))![1]!;
  let quickStart: RanStep[];

  before(async () => {
    vendors = await startFakeVendors();
    cliDir = checkoutCliDir();
    auditFile = join(cliDir, "audit.jsonl");
    start = background("bash", ["-c", snippet("README.md", "quickstart-start")], {
      cwd: ROOT,
      env: cleanEnv({ KEYBRAKE_PORT: "0", KEYBRAKE_STRIPE_URL: vendors.stripe.url, KEYBRAKE_AUDIT_FILE: auditFile }),
    });
    url = (await start.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 90_000))[1]!;
    await start.waitFor(/^Ctrl-C stops it/m);
    sessionEnv = cleanEnv({ KEYBRAKE_API_KEY: issuerToken, KEYBRAKE_AUDIT_FILE: auditFile });
  });
  after(async () => {
    killBackgrounds();
    await vendors.close();
  });

  const session = (steps: Step[]) =>
    runSession(steps, { cwd: cliDir, env: sessionEnv, substitute: { [DOCUMENTED_URL]: url } });

  it("npm start says what it did, and where Stripe's calls go", () => {
    const out = start.output();
    assert.match(out, /^keybrake: starting DynamoDB Local \(Java\) on port \d+$/m);
    assert.match(out, /^ {2}audit records {2}.*audit\.jsonl \(keybrake audit and keybrake spend read them\)$/m);
    assert.match(out, /^ {2}issuer token {3}yours, from KEYBRAKE_API_KEY$/m);
    assert.ok(out.includes(`    stripe  ${vendors.stripe.url}  (KEYBRAKE_STRIPE_URL)\n`), out);
    assert.match(out, /^ {4}twilio {2}off \(set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to enable it\)$/m);
    assert.ok(out.includes(`export KEYBRAKE_URL=${url} (and the same KEYBRAKE_API_KEY)`));
    assert.ok(!out.includes(issuerToken), "a token the user chose is never echoed");
    assert.ok(!/NodeVersionSupportWarning|\n\s+at /.test(out), "no SDK notice, no stack trace");
  });

  it("the curl session: a key, a charge, a refusal past the cap, and the audit trail", async () => {
    quickStart = await session([
      ...shellSteps(snippet("README.md", "quickstart-issue")),
      ...shellSteps(snippet("README.md", "quickstart-charge")),
      ...shellSteps(snippet("README.md", "quickstart-audit")),
    ]);
    assertSteps(quickStart, "README quick start");
    assert.equal(vendors.stripe.received.length, 1, "the 9,999 USD charge never reached Stripe");
    assert.equal(
      vendors.stripe.received[0]!.headers.authorization,
      `Bearer ${stripeSecret}`,
      "the real secret went on",
    );
    const audit = quickStart.find((s) => s.command.startsWith("npx keybrake audit"))!.output;
    assert.match(audit, /modal-billing\/cus_123 +stripe +POST \/v1\/payment_intents +forwarded +settled +29\.99 +200/);
    assert.match(audit, /refused: cap_exceeded/);
    const spend = quickStart.find((s) => s.command.startsWith("npx keybrake spend"))!.output;
    assert.match(spend, /^stripe +modal-billing\/cus_123 +2 +1 +29\.99 +0\.00 /m);
  });

  it("docs/http-api.md's issued key and 429 are what the quick start got", () => {
    const issued = quickStart.find((s) => s.command.startsWith('echo "$KEY_JSON"'))!.output;
    assert.ok(shapeMatches(issued, snippet("docs/http-api.md", "issued-key")), issued);
    const refused = quickStart.filter((s) => s.command.includes("/stripe/v1/payment_intents"))[1]!.output;
    assert.ok(shapeMatches(refused, snippet("docs/http-api.md", "cap-refusal")), refused);
  });

  it("docs/http-api.md's key status is what GET /vault/keys/{key_id} answers", async () => {
    const keyId = (
      JSON.parse(quickStart.find((s) => s.command.startsWith('echo "$KEY_JSON"'))!.output) as {
        key_id: string;
      }
    ).key_id;
    const body = await (
      await fetch(`${url}/vault/keys/${keyId}`, { headers: { authorization: `Bearer ${issuerToken}` } })
    ).text();
    assert.ok(shapeMatches(body, snippet("docs/http-api.md", "key-status")), body);
  });

  it("local mode's call record has only fields docs/audit.md documents", () => {
    const page = readFileSync(join(ROOT, "docs", "audit.md"), "utf8");
    const table = page.slice(page.indexOf("| field | meaning |"), page.indexOf("## Key events"));
    const records = readFileSync(auditFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const call = records.find((r) => r.event === "call" && r.decision === "forwarded")!;
    for (const field of Object.keys(call).filter((f) => f !== "event"))
      assert.ok(table.includes(`\`${field}\``), `${field} is documented in docs/audit.md`);
  });

  it("docs/cli.md's local session: issue, charge, audit, show, revoke, and exit codes", async () => {
    const ran = await session([
      ...consoleSteps(snippet("docs/cli.md", "cli-local-session")),
      ...consoleSteps(snippet("docs/cli.md", "cli-local-charges")),
      ...consoleSteps(snippet("docs/cli.md", "cli-local-report")),
    ]);
    const failing = ran.filter((s) => s.command.startsWith("npx keybrake keys show nope"));
    assert.equal(failing.length, 1);
    assertSteps(ran, "docs/cli.md");
  });

  it("docs/cli.md's `npx keybrake --help` in a checkout", async () => {
    const [help] = await session(shellSteps(snippet("docs/cli.md", "cli-help")));
    assert.equal(help!.status, 0, help!.output);
    assert.match(help!.output, /^Usage: keybrake \[options\] \[command\]$/m);
    assert.match(help!.output, /^ {2}local +run keybrake locally/m);
  });

  it("docs/http-api.md's revoke by label prefix", async () => {
    const steps = shellSteps(snippet("docs/http-api.md", "revoke-by-label"));
    const shown = Number(/"revoked":(\d+)/.exec(steps[0]!.expected)![1]);
    const issuer = (method: string, path: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${issuerToken}` },
        body: JSON.stringify(body),
      });
    await issuer("POST", "/vault/revoke", { agent_run_label_prefix: "modal-billing/" }); // the state the docs show:
    for (let i = 0; i < shown; i++) {
      const res = await issuer("POST", "/vault/keys", {
        vendor: "stripe",
        daily_usd_cap: 5,
        allowed_endpoints: ["POST /v1/payment_intents"],
        expires_in: "5m",
        agent_run_label: `modal-billing/batch-7/cus_${i}`,
      });
      assert.equal(res.status, 201);
    }
    assertSteps(await session(steps), "docs/http-api.md");
  });

  it("Ctrl-C stops npm start, the server and DynamoDB Local", async () => {
    const ddbPort = Number(/DynamoDB {7}http:\/\/127\.0\.0\.1:(\d+)/.exec(start.output())![1]);
    process.kill(-start.child.pid!, "SIGINT");
    assert.ok(await start.groupGone(), `processes left after Ctrl-C:\n${start.output()}`);
    assert.ok(await portClosed(Number(new URL(url).port)));
    assert.ok(await portClosed(ddbPort), "DynamoDB Local stopped");
    assert.match(start.output(), /^keybrake: SIGINT: stopping\nkeybrake: stopped$/m);
  });
});

describe("the README's SDK table, row by row, against local mode", () => {
  let stack: Stack;
  const table = readFileSync(join(ROOT, "README.md"), "utf8").split("## Pointing each SDK at the proxy")[1]!;
  const rows = new Map(
    [...table.matchAll(/^\| ([a-z-]+) \| (.+?) \| (.+?) \|$/gm)]
      .filter((m) => m[1] !== "SDK" && !m[1]!.startsWith("-"))
      .map((m) => [m[1]!, { base: codeSpans(m[2]!), key: codeSpans(m[3]!) }]),
  );
  const DOC_HOST = "https://keybrake.example.com";
  /** The row's setting with the documented host replaced by local mode's. */
  const local = (code: string) => code.split(DOC_HOST).join(stack.url);

  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const issue = (vendor: string, endpoint: string) =>
    stack.issue({
      vendor,
      daily_usd_cap: 5,
      allowed_endpoints: [endpoint],
      expires_in: "5m",
      agent_run_label: `sdk/${vendor}`,
    });

  it("has the rows this test knows how to run (and says which it cannot)", () => {
    assert.deepEqual(
      [...rows.keys()],
      ["stripe-node", "stripe-python", "curl", "twilio-node", "resend-node", "resend-python"],
    );
  });

  it("stripe-node: host, port and protocol only", async () => {
    const { vault_key: vk } = await issue("stripe", "POST /v1/payment_intents");
    const [setting] = rows.get("stripe-node")!.base;
    const port = new URL(stack.url).port;
    const code = setting!
      .replace('"keybrake.example.com"', '"127.0.0.1"')
      .replace("443", port)
      .replace('"https"', '"http"');
    const stripe = new Function("Stripe", "vk", `return ${code};`)(Stripe, vk) as Stripe;
    const intent = await stripe.paymentIntents.create({ amount: 100, currency: "usd" });
    assert.match(intent.id, /^pi_/);
  });

  it("stripe-python: api_base and api_key", async () => {
    const { vault_key: vk } = await issue("stripe", "POST /v1/payment_intents");
    const { base, key } = rows.get("stripe-python")!;
    const script = [
      "import stripe",
      `vk = ${JSON.stringify(vk)}`,
      local(base[0]!),
      key[0]!,
      'print(stripe.PaymentIntent.create(amount=100, currency="usd")["id"])',
    ].join("\n");
    const { stdout } = await promisify(execFile)("/usr/bin/python3", ["-c", script]);
    assert.match(stdout, /^pi_/);
  });

  it("curl: the /stripe prefix, with HTTP Basic and with a Bearer header", async () => {
    const { vault_key: vk } = await issue("stripe", "POST /v1/payment_intents");
    const { base, key } = rows.get("curl")!;
    const target = local(base[0]!).replace("/v1/...", "/v1/payment_intents");
    for (const auth of key) {
      const command = `curl -s ${target} ${auth.replaceAll("vk_…", vk)} -d amount=100 -d currency=usd`;
      const { stdout } = await promisify(execFile)("bash", ["-c", command]);
      assert.match(JSON.parse(stdout).id, /^pi_/, command);
    }
  });

  it("twilio-node: baseUrl, and the vault key as the auth token", async () => {
    const endpoint = `POST /2010-04-01/Accounts/${SECRETS.TWILIO_ACCOUNT_SID}/Messages.json`;
    const { vault_key: vk } = await issue("twilio", endpoint);
    const { base, key } = rows.get("twilio-node")!;
    const client = new Function(
      "twilio",
      "accountSid",
      "vk",
      `const client = ${key[0]}; ${local(base[0]!)}; return client;`,
    )(twilio, SECRETS.TWILIO_ACCOUNT_SID, vk) as ReturnType<typeof twilio>;
    const message = await client.messages.create({ to: "+15005550006", from: "+15005550001", body: "hi" });
    assert.match(message.sid, /^SM/);
  });

  it("resend-node: RESEND_BASE_URL, or the baseUrl option", async () => {
    const { vault_key: vk } = await issue("resend", "POST /emails");
    const { base, key } = rows.get("resend-node")!;
    const [name, value] = local(base[0]!).split("=") as [string, string];
    process.env[name] = value;
    try {
      const viaEnv = new Function("Resend", "vk", `return ${key[0]};`)(Resend, vk) as Resend;
      const sent = await viaEnv.emails.send({ from: "a@example.com", to: "b@example.com", subject: "s", text: "t" });
      assert.match(String(sent.data?.id), /^em_/, JSON.stringify(sent.error));
    } finally {
      delete process.env[name];
    }
    const viaOption = new Function("Resend", "vk", "baseUrl", `return ${base[1]};`)(Resend, vk, value) as Resend;
    const sent = await viaOption.emails.send({ from: "a@example.com", to: "b@example.com", subject: "s", text: "t" });
    assert.match(String(sent.data?.id), /^em_/, JSON.stringify(sent.error));
  });

  it("resend-python cannot run here (no resend package for Python on Debian, no PyPI): its URL is the /resend route", () => {
    const { base } = rows.get("resend-python")!;
    assert.equal(base[0], `resend.api_url = "${DOC_HOST}/resend"`);
    assert.ok(rows.get("resend-node")!.base[0]!.endsWith(`${DOC_HOST}/resend`), "the same route resend-node uses");
  });
});

function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}
