// The closed-world route tables (docs/guarantees.md#8-closed-world): the snapshot of each vendor's spec is fully
// classified, rows are well-formed and never collide, the matcher's precedence and captures hold, credential minting is
// refused, known money movers are never free, and the generated pricing document is current. Pure: no sockets.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { VENDORS, type Vendor } from "../../lambda/core/vendors";
import { compiledRoutes, matchVendorRoute, vendorRoutes } from "../../lambda/vendors/operations";
import { compileRoutes, matchRoute } from "../../lambda/vendors/operations/match";
import {
  isParameter,
  PRICING_RULES,
  parseVendorRoutes,
  type RouteRow,
  rowProblems,
  templateSegments,
  type VendorRoutes,
} from "../../lambda/vendors/operations/routes";
import { fromOpenApi, fromStripeNode, type OperationsSnapshot } from "../../scripts/extract-operations";
import { PRICING_DOC_PATH, renderPricingTables } from "../../scripts/pricing-doc";

const ROOT = join(__dirname, "..", "..");
const OPERATIONS = join(ROOT, "lambda", "vendors", "operations");

const snapshot = (vendor: Vendor): OperationsSnapshot =>
  JSON.parse(readFileSync(join(OPERATIONS, `${vendor}.snapshot.json`), "utf8"));

const routeKey = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

/** "POST /v1/x/y" -> the row that request matches (segments as the proxy hands them over). */
function classify(vendor: Vendor, request: string) {
  const [method, path] = request.split(" ") as [string, string];
  return matchVendorRoute(vendor, method, path.split("/").slice(1));
}

/** A concrete request path for a row: each `{name}` becomes a value no literal sibling has. */
function concretePath(row: RouteRow, format?: string): { segments: string[]; params: Record<string, string> } {
  const params: Record<string, string> = {};
  const segments = templateSegments(row).map((segment, i) => {
    if (!isParameter(segment)) return segment;
    const value = `V${i}x`;
    params[segment.slice(1, -1)] = value;
    return value;
  });
  if (format !== undefined) segments.push(`${segments.pop()}${format}`);
  return { segments, params };
}

describe("operation snapshots", () => {
  for (const vendor of VENDORS) {
    it(`${vendor}: every operation of the snapshot is in the route table`, () => {
      const rows = new Set(vendorRoutes[vendor].routes.filter((r) => !r.legacy && !r.sdkOnly).map(routeKey));
      const missing = snapshot(vendor)
        .operations.filter((op) => !rows.has(routeKey(op)))
        .map((op) => `${routeKey(op)} (${op.operation})`);
      assert.deepEqual(
        missing,
        [],
        `${vendor} operations with no row in ${vendor}.routes.json:\n${missing.join("\n")}`,
      );
    });

    it(`${vendor}: a row not in the snapshot is marked legacy or sdkOnly, and a marked row is not in it`, () => {
      const operations = new Set(snapshot(vendor).operations.map(routeKey));
      const wrong = vendorRoutes[vendor].routes
        .filter((r) => operations.has(routeKey(r)) === Boolean(r.legacy || r.sdkOnly))
        .map(routeKey);
      assert.deepEqual(wrong, []);
    });

    it(`${vendor}: the snapshot is sorted, has no duplicates, and matches the table's source`, () => {
      const snap = snapshot(vendor);
      const keys = snap.operations.map((op) => `${op.path}\u0000${op.method}`);
      assert.deepEqual(keys, [...keys].sort());
      assert.equal(new Set(keys).size, keys.length);
      assert.ok(snap.operations.every((op) => ["POST", "PUT", "PATCH", "DELETE"].includes(op.method)));
      assert.equal(vendorRoutes[vendor].source, snap.source);
      assert.equal(vendorRoutes[vendor].specVersion, snap.specVersion);
    });
  }

  it("the Stripe snapshot is what the installed stripe-node generates, when it is the version recorded", () => {
    const installed = JSON.parse(readFileSync(join(ROOT, "node_modules", "stripe", "package.json"), "utf8")).version;
    const snap = snapshot("stripe");
    if (!snap.source.startsWith(`npm:stripe@${installed} `)) return; // another version: refresh by hand, see header
    const extracted = fromStripeNode(join(ROOT, "node_modules", "stripe"));
    assert.equal(extracted.specVersion, snap.specVersion);
    assert.deepEqual(extracted.operations, snap.operations);
  });

  it("the extractor keeps only mutating operations, sorted by path then method", () => {
    const spec = {
      info: { version: "9.9" },
      paths: {
        "/b": { get: { operationId: "GetB" }, delete: { operationId: "DeleteB" }, post: { operationId: "PostB" } },
        "/a/{id}": { patch: { operationId: "PatchA" }, put: {} },
      },
    };
    assert.deepEqual(fromOpenApi(spec), {
      specVersion: "9.9",
      operations: [
        { operation: "PatchA", method: "PATCH", path: "/a/{id}" },
        { operation: "PUT /a/{id}", method: "PUT", path: "/a/{id}" },
        { operation: "DeleteB", method: "DELETE", path: "/b" },
        { operation: "PostB", method: "POST", path: "/b" },
      ],
    });
  });
});

