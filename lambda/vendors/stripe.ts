// Stripe. Which operations are priced, free or refused is `operations/stripe.routes.json`; the priced rows name
// the rules below. Amounts come from the form body (v1; a priced call has no query string), or from the object
// itself, read first with the real key and the call's own Stripe-Account, Stripe-Context and Stripe-Version.
// Every price is an upper bound that nothing a free operation does can raise between the read and the call.
import { randomBytes } from "node:crypto";
import type { Ending } from "../core/ending";
import { InvalidRequestError, type KeybrakeError, UnpriceableRequestError, UpstreamError } from "../core/errors";
import { minorUnitsToMicroUsd, UnpricedCurrencyError } from "../core/fx";
import {
  type PricedCall,
  type PricingContext,
  type PricingRuleFn,
  type ProxiedRequest,
  parseJsonBody,
  type Quote,
  requestHeaderAllowlist,
  type UpstreamReply,
  type VendorAdapter,
} from "./adapter";
import { RefusedOperationError } from "./classify";
import type { Counterparty, StripeParty } from "./counterparty";
import type { FormParams } from "./form";
import { type PricingRule, vendorRoutes } from "./operations";
import { InvalidAmountError, parseMinorAmount } from "./stripe-money";

type StripeObject = Record<string, unknown>;

const formOf = (call: PricedCall): FormParams => {
  if (call.body.kind !== "form") throw new UnpriceableRequestError("this call is priced from its form parameters");
  return call.body.form;
};

/** Stripe object ids are letters, digits and underscores; anything else is not read (it could change the read's path). */
const OBJECT_ID = /^[A-Za-z0-9_]{1,255}$/;
function objectId(value: string, param: string): string {
  if (!OBJECT_ID.test(value)) throw new UnpriceableRequestError(`${param} is not a Stripe object id`, param);
  return value;
}

/** The `{id}` of the matched row: the object the call acts on (the table's priced rows all name it so). */
function pathId(call: PricedCall): string {
  const id = call.params.id;
  if (id === undefined) throw new Error(`the priced route ${call.req.path} has no {id} parameter`);
  return objectId(id, "id");
}

/**
 * Whom a call acts on, for the key's counterparty lock: every customer it names or its object belongs to. Each
 * entry must be the locked customer; `null` (none) never is.
 */
const parties = (...customers: StripeParty[]): Counterparty => ({ kind: "stripe", customers });

/** An object's `customer`: an id, or an expanded Customer's id; null when it has none. */
function customerOf(object: StripeObject): string | null {
  const customer = object.customer;
  if (typeof customer === "string") return customer;
  const id = (customer as { id?: unknown } | null | undefined)?.id;
  return typeof id === "string" ? id : null;
}

/** The object a call acts on belongs to its `customer`. */
const objectParty = (object: StripeObject, param: string, what: string): StripeParty => ({
  customer: customerOf(object),
  param,
  why: `the ${what} it acts on has no customer`,
  fromObject: true,
});

/** The customers a create names, by the resource the `amount` rule prices (`payment_intents`, `charges`, …). */
function createParties(resource: string | undefined, form: FormParams): Counterparty {
  if (resource === "payment_intents" || resource === "charges") {
    const named: StripeParty[] = [{ customer: form.single("customer") ?? null, param: "customer" }];
    // Another way to name the payer: an Account acting as customer (PaymentIntents), or a connected account debited
    // as the charge's source. Neither is the locked Customer.
    const account = resource === "payment_intents" ? form.single("customer_account") : undefined;
    if (account !== undefined) named.push({ customer: account, param: "customer_account" });
    const source = resource === "charges" ? form.single("source") : undefined;
    if (source?.startsWith("acct_")) named.push({ customer: source, param: "source" });
    return parties(...named);
  }
  const why = NO_CUSTOMER[resource ?? ""] ?? `keybrake reads no customer from ${resource ?? "this call"}`;
  return parties({ customer: null, param: "customer", why });
}

/** Priced creates that have no customer: a customer-locked key refuses them. */
const NO_CUSTOMER: Readonly<Record<string, string>> = {
  payouts: "a payout has no customer (it pays the account's own bank)",
  transfers: "a transfer has no customer (it pays a connected account)",
};

/** `amount` + `currency` from the request (PaymentIntent and Charge create, Payout, Transfer). */
const amount: PricingRuleFn = (call, ctx) => {
  const form = formOf(call);
  return {
    ...priced(ctx, form.single("amount"), form.single("currency"), { endpoint: call.req.path.slice(1) }),
    counterparty: createParties(call.req.segments[1], form),
  };
};

