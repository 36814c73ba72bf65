import { randomBytes } from "node:crypto";
import { type KeybrakeError, UnpriceableRequestError, UpstreamError } from "../core/errors";
import { minorUnitsToMicroUsd, UnpricedCurrencyError } from "../core/fx";
import { type PricingContext, type ProxiedRequest, parseJsonBody, type Quote, type VendorAdapter } from "./adapter";
import { type FormParams, formParams } from "./form";
import { InvalidAmountError, parseMinorAmount } from "./stripe-money";

/**
 * Stripe: money-moving calls are priced from the fields Stripe will act on; calls whose amount is not in
 * the request are priced from the object itself, read first with the real key; calls that move no money
 * cost 0 (the allowlist limits them). Money Stripe could move that we cannot price is refused.
 */

type StripeObject = Record<string, unknown>;

/** POSTs that move money but cannot be priced before the fact: refused rather than let through free. */
const UNPRICEABLE = [
  /^v1\/checkout\/sessions$/,
  /^v1\/subscriptions(\/[^/]+)?$/,
  /^v1\/subscription_items(\/[^/]+)?$/,
  /^v1\/subscription_schedules(\/.*)?$/,
  /^v1\/invoices\/[^/]+\/finalize$/,
  /^v1\/topups(\/.*)?$/,
  /^v1\/issuing\/.+/,
  /^v1\/treasury\/.+/,
  /^v2\/money_management\/.+/,
];

async function quote(req: ProxiedRequest, ctx: PricingContext): Promise<Quote> {
  if (req.method !== "POST") return free();
  const route = req.segments.join("/");
  const [version, resource, id, action] = req.segments;
  const form = () => formParams(req);
  if (route === "v1/payment_intents" || route === "v1/charges" || route === "v1/payouts" || route === "v1/transfers") {
    const params = form();
    return priced(ctx, params.single("amount"), params.single("currency"), { endpoint: route });
  }
  if (route === "v1/refunds") return quoteRefund(form(), ctx);
  if (version === "v1" && resource === "payment_intents" && id && req.segments.length === 4) {
    if (action === "confirm") {
      const pi = await read(ctx, `/v1/payment_intents/${id}`);
      return priced(ctx, form().single("amount_to_confirm") ?? str(pi.amount), str(pi.currency), { object: id });
    }
    if (action === "capture") {
      const pi = await read(ctx, `/v1/payment_intents/${id}`);
      return priced(ctx, form().single("amount_to_capture") ?? str(pi.amount_capturable), str(pi.currency), {
        object: id,
      });
    }
    if (action === "increment_authorization") {
      const total = form().single("amount");
      const pi = await read(ctx, `/v1/payment_intents/${id}`);
      if (total === undefined) throw new UnpriceableRequestError("amount is required", "amount");
      const increase = parseAmount(total, "amount") - parseAmount(str(pi.amount), "amount");
      return priced(ctx, String(increase > 0n ? increase : 0n), str(pi.currency), { object: id });
    }
  }
  if (version === "v1" && resource === "charges" && id && action === "capture" && req.segments.length === 4) {
    const charge = await read(ctx, `/v1/charges/${id}`);
    const uncaptured =
      parseAmount(str(charge.amount), "amount") - parseAmount(str(charge.amount_captured ?? 0), "amount");
    return priced(ctx, form().single("amount") ?? String(uncaptured), str(charge.currency), { object: id });
  }
  if (version === "v1" && resource === "invoices" && id && action === "pay" && req.segments.length === 4) {
    const invoice = await read(ctx, `/v1/invoices/${id}`);
    return priced(ctx, str(invoice.amount_remaining), str(invoice.currency), { object: id });
  }
  if (UNPRICEABLE.some((pattern) => pattern.test(route))) {
    throw new UnpriceableRequestError(`keybrake cannot price POST /${route} before it runs, so it is not forwarded`);
  }
  return free();
}

/** A refund without an amount refunds whatever is left: read it from the charge or PaymentIntent. */
async function quoteRefund(params: FormParams, ctx: PricingContext): Promise<Quote> {
  const charge = params.single("charge");
  const paymentIntent = params.single("payment_intent");
  if ((charge === undefined) === (paymentIntent === undefined)) {
    throw new UnpriceableRequestError("a refund must name exactly one of charge or payment_intent", "charge");
  }
  const object = charge
    ? await read(ctx, `/v1/charges/${encodeURIComponent(charge)}`)
    : await read(ctx, `/v1/payment_intents/${encodeURIComponent(paymentIntent!)}`);
  const refundable = charge
    ? parseAmount(str(object.amount), "amount") - parseAmount(str(object.amount_refunded ?? 0), "amount")
    : parseAmount(str(object.amount_received), "amount");
  return priced(ctx, params.single("amount") ?? String(refundable), str(object.currency), {
    object: (charge ?? paymentIntent)!,
  });
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
const free = (): Quote => ({ amountMicro: 0, settlesFromReply: false, basis: {} });

export const stripe: VendorAdapter<"stripe"> = {
  vendor: "stripe",
  // Stripe keeps an Idempotency-Key 24 hours, per account: Connect headers select the account.
  idempotency: { windowMs: 24 * 3_600_000, scopeHeaders: ["stripe-account", "stripe-context"] },
  authorization: (secret) => `Bearer ${secret}`,
  quote,
  // A replay of an earlier request moved no new money: that request's reservation already counts it.
  settleSuccess: (_req, q, reply) =>
    reply.headers["idempotent-replayed"] === "true"
      ? { kind: "released" }
      : { kind: "settled", actualMicro: q.amountMicro },
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