describe("route tables", () => {
  for (const vendor of VENDORS) {
    it(`${vendor}: every row is well-formed (class, rule iff priced and known, a why)`, () => {
      const problems = vendorRoutes[vendor].routes.flatMap((row) =>
        rowProblems(vendor, row as unknown as Record<string, unknown>).map((p) => `${routeKey(row)}: ${p}`),
      );
      assert.deepEqual(problems, []);
      for (const row of vendorRoutes[vendor].routes) {
        assert.ok(row.why.length <= 140, `${routeKey(row)}: keep the why to one short sentence`);
        if (row.class === "priced") assert.ok((PRICING_RULES[vendor] as readonly string[]).includes(row.rule));
        else assert.equal(row.rule, undefined);
      }
    });

    it(`${vendor}: no two rows match the same requests, and every row is reachable`, () => {
      const shapes = new Map<string, string>();
      for (const row of vendorRoutes[vendor].routes) {
        const shape = templateSegments(row).map((s) => (isParameter(s) ? "{}" : s));
        for (const format of row.formats ?? [""]) {
          const key = `${row.method} /${shape.join("/")}${format}`;
          assert.equal(shapes.get(key), undefined, `${routeKey(row)} collides with ${shapes.get(key)}`);
          shapes.set(key, routeKey(row));
        }
        for (const format of row.formats ?? [undefined]) {
          const { segments, params } = concretePath(row, format);
          const matched = matchRoute(compiledRoutes[vendor], row.method, segments);
          assert.equal(matched?.route, row, `${row.method} /${segments.join("/")} should match ${routeKey(row)}`);
          assert.deepEqual({ ...matched.params }, params);
          assert.equal(matched.format, format);
        }
      }
    });

    it(`${vendor}: legacy rows are refused`, () => {
      const notRefused = vendorRoutes[vendor].routes.filter((r) => r.legacy && r.class !== "refused").map(routeKey);
      assert.deepEqual(notRefused, []);
    });
  }

  it("a table whose rows collide does not compile, and a malformed one does not load", () => {
    const table = (routes: unknown[]) => ({
      vendor: "stripe",
      specVersion: "x",
      source: "test",
      extraSources: [],
      routes,
    });
    const row = (path: string) => ({ operation: path, method: "POST", path, class: "free", why: "test" });
    assert.throws(
      () => compileRoutes(parseVendorRoutes("stripe", table([row("/v1/a/{x}"), row("/v1/a/{y}")]))),
      /matches the same requests/,
    );
    assert.throws(
      () => parseVendorRoutes("stripe", table([{ ...row("/v1/a"), class: "priced", rule: "message" }])),
      /priced needs one of the stripe rules/,
    );
    assert.throws(() => parseVendorRoutes("stripe", table([{ ...row("/v1/a"), why: " " }])), /no why/);
    assert.throws(() => parseVendorRoutes("stripe", table([{ ...row("/v1/a"), rule: "amount" }])), /only a priced/);
    assert.throws(() => parseVendorRoutes("stripe", table([{ ...row("/v1/a"), method: "GET" }])), /method GET/);
    assert.throws(() => parseVendorRoutes("twilio", table([])), /vendor stripe/);
  });

  it("the priced rows are exactly the routes keybrake prices today", () => {
    const priced = (vendor: Vendor) =>
      vendorRoutes[vendor].routes.filter((r) => r.class === "priced").map((r) => `${routeKey(r)} ${r.rule}`);
    assert.deepEqual(priced("stripe"), [
      "POST /v1/charges amount",
      "POST /v1/charges/{id}/capture charge_capture",
      "POST /v1/invoices/{id}/pay invoice_pay",
      "POST /v1/payment_intents amount",
      "POST /v1/payment_intents/{id}/capture payment_intent_capture",
      "POST /v1/payment_intents/{id}/confirm payment_intent_confirm",
      "POST /v1/payment_intents/{id}/increment_authorization payment_intent_increment",
      "POST /v1/payouts amount",
      "POST /v1/refunds refund",
      "POST /v1/transfers amount",
    ]);
    assert.deepEqual(priced("twilio"), ["POST /2010-04-01/Accounts/{AccountSid}/Messages.json message"]);
    assert.deepEqual(priced("resend"), ["POST /emails email", "POST /emails/batch email_batch"]);
  });
});