/**
 * A refund of `amount`, or without one of "what is left". What is left is bounded by what the object moved (the
 * charge's `amount`, the PaymentIntent's `amount_received`), not read as amount − amount_refunded: cancelling a
 * pending refund (a free operation) can raise what is left between the read and the refund. The reservation
 * then settles to the refund's own `amount` in Stripe's answer.
 */
const refund: PricingRuleFn = async (call, ctx) => {
  const form = formOf(call);
  const charge = form.single("charge");
  const paymentIntent = form.single("payment_intent");
  if ((charge === undefined) === (paymentIntent === undefined)) {
    throw new UnpriceableRequestError("a refund must name exactly one of charge or payment_intent", "charge");
  }
  const id = charge !== undefined ? objectId(charge, "charge") : objectId(paymentIntent!, "payment_intent");
  const object = await read(ctx, charge !== undefined ? `/v1/charges/${id}` : `/v1/payment_intents/${id}`);
  // The refund goes back to the customer of the charge or PaymentIntent (and of `customer`, when it names one).
  const named = form.single("customer");
  const counterparty = parties(
    objectParty(
      object,
      charge !== undefined ? "charge" : "payment_intent",
      charge !== undefined ? "charge" : "PaymentIntent",
    ),
    ...(named !== undefined ? [{ customer: named, param: "customer" }] : []),
  );
  const currency = str(object.currency);
  const requested = form.single("amount");
  if (requested !== undefined) return { ...priced(ctx, requested, currency, { object: id }), counterparty };
  const bound = str(charge !== undefined ? object.amount : object.amount_received);
  const quote = priced(ctx, bound, currency, { object: id, refund_of: "what_is_left" });
  return {
    ...quote,
    counterparty,
    settlesFromReply: true,
    settle: (reply) => settleFromObject(reply, "refund", currency!, quote.amountMicro, ctx),
  };
};

/** Confirms `amount_to_confirm`, or the PaymentIntent's `amount` (which no free operation can change). */
const paymentIntentConfirm: PricingRuleFn = async (call, ctx) => {
  const id = pathId(call);
  const pi = await read(ctx, `/v1/payment_intents/${id}`);
  return {
    ...priced(ctx, formOf(call).single("amount_to_confirm") ?? str(pi.amount), str(pi.currency), { object: id }),
    counterparty: parties(objectParty(pi, "payment_intent", "PaymentIntent")),
  };
};

/** Captures `amount_to_capture`, or the PaymentIntent's `amount_capturable`. */
const paymentIntentCapture: PricingRuleFn = async (call, ctx) => {
  const id = pathId(call);
  const pi = await read(ctx, `/v1/payment_intents/${id}`);
  return {
    ...priced(ctx, formOf(call).single("amount_to_capture") ?? str(pi.amount_capturable), str(pi.currency), {
      object: id,
    }),
    counterparty: parties(objectParty(pi, "payment_intent", "PaymentIntent")),
  };
};

/** `amount` is the new authorized total: the increase over the PaymentIntent's `amount` is what can move. */
const paymentIntentIncrement: PricingRuleFn = async (call, ctx) => {
  const id = pathId(call);
  const total = formOf(call).single("amount");
  if (total === undefined) throw new UnpriceableRequestError("amount is required", "amount");
  const pi = await read(ctx, `/v1/payment_intents/${id}`);
  const increase = parseAmount(total, "amount") - parseAmount(str(pi.amount), "amount");
  return {
    ...priced(ctx, String(increase > 0n ? increase : 0n), str(pi.currency), { object: id }),
    counterparty: parties(objectParty(pi, "payment_intent", "PaymentIntent")),
  };
};

/** Captures `amount`, or what is left uncaptured on the charge. */
const chargeCapture: PricingRuleFn = async (call, ctx) => {
  const id = pathId(call);
  const charge = await read(ctx, `/v1/charges/${id}`);
  const uncaptured =
    parseAmount(str(charge.amount), "amount") - parseAmount(str(charge.amount_captured ?? 0), "amount");
  return {
    ...priced(ctx, formOf(call).single("amount") ?? String(uncaptured), str(charge.currency), { object: id }),
    counterparty: parties(objectParty(charge, "charge", "charge")),
  };
};

/**
 * Pays an invoice's `amount_remaining`. Only an open invoice's total is final: a draft's can still grow (and
 * paying a draft finalizes it), so anything but `open` is refused.
 */
