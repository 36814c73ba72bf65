import { ForbiddenError, type KeybrakeError, UnpriceableRequestError } from "../core/errors";
import { decimalToMicro } from "../core/money";
import { type PricingContext, type ProxiedRequest, parseJsonBody, type Quote, type VendorAdapter } from "./adapter";
import { formParams } from "./form";
import { countSegments } from "./twilio-segments";

/**
 * Twilio: a Message is priced before sending from its segments (GSM-7 / UCS-2) times a per-segment price
 * (higher outside +1 numbers), or a flat MMS price; it settles to the answer's `price` when Twilio gives
 * one (usually only later, so the estimate usually stands). Calls and number purchases are refused.
 */

/** Twilio's own upper bound: a body of 1,600 UCS-2 characters (used when a template's body is unknown). */
const MAX_SEGMENTS = Math.ceil(1600 / 67);

const MESSAGES = /^2010-04-01\/Accounts\/[^/]+\/Messages\.json$/;
const UNPRICEABLE = [
  /^2010-04-01\/Accounts\/[^/]+\/Calls\.json$/,
  /^2010-04-01\/Accounts\/[^/]+\/IncomingPhoneNumbers/,
];

async function quote(req: ProxiedRequest, ctx: PricingContext): Promise<Quote> {
  const route = req.segments.join("/");
  if (req.method !== "POST") return { amountMicro: 0, settlesFromReply: false, basis: {} };
  if (UNPRICEABLE.some((p) => p.test(route))) {
    throw new UnpriceableRequestError(`keybrake cannot price POST /${route} before it runs, so it is not forwarded`);
  }
  if (!MESSAGES.test(route)) return { amountMicro: 0, settlesFromReply: false, basis: {} };
  const params = formParams(req);
  const to = params.single("To") ?? "";
  const body = params.single("Body");
  const mms = params.all("MediaUrl").length > 0 || params.single("SendAsMms") === "true";
  if (mms) {
    return {
      amountMicro: ctx.pricing.twilioMmsMicro,
      settlesFromReply: true,
      basis: { to_prefix: prefix(to), mms: true },
    };
  }
  const perSegment = to.startsWith("+1") ? ctx.pricing.twilioSegmentMicro : ctx.pricing.twilioIntlSegmentMicro;
  const segments =
    body === undefined
      ? MAX_SEGMENTS
      : countSegments(body, { smartEncoded: params.single("SmartEncoded") === "true" }).segments;
  return { amountMicro: segments * perSegment, settlesFromReply: true, basis: { to_prefix: prefix(to), segments } };
}

/** Enough of the number to show the pricing zone, not the recipient. */
const prefix = (to: string) => to.slice(0, 3);

export const twilio: VendorAdapter<"twilio"> = {
  vendor: "twilio",
  // No `idempotency`: Twilio does not deduplicate (a repeated POST sends a second SMS), so every call reserves.
  authorization: ({ accountSid, authToken }) => `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`,
  guard(req, { accountSid }) {
    // The real credentials may act only on their own account, never on another account's path.
    const [version, accounts, sid] = req.segments;
    if (
      version === "2010-04-01" &&
      accounts === "Accounts" &&
      sid !== undefined &&
      sid.replace(/\.json$/, "") !== accountSid
    ) {
      throw new ForbiddenError("wrong_account", "this proxy only serves its own Twilio account", {
        attempted_account: sid,
      });
    }
  },
  quote,
  settleSuccess(_req, q, reply) {
    const body = parseJsonBody(reply) as { price?: unknown; price_unit?: unknown } | undefined;
    const price = typeof body?.price === "string" ? decimalToMicro(body.price) : undefined;
    if (price === undefined || body?.price_unit !== "USD") return { kind: "settled", actualMicro: q.amountMicro };
    return { kind: "settled", actualMicro: Math.abs(price) };
  },
  replyIds(reply) {
    const body = parseJsonBody(reply) as { sid?: unknown } | undefined;
    return {
      objectId: typeof body?.sid === "string" ? body.sid : undefined,
      requestId: reply.headers["twilio-request-id"],
    };
  },
  refusal(error: KeybrakeError) {
    // Twilio's shape gives a RestException in twilio-node; no `type`+`title` pair, which would make it RFC 9457.
    return {
      status: error.status,
      headers: {},
      body: {
        code: 20000 + error.status,
        message: error.message,
        more_info: `keybrake:${error.code}`,
        status: error.status,
        keybrake_code: error.code,
        ...error.details,
      },
    };
  },
};
