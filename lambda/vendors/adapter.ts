// The contract between the proxy and each vendor's module (stripe.ts, twilio.ts, resend.ts): what a request looks
// like once parsed, what a vendor answers, how a call is priced and quoted, and how refusals are shaped.
import type { Ending } from "../core/ending";
import type { KeybrakeError } from "../core/errors";
import type { PricingConfig } from "../core/pricing";
import type { VendorSecrets } from "../core/secrets";
import type { Vendor } from "../core/vendors";
import type { BodyType, RequestBody } from "./body";
import type { Counterparty } from "./counterparty";
import type { PathFormat, PricingRule } from "./operations";

/**
 * The proxied request as the adapters see it (parsed by proxy/request.ts): the vendor path split into decoded, validated segments.
 * Anything that could make the upstream URL differ from what was priced and allowlisted is refused here.
 */
export interface ProxiedRequest {
  method: string;
  /** Vendor named by the route prefix (`/stripe/...`), or undefined for a bare vendor path. */
  routeVendor?: Vendor;
  /** The upstream path, e.g. `/v1/payment_intents/pi_123/confirm`. */
  path: string;
  segments: string[];
  /** Raw query string without the `?` ("" when none), passed through byte for byte. */
  query: string;
  headers: Headers;
  body: Uint8Array;
}

/** A vendor's answer, buffered (proxy/forward.ts sends the request). */
export interface UpstreamReply {
  status: number;
  headers: Record<string, string>;
  /** Each `Set-Cookie` of the answer, as sent (never merged into one header). */
  setCookies?: string[];
  body: Buffer;
}

/** What a call will cost before it is forwarded. */
export interface Quote {
  amountMicro: number;
  /** The real cost comes from the vendor's answer (an estimate now): the reservation gets a pending marker. */
  settlesFromReply: boolean;
  /** The request fields that priced it, for the audit record (never the whole body). */
  basis: Record<string, string | number | boolean>;
  /**
   * Whom the call acts on, read from exactly the fields the vendor acts on (or the object read first), for the
   * key's counterparty lock. Every priced rule reports it; under a lock, a quote without it is refused.
   */
  counterparty?: Counterparty;
  /**
   * How a 2xx answer ends the reservation when the cost depends on the answer (a permissive Resend batch, a Stripe
   * refund of "what is left"); absent, the adapter's own rule applies.
   */
  settle?(reply: UpstreamReply): Ending;
}

/** A call whose route is priced: what its rule reads. */
export interface PricedCall {
  req: ProxiedRequest;
  /** The matched row's path parameters, e.g. `{ id: "pi_123" }`. */
  params: Readonly<Record<string, string>>;
  /** For rows with formats (Twilio): the form the request used. */
  format?: PathFormat;
  /** The body, read once by the reader of the type the vendor expects. */
  body: RequestBody;
}

/** One named pricing rule; a priced row of the vendor's route table names it. */
export type PricingRuleFn = (call: PricedCall, ctx: PricingContext) => Quote | Promise<Quote>;

export interface PricingContext {
  pricing: PricingConfig;
  /** GETs a vendor object with the real secret, for calls priced from the object (Stripe confirm, capture...). */
  lookup(path: string): Promise<UpstreamReply>;
}

/** A refusal in the vendor's own error shape, so its SDK raises a clear error and does not retry. */
export interface RefusalReply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * How a vendor deduplicates on `Idempotency-Key`: a retry rides free only within `windowMs` of the first call
 * and only when the request and these headers (which select the target account) are the same. Absent: the
 * vendor does not deduplicate, so every call reserves (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice).
 */
export interface IdempotencyPolicy {
  windowMs: number;
  /** Lowercase request header names that select where the call acts. */
  scopeHeaders: readonly string[];
}

/** Request headers every vendor's API may read (content negotiation and the client's name); the rest per vendor. */
const COMMON_REQUEST_HEADERS = ["accept", "accept-charset", "accept-language", "content-type", "user-agent"];

/**
 * Which request headers reach a vendor: the common ones and the vendor's own, as lowercase names or, ending in
 * `*`, prefixes (`stripe-*`). A closed world for headers as the route tables are for paths: a header no vendor
 * reads (a routing override such as `X-Original-URL`, another hop's `X-Real-IP`) is dropped, never forwarded.
 */
export function requestHeaderAllowlist(vendorHeaders: readonly string[]): (name: string) => boolean {
  const names = new Set([...COMMON_REQUEST_HEADERS, ...vendorHeaders.filter((h) => !h.endsWith("*"))]);
  const prefixes = vendorHeaders.filter((h) => h.endsWith("*")).map((h) => h.slice(0, -1));
  return (name) => names.has(name) || prefixes.some((prefix) => name.startsWith(prefix));
}

/** Everything that differs between vendors lives behind this interface, one module per vendor. */
export interface VendorAdapter<V extends Vendor = Vendor> {
  vendor: V;
  idempotency?: IdempotencyPolicy;
  /** Whether a (lowercase) request header is one this vendor's API reads, and so is forwarded to it. */
  forwardsHeader(name: string): boolean;
  /** The Authorization header value carrying the real secret (replaces the vault key). */
  authorization(secret: VendorSecrets[V]): string;
  /** Refuses requests this secret must not be used for (e.g. another Twilio account's path). */
  guard?(req: ProxiedRequest, secret: VendorSecrets[V]): void;
  /** The body type a priced call on this path is read as (its rule reads that). */
  bodyType(segments: readonly string[]): BodyType;
  /** The vendor's pricing rules by name: every priced row of its route table runs one of them. */
  rules: { readonly [R in PricingRule<V>]: PricingRuleFn };
  /** How a 2xx answer ends the reservation (exact by default; Twilio settles from `price`). */
  settleSuccess(req: ProxiedRequest, quote: Quote, reply: UpstreamReply): Ending;
  /**
   * How a 4xx answer ends the reservation when the vendor refused the call yet still acted on it (Stripe declines a
   * PaymentIntent create with `confirm=true` but the intent exists); absent, or undefined: released.
   */
  settleRefusal?(req: ProxiedRequest, quote: Quote, reply: UpstreamReply): Ending | undefined;
  /** The vendor's object id and request id from a reply, for the audit record. */
  replyIds(reply: UpstreamReply): { objectId?: string; requestId?: string };
  refusal(error: KeybrakeError): RefusalReply;
}

export function parseJsonBody(reply: UpstreamReply): unknown {
  try {
    return JSON.parse(reply.body.toString("utf8"));
  } catch {
    return undefined;
  }
}