const invoicePay: PricingRuleFn = async (call, ctx) => {
  const id = pathId(call);
  const invoice = await read(ctx, `/v1/invoices/${id}`);
  if (invoice.status !== "open") {
    throw new UnpriceableRequestError(
      `keybrake prices paying an open invoice only; this one is ${JSON.stringify(invoice.status ?? "of unknown status")}`,
    );
  }
  return {
    ...priced(ctx, str(invoice.amount_remaining), str(invoice.currency), { object: id }),
    counterparty: parties(objectParty(invoice, "invoice", "invoice")),
  };
};

const rules: { readonly [R in PricingRule<"stripe">]: PricingRuleFn } = {
  amount,
  refund,
  payment_intent_confirm: paymentIntentConfirm,
  payment_intent_capture: paymentIntentCapture,
  payment_intent_increment: paymentIntentIncrement,
  charge_capture: chargeCapture,
  invoice_pay: invoicePay,
};

/** Settles to the amount of the object Stripe answered with (same currency), else keeps the reservation. */
function settleFromObject(
  reply: UpstreamReply,
  object: string,
  currency: string,
  reservedMicro: number,
  ctx: PricingContext,
): Ending {
  const body = parseJsonBody(reply) as { object?: unknown; amount?: unknown; currency?: unknown } | undefined;
  if (
    body?.object !== object ||
    typeof body.amount !== "number" ||
    !Number.isSafeInteger(body.amount) ||
    body.amount < 0 ||
    String(body.currency).toLowerCase() !== currency.toLowerCase()
  ) {
    return { kind: "settled", actualMicro: reservedMicro };
  }
  return {
    kind: "settled",
    actualMicro: Number(minorUnitsToMicroUsd(BigInt(body.amount), currency, ctx.pricing.fxRates)),
  };
}