describe("route matcher", () => {
  const synthetic = compileRoutes(
    parseVendorRoutes("stripe", {
      vendor: "stripe",
      specVersion: "x",
      source: "test",
      extraSources: [],
      routes: [
        { operation: "search", method: "POST", path: "/v1/payment_intents/search", class: "free", why: "t" },
        { operation: "update", method: "POST", path: "/v1/payment_intents/{intent}", class: "refused", why: "t" },
        { operation: "confirm", method: "POST", path: "/v1/payment_intents/{intent}/confirm", class: "free", why: "t" },
      ],
    } satisfies VendorRoutes<"stripe">),
  );
  const op = (method: string, path: string) => matchRoute(synthetic, method, path.split("/").slice(1))?.route.operation;

  it("a literal segment beats a parameter, and never falls back to it", () => {
    assert.equal(op("POST", "/v1/payment_intents/search"), "search");
    assert.equal(op("POST", "/v1/payment_intents/pi_1"), "update");
    assert.equal(op("POST", "/v1/payment_intents/pi_1/confirm"), "confirm");
    // `search` takes the literal branch, which has no `confirm`: unmatched rather than retried as {intent}.
    assert.equal(op("POST", "/v1/payment_intents/search/confirm"), undefined);
    assert.equal(classify("stripe", "POST /v1/invoices/create_preview")?.route.operation, "invoices.createPreview");
    assert.equal(classify("stripe", "POST /v1/invoices/in_1")?.route.operation, "invoices.update");
  });

  it("captures each parameter by its name", () => {
    const matched = classify("stripe", "POST /v1/customers/cus_1/sources/src_2/verify");
    assert.equal(matched?.route.operation, "customers.verifySource");
    assert.deepEqual({ ...matched.params }, { customerId: "cus_1", id: "src_2" });
    const twilio = classify("twilio", "DELETE /2010-04-01/Accounts/AC1/Messages/MM2/Media/ME3.json");
    assert.deepEqual({ ...twilio?.params }, { AccountSid: "AC1", MessageSid: "MM2", Sid: "ME3" });
    assert.equal(Object.getPrototypeOf(matched.params), null);
  });

  it("matches exactly and case-sensitively; unknown routes and methods are unmatched", () => {
    for (const request of [
      "post /v1/payment_intents",
      "POST /V1/payment_intents",
      "POST /v1/Payment_Intents",
      "POST /v1/payment_intents/pi_1/confirm/extra",
      "POST /v1/payment_intents/pi_1/Confirm",
      "POST /v1",
      "POST /v1/not_a_resource",
      "GET /v1/payment_intents",
      "HEAD /v1/payment_intents",
      "OPTIONS /v1/payment_intents",
    ]) {
      assert.equal(classify("stripe", request), undefined, request);
    }
    assert.equal(matchRoute(compiledRoutes.stripe, "POST", []), undefined);
    assert.equal(matchRoute(compiledRoutes.stripe, "POST", ["v1", "payment_intents", ""]), undefined);
    assert.equal(matchRoute(compiledRoutes.resend, "POST", ["emails", ""]), undefined);
  });

  it("Twilio: the .json, .xml and extension-less forms match the same row; other forms match none", () => {
    for (const path of ["Messages.json", "Messages.xml", "Messages"]) {
      const matched = classify("twilio", `POST /2010-04-01/Accounts/AC1/${path}`);
      assert.equal(matched?.route.operation, "CreateMessage", path);
      assert.equal(matched.route.class, "priced");
      assert.deepEqual({ ...matched.params }, { AccountSid: "AC1" });
    }
    for (const [last, format] of [
      ["SM1.json", ".json"],
      ["SM1.xml", ".xml"],
      ["SM1", ""],
    ] as const) {
      const matched = classify("twilio", `POST /2010-04-01/Accounts/AC1/Messages/${last}`);
      assert.equal(matched?.route.operation, "UpdateMessage");
      assert.equal(matched.format, format);
      assert.deepEqual({ ...matched.params }, { AccountSid: "AC1", Sid: "SM1" });
    }
    for (const path of [
      "Messages.csv",
      "Messages.JSON",
      "Messages.json.xml",
      "Messages/SM1.csv",
      "Messages/SM1.json.json",
      "Messages/.json",
      "Messages/SM1.JSON",
      "messages.json",
    ]) {
      assert.equal(classify("twilio", `POST /2010-04-01/Accounts/AC1/${path}`), undefined, path);
    }
    // A literal with a format beats a suffixed parameter: Local.json buys a number, it is not number "Local".
    assert.equal(
      classify("twilio", "POST /2010-04-01/Accounts/AC1/IncomingPhoneNumbers/Local.json")?.route.operation,
      "CreateIncomingPhoneNumberLocal",
    );
    for (const form of [".json", ".xml", ""]) {
      const sms = classify("twilio", `POST /2010-04-01/Accounts/AC1/SMS/Messages${form}`);
      assert.equal(sms?.route.class, "refused", `SMS/Messages${form}`);
      assert.equal(sms.route.legacy, true);
    }
    assert.ok(vendorRoutes.twilio.routes.every((r) => r.formats?.length === 3));
  });
});

