// The closed world (docs/guarantees.md#8-closed-world), end to end: every row of every route table through the real
// local-mode server with keys whose allowlists grant exactly that route. Refused and unclassified operations answer 400
// before the ledger (no DynamoDB call at all once the key is cached) and reach no vendor; free ones reach it as they
// are and reserve nothing. Priced rows are exercised by the vendor tests and by
// test/integration/pricing-hazards.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { CallRecord } from "../../lambda/audit/record";
import type { Vendor } from "../../lambda/core/vendors";
import { vendorRoutes } from "../../lambda/vendors/operations";
import { isParameter, type RouteRow, templateSegments } from "../../lambda/vendors/operations/routes";
import { SECRETS } from "../support/fake-vendors";
import { rawRequest } from "../support/raw-http";
import { recordingDb, type Stack, startStack } from "../support/stack";

const SID = SECRETS.TWILIO_ACCOUNT_SID;
const VENDOR_LIST: Vendor[] = ["stripe", "twilio", "resend"];

interface Probe {
  vendor: Vendor;
  method: string;
  path: string;
  /** The allowlist entry that grants exactly this route. */
  pattern: string;
  label: string;
}

/** The concrete requests a row stands for: every format it lists, each parameter a plain value. */
function probes(vendor: Vendor, row: RouteRow): Probe[] {
  return (row.formats ?? [undefined]).map((format) => {
    const template = templateSegments(row);
    const concrete = template.map((s, i) => (!isParameter(s) ? s : vendor === "twilio" && i === 2 ? SID : `x${i}`));
    const pattern = template.map((s) => (isParameter(s) ? "*" : s));
    if (format !== undefined) {
      concrete.push(`${concrete.pop()}${format}`);
      const last = pattern.pop()!;
      pattern.push(last === "*" ? "*" : `${last}${format}`);
    }
    return {
      vendor,
      method: row.method,
      path: `/${concrete.join("/")}`,
      pattern: `${row.method} /${pattern.join("/")}`,
      label: `${row.method} ${row.path}${format ?? ""}`,
    };
  });
}

/** Mutating requests that are in no table: refused whatever the allowlist grants. */
const UNLISTED: Probe[] = [
  ["stripe", "POST", "/v1/not_a_resource"],
  ["stripe", "PUT", "/v1/customers/cus_1"],
  ["stripe", "PATCH", "/v1/payment_intents/pi_1"],
  ["stripe", "DELETE", "/v1/payment_intents/pi_1"],
  ["stripe", "POST", "/v1/payment_intents/pi_1/confirm/extra"],
  ["stripe", "POST", "/v2/money_management/unknown_thing"],
  ["twilio", "POST", `/2010-04-01/Accounts/${SID}/Unknown.json`],
  ["twilio", "PUT", `/2010-04-01/Accounts/${SID}/Messages.json`],
  ["twilio", "POST", `/2010-04-01/Accounts/${SID}/Messages.csv`],
  ["resend", "POST", "/emails/em_1/resend"],
  ["resend", "PUT", "/emails"],
  ["resend", "POST", "/v1/payment_intents"],
].map(([vendor, method, path]) => ({
  vendor: vendor as Vendor,
  method: method!,
  path: path!,
  pattern: `${method} ${path}`,
  label: `unlisted ${method} ${path}`,
}));

function credentials(vendor: Vendor, vaultKey: string): Record<string, string> {
  return vendor === "twilio"
    ? { authorization: `Basic ${Buffer.from(`${SID}:${vaultKey}`).toString("base64")}` }
    : { authorization: `Bearer ${vaultKey}` };
}