function priced(
  ctx: PricingContext,
  amount: string | undefined,
  currency: string | undefined,
  basis: Record<string, string>,
): Quote {
  if (amount === undefined) throw new UnpriceableRequestError("amount is required to price this call", "amount");
  if (!currency) throw new UnpriceableRequestError("currency is required to price this call", "currency");
  const minor = parseAmount(amount, "amount");
  try {
    const micro = minorUnitsToMicroUsd(minor, currency, ctx.pricing.fxRates);
    if (micro > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnpriceableRequestError("amount is too large", "amount");
    return {
      amountMicro: Number(micro),
      settlesFromReply: false,
      basis: { ...basis, amount, currency: currency.toLowerCase() },
    };
  } catch (error) {
    if (error instanceof UnpricedCurrencyError) {
      throw new UnpriceableRequestError(`no USD rate is configured for currency ${currency}`, "currency");
    }
    throw error;
  }
}

function parseAmount(raw: string | undefined, param: string): bigint {
  if (raw === undefined) throw new UnpriceableRequestError(`${param} is missing, so this call cannot be priced`, param);
  try {
    return parseMinorAmount(raw);
  } catch (error) {
    if (error instanceof InvalidAmountError)
      throw new UnpriceableRequestError(`${param} must be a whole number of minor units`, param);
    throw error;
  }
}

async function read(ctx: PricingContext, path: string): Promise<StripeObject> {
  const reply = await ctx.lookup(path);
  const body = parseJsonBody(reply);
  if (reply.status >= 500)
    throw new UpstreamError(`Stripe answered ${reply.status} when keybrake read ${path} to price the call`);
  if (reply.status !== 200 || typeof body !== "object" || body === null) {
    throw new UnpriceableRequestError(
      `keybrake could not read ${path} to price this call (Stripe answered ${reply.status})`,
    );
  }
  return body as StripeObject;
}

const str = (value: unknown) => (value === undefined || value === null ? undefined : String(value));

/** The API version the route table was classified against: a later `Stripe-Version` may behave in ways it never saw. */
const tableVersionDate = () => vendorRoutes.stripe.specVersion.slice(0, 10);
const STRIPE_VERSION = /^(\d{4}-\d{2}-\d{2})(?:\.[a-z][a-z0-9_]*)?$/;

/**
 * What no route table row can say: Stripe serves `/oauth/*` on connect.stripe.com and file contents on
 * files.stripe.com (stripe-node sends both to a custom host), so they are never forwarded to api.stripe.com as
 * something else; Stripe paths have no dots, so a format suffix (`payment_intents.json`) is refused rather than
 * left to Stripe's router; and a `Stripe-Version` later than the table's is refused (it may change what an
 * operation does), while an earlier one, or none (the account's default), passes through unchanged.
 */
function guard(req: ProxiedRequest): void {
  const attempted = `${req.method} ${req.path}`;
  if (req.segments[0] === "oauth") {
    throw new RefusedOperationError(`${attempted} is refused by keybrake: Stripe serves OAuth on connect.stripe.com`, {
      route: attempted,
      why: "Connect OAuth runs on connect.stripe.com, not the API host keybrake forwards to; it administers credentials",
    });
  }
  const [version, files, , contents] = req.segments;
  if (version === "v1" && files === "files" && contents === "contents" && req.segments.length === 4) {
    throw new RefusedOperationError(
      `${attempted} is refused by keybrake: Stripe serves file contents on files.stripe.com`,
      {
        route: attempted,
        why: "file contents are served by files.stripe.com, not the API host keybrake forwards to",
      },
    );
  }
  for (const segment of req.segments) {
    if (segment.includes(".")) {
      throw new InvalidRequestError(
        "Stripe paths have no dots: keybrake refuses a format suffix or dotted segment",
        "path",
      );
    }
  }
  const requested = req.headers.get("stripe-version");
  if (requested !== null) {
    const m = STRIPE_VERSION.exec(requested.trim());
    if (!m)
      throw new InvalidRequestError(
        `Stripe-Version ${JSON.stringify(requested.slice(0, 40))} is malformed`,
        "stripe-version",
      );
    if (m[1]! > tableVersionDate()) {
      throw new UnpriceableRequestError(
        `Stripe-Version ${requested.trim()} is later than ${vendorRoutes.stripe.specVersion}, the API version keybrake's route table classifies`,
        "stripe-version",
      );
    }
  }
}

/**
 * A PaymentIntent create Stripe refused after creating the intent (`confirm=true` and a declined card: 402, the
 * error carrying the intent in `requires_payment_method`) keeps its reservation: the intent's client_secret lets a
 * browser confirm it with the publishable key, past keybrake, so it is priced like any created intent. A refusal
 * that created nothing, a canceled intent, or Stripe's replay of an earlier answer is released as usual.
 */
function settleRefusal(req: ProxiedRequest, q: Quote, reply: UpstreamReply): Ending | undefined {
  if (req.method !== "POST" || req.path !== "/v1/payment_intents") return undefined;
  if (reply.headers["idempotent-replayed"] === "true") return undefined;
  const body = parseJsonBody(reply) as { error?: { payment_intent?: { id?: unknown; status?: unknown } } } | undefined;
  const intent = body?.error?.payment_intent;
  if (typeof intent?.id !== "string" || intent.status === "canceled") return undefined;
  return { kind: "settled", actualMicro: q.amountMicro };
}

export const stripe: VendorAdapter<"stripe"> = {
  vendor: "stripe",
  // Stripe keeps an Idempotency-Key 24 hours, per account: Connect headers select the account.
  idempotency: { windowMs: 24 * 3_600_000, scopeHeaders: ["stripe-account", "stripe-context"] },
  // Stripe-Version, -Account, -Context and the SDKs' X-Stripe-Client-* headers.
  forwardsHeader: requestHeaderAllowlist(["idempotency-key", "stripe-*", "x-stripe-*"]),
  authorization: (secret) => `Bearer ${secret}`,
  guard,
  // v2 bodies are JSON; no v2 operation is priced today (each is free or refused), so only v1 forms are priced.
  bodyType: (segments) => (segments[0] === "v2" ? "json" : "form"),
  rules,
  // A replay of an earlier request moved no new money: that request's reservation already counts it.
  settleSuccess: (_req, q, reply) =>
    reply.headers["idempotent-replayed"] === "true"
      ? { kind: "released" }
      : (q.settle?.(reply) ?? { kind: "settled", actualMicro: q.amountMicro }),
  settleRefusal,
  replyIds(reply) {
    const body = parseJsonBody(reply) as { id?: unknown } | undefined;
    return { objectId: typeof body?.id === "string" ? body.id : undefined, requestId: reply.headers["request-id"] };
  },
  refusal(error: KeybrakeError) {
    const headers: Record<string, string> = { "request-id": `req_kb_${randomBytes(8).toString("hex")}` };
    // 4xx refusals are final; the SDKs check this header before their status rules.
    if (error.status < 500) headers["stripe-should-retry"] = "false";
    const { param, ...details } = error.details as { param?: string };
    return {
      status: error.status,
      headers,
      body: {
        error: {
          type: error.status >= 500 ? "api_error" : "invalid_request_error",
          code: `keybrake_${error.code}`,
          message: error.message,
          ...(param ? { param } : {}),
          ...details,
        },
      },
    };
  },
};
