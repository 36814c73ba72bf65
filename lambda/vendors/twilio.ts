// Twilio. Which operations are priced, free or refused is `operations/twilio.routes.json`; its one priced row,
// Messages create, runs `message` below: segments (GSM-7 / UCS-2) times the per-segment price of the
// destination's class, or the MMS price when the message can go as MMS, whichever is higher. The reservation
// settles to the `price` Twilio's answer carries, even above the reservation (docs/pricing.md#twilio-overage).
import type { Ending } from "../core/ending";
import { ForbiddenError, type KeybrakeError, UnpriceableRequestError } from "../core/errors";
import { decimalToMicro } from "../core/money";
import {
  type PricedCall,
  type PricingRuleFn,
  parseJsonBody,
  requestHeaderAllowlist,
  type UpstreamReply,
  type VendorAdapter,
} from "./adapter";
import type { FormParams } from "./form";
import type { PricingRule } from "./operations";
import { countSegments } from "./twilio-segments";

/** Twilio's own upper bound: a body of 1,600 UCS-2 characters (used when a template's body is unknown). */
const MAX_SEGMENTS = Math.ceil(1600 / 67);

/**
 * What Twilio's MMS Converter (on by default) appends for each media when it sends an MMS as an SMS to a number or
 * carrier that cannot take MMS, international ones included: a short link such as `https://m.twil.io/iFQQBEk7QV`
 * (28 characters; twilio/twilio-java#455 shows two of them). Counted as a separator and 40 GSM-7 characters each,
 * so the SMS it becomes is priced from above.
 */
const CONVERTER_LINK = ` ${"x".repeat(40)}`;

/**
 * NANP area codes outside the US and Canada: Caribbean and Atlantic countries and the US territories, which Twilio
 * prices as their own countries, above US rates. A `+1` number in one of them is priced as international.
 */
const NANP_ELSEWHERE = new Set([
  "242",
  "246",
  "264",
  "268",
  "284",
  "340",
  "345",
  "441",
  "473",
  "649",
  "658",
  "664",
  "670",
  "671",
  "684",
  "721",
  "758",
  "767",
  "784",
  "787",
  "809",
  "829",
  "849",
  "868",
  "869",
  "876",
  "939",
]);

/**
 * The destination's price class: `domestic` (the configured US/Canada price) only for `+1` and ten digits in a US or
 * Canadian area code; everything else (other countries, Caribbean `+1` numbers, channel addresses such as
 * `whatsapp:+1…`, short codes, numbers Twilio would have to reformat) is `international`, the higher price.
 */
export function destinationClass(to: string): "domestic" | "international" {
  if (to.length !== 12 || !to.startsWith("+1")) return "international";
  for (let i = 2; i < 12; i++) {
    const c = to.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return "international";
  }
  if (to[2]! < "2" || to[5]! < "2") return "international";
  return NANP_ELSEWHERE.has(to.slice(2, 5)) ? "international" : "domestic";
}

const CI = { ignoreCase: true } as const;

const formOf = (call: PricedCall): FormParams => {
  if (call.body.kind !== "form") throw new UnpriceableRequestError("this call is priced from its form parameters");
  return call.body.form;
};

/**
 * Messages create. Parameter names are read in any case (a name Twilio might fold is never left unpriced), and
 * each pricing field must appear once. Only the `.json` form is priced: `.xml` and the bare form answer in XML, and
 * settlement reads Twilio's `price` from JSON, so they are refused.
 */
const message: PricingRuleFn = (call, ctx) => {
  if (call.format !== ".json") {
    throw new UnpriceableRequestError(
      "keybrake sends messages through Messages.json only: the .xml and extension-less forms answer in XML, which it cannot settle from",
      "path",
    );
  }
  const form = formOf(call);
  const sentTo = form.single("To", CI);
  const to = sentTo ?? "";
  const body = form.single("Body", CI);
  const template = form.single("ContentSid", CI) !== undefined;
  const sendAsMms = form.single("SendAsMms", CI);
  const media = form.all("MediaUrl", CI).length;
  const mms = media > 0 || (sendAsMms !== undefined && sendAsMms.toLowerCase() !== "false");
  const smartEncoded = (form.single("SmartEncoded", CI) ?? "").toLowerCase() === "true";
  const destination = destinationClass(to);
  const perSegment = destination === "domestic" ? ctx.pricing.twilioSegmentMicro : ctx.pricing.twilioIntlSegmentMicro;
  // A template's body is resolved by Twilio, so it is priced at the longest body; Body is then ignored by Twilio.
  // An MMS can still go out as an SMS (MMS Converter, to a number that cannot take MMS): its body and a link per
  // media (at least one), billed as that SMS at the destination's price.
  const segments = template
    ? MAX_SEGMENTS
    : mms
      ? countSegments(`${body ?? ""}${CONVERTER_LINK.repeat(Math.max(media, 1))}`, { smartEncoded }).segments
      : body === undefined
        ? MAX_SEGMENTS
        : countSegments(body, { smartEncoded }).segments;
  // The higher of the MMS price and the price of the SMS it may become bounds it.
  const amountMicro = Math.max(segments * perSegment, mms ? ctx.pricing.twilioMmsMicro : 0);
  return {
    amountMicro,
    settlesFromReply: true,
    basis: { to_prefix: to.slice(0, 3), destination, segments, ...(mms ? { mms: true } : {}) },
    counterparty: { kind: "twilio", to: sentTo },
  };
};

const rules: { readonly [R in PricingRule<"twilio">]: PricingRuleFn } = { message };

/**
 * Settles to the `price` Twilio's answer carries (a negative USD decimal), or keeps the estimate when it carries
 * none (usually: Twilio prices a message after sending it). A price above the reservation is kept as it is: the
 * day's window may go negative, so no further reservation fits that day, and the audit record carries the
 * difference as `overage_usd`.
 */
function settleSuccess(_req: unknown, q: { amountMicro: number }, reply: UpstreamReply): Ending {
  const body = parseJsonBody(reply) as { price?: unknown; price_unit?: unknown } | undefined;
  const price = typeof body?.price === "string" ? decimalToMicro(body.price) : undefined;
  if (price === undefined || body?.price_unit !== "USD") return { kind: "settled", actualMicro: q.amountMicro };
  return { kind: "settled", actualMicro: Math.abs(price) };
}

export const twilio: VendorAdapter<"twilio"> = {
  vendor: "twilio",
  // No `idempotency`: Twilio does not deduplicate (a repeated POST sends a second SMS), so every call reserves.
  // twilio-node's Twilio-Client-Validation and Twilio's own X-Twilio-* headers.
  forwardsHeader: requestHeaderAllowlist(["twilio-*", "x-twilio-*"]),
  authorization: ({ accountSid, authToken }) => `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`,
  guard(req, { accountSid }) {
    // The real credentials may act only on their own account, never on another account's path.
    const [version, accounts, sid] = req.segments;
    if (
      version === "2010-04-01" &&
      accounts === "Accounts" &&
      sid !== undefined &&
      sid.replace(/\.(json|xml)$/, "") !== accountSid
    ) {
      throw new ForbiddenError("wrong_account", "this proxy only serves its own Twilio account", {
        attempted_account: sid,
      });
    }
  },
  bodyType: () => "form",
  rules,
  settleSuccess,
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