/** Operations that create a credential or payment instrument: always refused, a minted credential escapes caps. */
const CREDENTIAL_MINTING: { [V in Vendor]: string[] } = {
  stripe: [
    "POST /v1/ephemeral_keys",
    "POST /v1/terminal/connection_tokens",
    "POST /v1/terminal/onboarding_links",
    "POST /v1/issuing/cards",
    "POST /v1/issuing/cards/ic_1",
    "POST /v1/issuing/tokens/intok_1",
    "POST /v1/apps/secrets",
    "POST /v1/apps/installs",
    "POST /v1/account_links",
    "POST /v1/account_sessions",
    "POST /v1/accounts",
    "POST /v1/accounts/acct_1/login_links",
    "POST /v1/customer_sessions",
    "POST /v1/billing_portal/sessions",
    "POST /v1/file_links",
    "POST /v1/webhook_endpoints",
    "POST /oauth/token",
    "POST /v1/treasury/financial_accounts",
    "POST /v2/core/account_links",
    "POST /v2/core/accounts",
    "POST /v2/core/event_destinations",
    "POST /v2/billing/meter_event_session",
    "POST /v2/money_management/financial_addresses",
    "POST /v1/account/login_links",
    "POST /v1/issuing/cards/ic_1/pin",
  ],
  twilio: [
    "POST /2010-04-01/Accounts.json",
    "POST /2010-04-01/Accounts",
    "POST /2010-04-01/Accounts/AC2.json",
    "POST /2010-04-01/Accounts/AC1/Keys.json",
    "POST /2010-04-01/Accounts/AC1/Keys",
    "POST /2010-04-01/Accounts/AC1/Keys/SK1.xml",
    "DELETE /2010-04-01/Accounts/AC1/Keys/SK1.json",
    "POST /2010-04-01/Accounts/AC1/SigningKeys.json",
    "POST /2010-04-01/Accounts/AC1/SigningKeys.xml",
    "POST /2010-04-01/Accounts/AC1/Tokens.json",
    "POST /2010-04-01/Accounts/AC1/Tokens",
    "POST /2010-04-01/Accounts/AC1/SIP/CredentialLists.json",
    "POST /2010-04-01/Accounts/AC1/SIP/CredentialLists/CL1/Credentials.json",
    "POST /2010-04-01/Accounts/AC1/SIP/IpAccessControlLists/AL1/IpAddresses.json",
    "POST /2010-04-01/Accounts/AC1/ConnectApps/CN1.json",
  ],
  resend: [
    "POST /api-keys",
    "PATCH /api-keys/key_1",
    "DELETE /api-keys/key_1",
    "POST /webhooks",
    "POST /webhooks/wh_1/signing-secret/rotate",
    "POST /emails/em_1/share",
  ],
};