/** keybrake's refusal code in each vendor's error shape. */
function refusalCode(body: { error?: { code?: string }; keybrake_code?: string } | undefined): string | undefined {
  return body?.error?.code?.replace(/^keybrake_/, "") ?? body?.keybrake_code;
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

describe("closed world: every classified operation through local mode", () => {
  let stack: Stack;
  let commands: string[];
  before(async () => {
    const recording = await recordingDb();
    commands = recording.commands;
    stack = await startStack({ db: recording.db });
  });
  after(() => stack.close());

  /** Keys granting exactly the probes' routes (at most 100 allowlist entries each), one key per probe. */
  async function keysFor(list: Probe[], label: string): Promise<Map<Probe, string>> {
    const byKey = new Map<Probe, string>();
    for (const vendor of VENDOR_LIST) {
      const mine = list.filter((p) => p.vendor === vendor);
      const patterns = [...new Set(mine.map((p) => p.pattern))];
      for (let at = 0; at < patterns.length; at += 100) {
        const chunk = new Set(patterns.slice(at, at + 100));
        const key = await stack.issue({
          vendor,
          daily_usd_cap: 5,
          allowed_endpoints: [...chunk],
          expires_in: "1h",
          agent_run_label: `closed-world/${label}/${vendor}/${at}`,
        });
        for (const probe of mine) if (chunk.has(probe.pattern)) byKey.set(probe, key.vault_key);
      }
    }
    return byKey;
  }

  const send = (probe: Probe, vaultKey: string) =>
    fetch(`${stack.url}/${probe.vendor}${probe.path}`, {
      method: probe.method,
      headers: credentials(probe.vendor, vaultKey),
    });

  it("refuses every refused row (every format) and every unlisted route with 400, before the ledger, reaching no vendor", async () => {
    const list = [
      ...VENDOR_LIST.flatMap((v) =>
        vendorRoutes[v].routes.filter((r) => r.class === "refused").flatMap((r) => probes(v, r)),
      ),
      ...UNLISTED,
    ];
    assert.ok(list.length > 400, `${list.length} refused probes`);
    const keys = await keysFor(list, "refused");
    // Warm the key cache (one key read per key), so what follows shows every ledger call a refusal makes: none.
    const warmed = new Set<string>();
    for (const probe of list) {
      const key = keys.get(probe)!;
      if (warmed.has(key)) continue;
      warmed.add(key);
      await (await send(probe, key)).arrayBuffer();
    }
    await stack.server.idle();
    commands.length = 0;
    const wrong: string[] = [];
    await pool(list, 8, async (probe) => {
      const res = await send(probe, keys.get(probe)!);
      const body = (await res.json().catch(() => undefined)) as Parameters<typeof refusalCode>[0];
      if (res.status !== 400 || refusalCode(body) !== "unpriceable_request") {
        wrong.push(`${probe.label}: ${res.status} ${JSON.stringify(body).slice(0, 160)}`);
      }
    });
    await stack.server.idle();
    assert.deepEqual(wrong, []);
    assert.deepEqual(commands, [], "no ledger call at all: no reservation, no read");
    assert.deepEqual(stack.vendors.all(), [], "no vendor received anything");
    const records = stack.audit.filter(
      (r): r is CallRecord => r.event === "call" && (r.agent_run_label ?? "").startsWith("closed-world/refused/"),
    );
    assert.equal(records.length, list.length + warmed.size);
    assert.ok(records.every((r) => r.reason === "unpriceable_request" && r.ledger_writes === 0 && r.spent_usd === 0));
  });

  it("says which operation was refused and why, in the vendor's error shape", async () => {
    const [probe] = probes("stripe", vendorRoutes.stripe.routes.find((r) => r.path === "/v1/ephemeral_keys")!);
    const keys = await keysFor([probe!], "why");
    const res = await send(probe!, keys.get(probe!)!);
    const { error } = (await res.json()) as { error: Record<string, string | undefined> };
    assert.equal(res.headers.get("stripe-should-retry"), "false");
    assert.deepEqual(
      [error.code, error.operation, error.route],
      ["keybrake_unpriceable_request", "ephemeralKeys.create", "POST /v1/ephemeral_keys"],
    );
    assert.match(error.message ?? "", /\(ephemeralKeys\.create\) is refused by keybrake: /);
    assert.ok(error.why && error.why.length > 10);
  });

  it("forwards every free row (every format) as it is, reserving nothing", async () => {
    const list = VENDOR_LIST.flatMap((v) =>
      vendorRoutes[v].routes.filter((r) => r.class === "free").flatMap((r) => probes(v, r)),
    );
    assert.ok(list.length > 250, `${list.length} free probes`);
    const keys = await keysFor(list, "free");
    const before = stack.vendors.all().length;
    const wrong: string[] = [];
    await pool(list, 8, async (probe) => {
      const res = await send(probe, keys.get(probe)!);
      await res.arrayBuffer();
      if (res.status >= 300) wrong.push(`${probe.label}: ${res.status}`);
    });
    await stack.server.idle();
    assert.deepEqual(wrong, []);
    const received = stack.vendors
      .all()
      .slice(before)
      .map((r) => `${r.vendor} ${r.method} ${r.url}`)
      .sort();
    assert.deepEqual(received, list.map((p) => `${p.vendor} ${p.method} ${p.path}`).sort());
    const records = stack.audit.filter(
      (r): r is CallRecord => r.event === "call" && (r.agent_run_label ?? "").startsWith("closed-world/free/"),
    );
    assert.equal(records.length, list.length);
    assert.ok(records.every((r) => r.decision === "forwarded" && r.reserved_usd === 0 && r.spent_usd === 0));
  });
});

describe("one canonical target, from raw request lines", () => {
  let stack: Stack;
  let stripeKey: string;
  let twilioKey: string;
  before(async () => {
    stack = await startStack();
    stripeKey = (
      await stack.issue({
        vendor: "stripe",
        daily_usd_cap: 50,
        // Broad but legitimate: the allowlist is never what stops the tricks below.
        allowed_endpoints: ["POST /v1/*", "POST /v1/*/*", "POST /v1/*/*/*", "GET /v1/*", "GET /v1/*/*", "POST /V1/*"],
        expires_in: "1h",
        agent_run_label: "canonical/stripe",
      })
    ).vault_key;
    twilioKey = (
      await stack.issue({
        vendor: "twilio",
        daily_usd_cap: 5,
        allowed_endpoints: ["POST /2010-04-01/Accounts/*/*", "GET /2010-04-01/Accounts/*/*"],
        expires_in: "1h",
        agent_run_label: "canonical/twilio",
      })
    ).vault_key;
  });
  after(() => stack.close());

  const FORM = { "content-type": "application/x-www-form-urlencoded" };
  const stripe = (line: string, body = "amount=100&currency=usd", headers: Record<string, string> = {}) =>
    rawRequest(stack.url, line, { authorization: `Bearer ${stripeKey}`, ...FORM, ...headers }, body);

  it("decodes percent-encoded unreserved characters once: the vendor receives the canonical path, priced", async () => {
    for (const path of ["/v1/%70ayment_intents", "/%73tripe/v1/pay%6Dent%5Fintents"]) {
      const before = stack.vendors.stripe.received.length;
      const res = await stripe(`POST ${path} HTTP/1.1`);
      assert.equal(res.status, 200, res.body);
      const received = stack.vendors.stripe.received.slice(before);
      assert.deepEqual(
        received.map((r) => [r.method, r.url, r.body]),
        [["POST", "/v1/payment_intents", "amount=100&currency=usd"]],
      );
    }
    const record = stack.audit.filter((r): r is CallRecord => r.event === "call").at(-1)!;
    assert.deepEqual([record.endpoint, record.reserved_usd], ["/v1/payment_intents", 1]);
  });

  const refused: Array<[string, string]> = [
    ["a trailing slash", "POST /v1/payment_intents/ HTTP/1.1"],
    ["a fragment", "POST /v1/payment_intents#frag HTTP/1.1"],
    ["a raw ; path parameter", "POST /v1/payment_intents;x=1 HTTP/1.1"],
    ["an encoded ;", "POST /v1/payment_intents%3Bx HTTP/1.1"],
    ["an encoded /", "POST /v1/payment_intents%2Fpi_1%2Fconfirm HTTP/1.1"],
    ["an encoded ?", "POST /v1/payment_intents%3Famount=1 HTTP/1.1"],
    ["an encoded #", "POST /v1/payment_intents%23 HTTP/1.1"],
    ["a dot segment", "POST /v1/./payment_intents HTTP/1.1"],
    ["an encoded dot-dot", "POST /v1/x/%2e%2E/payment_intents HTTP/1.1"],
    ["an empty segment", "POST /v1//payment_intents HTTP/1.1"],
    ["a leading //", "POST //v1/payment_intents HTTP/1.1"],
    ["a backslash", "POST /v1\\payment_intents HTTP/1.1"],
    ["an upper-case variant", "POST /V1/payment_intents HTTP/1.1"],
    ["a format suffix", "POST /v1/payment_intents.json HTTP/1.1"],
    ["a double encoding", "POST /v1/%2570ayment_intents HTTP/1.1"],
    ["an absolute-form target", "POST http://api.stripe.com/v1/payment_intents HTTP/1.1"],
    ["an asterisk-form target", "OPTIONS * HTTP/1.1"],
    ["a TRACE", "TRACE /v1/payment_intents HTTP/1.1"],
    ["an over-long target", `POST /v1/payment_intents?${"a".repeat(8200)} HTTP/1.1`],
    ["non-ASCII bytes", "POST /v1/pay\u00e9ment_intents HTTP/1.1"],
    ["a priced call's query string", "POST /v1/payment_intents?amount=1 HTTP/1.1"],
    ["a raw ; in the query", "GET /v1/customers?limit=1;expand=x HTTP/1.1"],
    ["a raw quote in the query", "GET /v1/customers?email='a' HTTP/1.1"],
    ["a read with a trailing slash (GET /v1/*/* would match its empty segment)", "GET /v1/customers/ HTTP/1.1"],
    ["a read with an empty segment", "GET /v1//customers HTTP/1.1"],
  ];
  for (const [what, line] of refused) {
    it(`refuses ${what} with 4xx; the vendor receives nothing`, async () => {
      const before = stack.vendors.all().length;
      const res = await stripe(line, line.startsWith("GET") || line.startsWith("OPTIONS") ? "" : undefined);
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body}`);
      assert.equal(stack.vendors.all().length, before);
    });
  }

  it("never forwards a CONNECT", async () => {
    const before = stack.vendors.all().length;
    const res = await rawRequest(stack.url, "CONNECT api.stripe.com:443 HTTP/1.1", {
      authorization: `Bearer ${stripeKey}`,
    });
    assert.notEqual(res.status, 200);
    assert.equal(stack.vendors.all().length, before);
  });

  it("forwards a read's query byte for byte, and lets HEAD through on a GET entry", async () => {
    const query = "limit=3&expand[0]=data.customer&email=a%2Bb%40x.io&created[gte]=1";
    const get = await stripe(`GET /v1/customers?${query} HTTP/1.1`, "");
    assert.equal(get.status, 200, get.body);
    assert.equal(stack.vendors.stripe.received.at(-1)!.url, `/v1/customers?${query}`);
    const head = await stripe("HEAD /v1/customers/cus_1 HTTP/1.1", "");
    assert.equal(head.status, 200);
    assert.deepEqual(
      [stack.vendors.stripe.received.at(-1)!.method, stack.vendors.stripe.received.at(-1)!.url],
      ["HEAD", "/v1/customers/cus_1"],
    );
    const empty = await stripe("GET /v1/customers? HTTP/1.1", "");
    assert.equal(empty.status, 200);
    assert.equal(stack.vendors.stripe.received.at(-1)!.url, "/v1/customers", "an empty query is dropped");
  });

  it("forwards only the headers the vendor's API reads: routing overrides, other hops' and unknown ones stay here", async () => {
    const sent = {
      "stripe-version": "2024-06-20",
      "stripe-account": "acct_1",
      "x-stripe-client-user-agent": "{}",
      "idempotency-key": "k-1",
      "user-agent": "Stripe/v1 NodeBindings",
      accept: "application/json",
    };
    const dropped = {
      "x-original-url": "/v1/refunds",
      "x-rewrite-url": "/v1/refunds",
      "x-real-ip": "10.0.0.1",
      "x-forwarded-host": "evil.example",
      forwarded: "for=10.0.0.1",
      cookie: "a=b",
      "x-custom": "1",
    };
    const res = await stripe("POST /v1/customers HTTP/1.1", "email=a%40x.io", { ...sent, ...dropped });
    assert.equal(res.status, 200, res.body);
    const received = stack.vendors.stripe.received.at(-1)!.headers;
    for (const [name, value] of Object.entries(sent)) assert.equal(received[name], value, name);
    for (const name of Object.keys(dropped)) assert.equal(received[name], undefined, `${name} was forwarded`);
    assert.equal(received.authorization, `Bearer ${SECRETS.STRIPE_SECRET_KEY}`);
  });

  it("refuses method overrides, in headers and in the body", async () => {
    const before = stack.vendors.all().length;
    for (const header of ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"]) {
      const res = await stripe("POST /v1/customers HTTP/1.1", "email=a%40x.io", { [header]: "DELETE" });
      assert.equal(res.status, 400, header);
    }
    const body = await stripe("POST /v1/customers HTTP/1.1", "email=a%40x.io&_method=DELETE");
    assert.equal(body.status, 400);
    assert.match(JSON.parse(body.body).error.message, /_method/);
    assert.equal(stack.vendors.all().length, before);
  });

  it("Twilio: prices Messages.json only; the .xml, bare and case-variant forms reach nothing", async () => {
    const auth = { authorization: `Basic ${Buffer.from(`${SID}:${twilioKey}`).toString("base64")}`, ...FORM };
    const body = "To=%2B14155550100&From=%2B14155550199&Body=hi";
    const before = stack.vendors.twilio.received.length;
    for (const last of ["Messages.xml", "Messages", "Messages.JSON", "messages.json", "Messages.json/"]) {
      const res = await rawRequest(stack.url, `POST /twilio/2010-04-01/Accounts/${SID}/${last} HTTP/1.1`, auth, body);
      assert.equal(res.status, 400, `${last}: ${res.body}`);
    }
    assert.equal(stack.vendors.twilio.received.length, before);
    const ok = await rawRequest(
      stack.url,
      `POST /twilio/2010-04-01/Accounts/${SID}/Mes%73ages.json HTTP/1.1`,
      auth,
      body,
    );
    assert.equal(ok.status, 201, ok.body);
    assert.equal(stack.vendors.twilio.received.at(-1)!.url, `/2010-04-01/Accounts/${SID}/Messages.json`);
  });
});