/** Operations that move money, bill the account or schedule a later charge: priced or refused, never free. */
const MONEY_MOVERS: { [V in Vendor]: string[] } = {
  stripe: [
    "POST /v1/charges",
    "POST /v1/charges/ch_1/capture",
    "POST /v1/payment_intents",
    "POST /v1/payment_intents/pi_1",
    "POST /v1/payment_intents/pi_1/confirm",
    "POST /v1/payment_intents/pi_1/capture",
    "POST /v1/payment_intents/pi_1/increment_authorization",
    "POST /v1/payment_intents/pi_1/apply_customer_balance",
    "POST /v1/payment_intents/pi_1/verify_microdeposits",
    "POST /v1/refunds",
    "POST /v1/payouts",
    "POST /v1/payouts/po_1/reverse",
    "POST /v1/transfers",
    "POST /v1/transfers/tr_1/reversals",
    "POST /v1/topups",
    "POST /v1/application_fees/fee_1/refunds",
    "POST /v1/invoices",
    "POST /v1/invoices/in_1",
    "POST /v1/invoices/in_1/pay",
    "POST /v1/invoices/in_1/finalize",
    "POST /v1/invoices/in_1/send",
    "POST /v1/invoices/in_1/add_lines",
    "POST /v1/invoiceitems",
    "POST /v1/credit_notes",
    "POST /v1/checkout/sessions",
    "POST /v1/checkout/sessions/cs_1",
    "POST /v1/payment_links",
    "POST /v1/subscriptions",
    "POST /v1/subscriptions/sub_1",
    "DELETE /v1/subscriptions/sub_1",
    "DELETE /v1/subscriptions/sub_1/discount",
    "POST /v1/subscriptions/sub_1/pause",
    "POST /v1/subscriptions/sub_1/resume",
    "POST /v1/subscription_items",
    "POST /v1/subscription_schedules",
    "POST /v1/quotes/qt_1/accept",
    "POST /v1/quotes/qt_1/finalize",
    "POST /v1/customers/cus_1",
    "POST /v1/customers/cus_1/balance_transactions",
    "POST /v1/customers/cus_1/sources",
    "DELETE /v1/customers/cus_1/discount",
    "POST /v1/prices",
    "POST /v1/prices/price_1",
    "POST /v1/shipping_rates/shr_1",
    "POST /v1/billing/credit_grants",
    // Voiding or expiring a grant takes its credit off the customer's next invoices, which then charge more.
    "POST /v1/billing/credit_grants/cg_1/void",
    "POST /v1/billing/credit_grants/cg_1/expire",
    // Releasing a schedule can drop the cancellation it set (preserve_cancel_date=false) or the cheaper phases it
    // had scheduled: the subscription then bills on as it is.
    "POST /v1/subscription_schedules/sub_sched_1/release",
    // A smaller coupon (currency_options) or a removed tax ID (no more reverse charge) raises later invoices.
    "POST /v1/coupons/co_1",
    "DELETE /v1/customers/cus_1/tax_ids/txi_1",
    "DELETE /v1/tax_ids/txi_1",
    "POST /v1/billing/meter_events",
    "POST /v1/climate/orders",
    "POST /v1/identity/verification_sessions",
    "POST /v1/tax/calculations",
    "POST /v1/forwarding/requests",
    "POST /v1/financial_connections/sessions",
    "POST /v1/financial_connections/accounts/fca_1/refresh",
    "POST /v1/three_d_secure/authentications",
    "POST /v1/radar/payment_evaluations",
    "POST /v1/disputes/dp_1/close",
    "POST /v1/issuing/authorizations/iauth_1/approve",
    "POST /v1/terminal/readers/tmr_1/process_payment_intent",
    "POST /v1/terminal/readers/tmr_1/confirm_payment_intent",
    "POST /v1/terminal/readers/tmr_1/refund_payment",
    "POST /v1/treasury/outbound_payments",
    "POST /v1/treasury/outbound_transfers",
    "POST /v1/treasury/inbound_transfers",
    "POST /v1/balance_settings",
    "POST /v1/accounts/acct_1",
    "POST /v1/accounts/acct_1/external_accounts",
    "POST /v1/test_helpers/test_clocks/clock_1/advance",
    "POST /v1/test_helpers/treasury/received_credits",
    "POST /v2/billing/meter_events",
    "POST /v2/billing/meter_event_stream",
    "POST /v2/money_management/outbound_payments",
    "POST /v2/money_management/payout_intents",
    "POST /v2/money_management/payout_intents/poi_1/confirm",
    "POST /v2/money_management/inbound_transfers",
    "POST /v2/core/vault/us_bank_accounts/x/send_microdeposits",
    // legacy
    "POST /v1/charges/ch_1/refund",
    "POST /v1/charges/ch_1/refunds",
    "POST /v1/charges/ch_1/dispute/close",
    "POST /v1/application_fees/fee_1/refund",
    "POST /v1/recipients",
    "POST /v1/bitcoin/receivers",
    "POST /v1/bitcoin/receivers/btcrcv_1/refund",
    "POST /v1/orders",
    "POST /v1/orders/or_1/pay",
    "POST /v1/orders/or_1/returns",
    "POST /v1/skus",
    "POST /v1/customers/cus_1/cards",
    "POST /v1/customers/cus_1/bank_accounts",
    "POST /v1/customers/cus_1/subscriptions",
    "POST /v1/subscription_items/si_1/usage_records",
    "POST /v1/transfers/tr_1/cancel",
    "POST /v1/payments",
  ],
  twilio: [
    ...["Messages.json", "Messages.xml", "Messages"].map((p) => `POST /2010-04-01/Accounts/AC1/${p}`),
    ...["SMS/Messages.json", "SMS/Messages.xml", "SMS/Messages"].map((p) => `POST /2010-04-01/Accounts/AC1/${p}`),
    ...["Calls.json", "Calls.xml", "Calls"].map((p) => `POST /2010-04-01/Accounts/AC1/${p}`),
    "POST /2010-04-01/Accounts/AC1/Calls/CA1.json",
    "POST /2010-04-01/Accounts/AC1/Calls/CA1/Recordings.json",
    "POST /2010-04-01/Accounts/AC1/Calls/CA1/Recordings/RE1.json",
    "POST /2010-04-01/Accounts/AC1/Calls/CA1/Payments.json",
    "POST /2010-04-01/Accounts/AC1/Calls/CA1/Payments/PK1.json",
    "POST /2010-04-01/Accounts/AC1/Calls/CA1/Transcriptions.json",
    "POST /2010-04-01/Accounts/AC1/Calls/CA1/Siprec.json",
    "POST /2010-04-01/Accounts/AC1/Calls/CA1/Streams.json",
    "POST /2010-04-01/Accounts/AC1/Conferences/CF1.json",
    "POST /2010-04-01/Accounts/AC1/Conferences/CF1/Participants.json",
    "POST /2010-04-01/Accounts/AC1/Conferences/CF1/Recordings.json",
    "POST /2010-04-01/Accounts/AC1/Queues/QU1/Members/CA1.json",
    "POST /2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json",
    "POST /2010-04-01/Accounts/AC1/IncomingPhoneNumbers/Local.json",
    "POST /2010-04-01/Accounts/AC1/IncomingPhoneNumbers/Mobile",
    "POST /2010-04-01/Accounts/AC1/IncomingPhoneNumbers/TollFree.xml",
    "POST /2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PN1.json",
    "POST /2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PN1/AssignedAddOns.json",
    "POST /2010-04-01/Accounts/AC1/OutgoingCallerIds.json",
    "POST /2010-04-01/Accounts/AC1/Applications.json",
    "POST /2010-04-01/Accounts/AC1/SMS/ShortCodes/SC1.json",
  ],
  resend: [
    // Lifting a suppression lets broadcasts and automations (never priced) mail the address again.
    "POST /suppressions/batch/remove",
    "DELETE /suppressions/a@b.io",
    "POST /emails",
    "POST /emails/batch",
    "POST /email",
    "POST /broadcasts",
    "PATCH /broadcasts/b_1",
    "POST /broadcasts/b_1/send",
    "POST /automations",
    "PATCH /automations/a_1",
    "POST /events/send",
    "POST /contacts",
    "POST /contacts/imports",
    "POST /domains",
    "PATCH /domains/d_1",
    "POST /inboxes",
    "POST /inboxes/in_1/drafts/d_1/send",
    "POST /inboxes/in_1/threads/t_1/emails/e_1/reply",
    "POST /inboxes/in_1/threads/t_1/emails/e_1/forward",
  ],
};

describe("classification of credentials and money movers", () => {
  for (const vendor of VENDORS) {
    it(`${vendor}: operations that mint credentials are refused`, () => {
      const wrong = CREDENTIAL_MINTING[vendor]
        .map((request) => ({ request, matched: classify(vendor, request) }))
        .filter(({ matched }) => matched?.route.class !== "refused")
        .map(({ request, matched }) => `${request}: ${matched?.route.class ?? "not in the table"}`);
      assert.deepEqual(wrong, []);
    });

    it(`${vendor}: known money movers are priced or refused, never free`, () => {
      const wrong = MONEY_MOVERS[vendor]
        .map((request) => ({ request, matched: classify(vendor, request) }))
        .filter(({ matched }) => matched === undefined || matched.route.class === "free")
        .map(({ request, matched }) => `${request}: ${matched ? "free" : "not in the table"}`);
      assert.deepEqual(wrong, []);
    });
  }
});

describe("pricing document", () => {
  it("docs/pricing-routes.md is what scripts/pricing-doc.ts renders from the tables", () => {
    assert.equal(
      readFileSync(PRICING_DOC_PATH, "utf8"),
      renderPricingTables(),
      "docs/pricing-routes.md is stale: run `npx tsx scripts/pricing-doc.ts`",
    );
  });

  it("names every priced route with its rule and every refused route", () => {
    const doc = renderPricingTables();
    for (const vendor of VENDORS) {
      for (const row of vendorRoutes[vendor].routes) {
        if (row.class === "free") continue;
        assert.ok(doc.includes(`\`${row.method} ${row.path}\``), routeKey(row));
        if (row.class === "priced") assert.ok(doc.includes(`| \`${row.rule}\` |`), routeKey(row));
      }
      assert.ok(doc.includes(vendorRoutes[vendor].specVersion));
    }
  });
});
