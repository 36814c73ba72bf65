// The closed world (docs/guarantees.md#8-closed-world): what a request is, decided from its canonical target and
// its vendor's route table alone, before the allowlist, the vendor secret, any pricing read and the ledger.
//
// - GET and HEAD are reads: free, still allowlisted (HEAD as GET). No read on the hosts keybrake forwards to
//   moves money.
// - POST, PUT, PATCH and DELETE are looked up in the route table: `priced` runs the row's rule, `free` costs 0,
//   `refused` and a route in no row are refused (400 `unpriceable_request` naming the operation and why).
// - Any other method (OPTIONS, TRACE, CONNECT, WebDAV, ...) is refused.
// - A method override (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override` headers, a `_method`
//   parameter) is refused on every request: a vendor honouring it would run another operation than the one classified.
// - A priced call has no query string: vendors merge it into the body's parameters (Stripe does), so the price
//   is read from the body alone and nothing else may add to it.
import type { CounterpartyLock } from "../core/counterparty";
import { KeybrakeError, UnpriceableRequestError } from "../core/errors";
import type { Vendor } from "../core/vendors";
import type { PricedCall, PricingContext, ProxiedRequest, Quote, VendorAdapter } from "./adapter";
import type { RequestBody } from "./body";
import { checkActingAccount, checkCounterparty } from "./counterparty";
import { readForm } from "./form";
import { isMutatingMethod, matchVendorRoute, type PathFormat, type RouteRow } from "./operations";

export type Classified<V extends Vendor = Vendor> =
  | { readonly kind: "read" }
  | { readonly kind: "free"; readonly route: RouteRow<V> }
  | {
      readonly kind: "priced";
      readonly route: Extract<RouteRow<V>, { class: "priced" }>;
      readonly params: Readonly<Record<string, string>>;
      readonly format?: PathFormat;
    };

/** 400: the operation is refused by the route table, is in no row of it, or uses a method keybrake never forwards. */
export class RefusedOperationError extends KeybrakeError {
  override name = "RefusedOperationError";
  constructor(message: string, details: { operation?: string; route: string; why: string }) {
    super(400, "unpriceable_request", message, details);
  }
}

const OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"] as const;

export function classify<V extends Vendor>(vendor: V, req: ProxiedRequest): Classified<V> {
  const attempted = `${req.method} ${req.path}`;
  for (const header of OVERRIDE_HEADERS) {
    if (req.headers.has(header)) {
      throw new RefusedOperationError(`${attempted}: keybrake refuses a ${header} header`, {
        route: attempted,
        why: "a method override could make the vendor run another operation than the one classified and priced",
      });
    }
  }
  // The query's parameters are read like a form's: well-formed, UTF-8, no `;`, no `_method`.
  if (req.query !== "") readForm(req.query, "query string");
  if (req.method === "GET" || req.method === "HEAD") return { kind: "read" };
  if (!isMutatingMethod(req.method)) {
    throw new RefusedOperationError(`keybrake does not forward ${req.method} requests`, {
      route: attempted,
      why: "only GET and HEAD (reads) and the POST, PUT, PATCH and DELETE operations of the route table are forwarded",
    });
  }
  const matched = matchVendorRoute(vendor, req.method, req.segments);
  if (!matched) {
    throw new RefusedOperationError(
      `${attempted} is not an operation keybrake has classified for ${vendor}, so it is refused whatever the allowlist says`,
      { route: attempted, why: "not in keybrake's route table: unclassified mutating operations are refused" },
    );
  }
  const { route } = matched;
  if (route.class === "refused") {
    throw new RefusedOperationError(`${attempted} (${route.operation}) is refused by keybrake: ${route.why}`, {
      operation: route.operation,
      route: attempted,
      why: route.why,
    });
  }
  if (route.class === "free") return { kind: "free", route };
  if (req.query !== "") {
    throw new UnpriceableRequestError(
      `${attempted} is priced from its body; keybrake refuses a query string on it, which the vendor would merge into the priced parameters`,
      "query",
    );
  }
  return {
    kind: "priced",
    route: route as Extract<RouteRow<V>, { class: "priced" }>,
    params: matched.params,
    format: matched.format,
  };
}

const FREE: Quote = Object.freeze({ amountMicro: 0, settlesFromReply: false, basis: Object.freeze({}) }) as Quote;

/**
 * The price of a classified call: 0 for reads and free operations, else the priced row's rule. With the key's
 * counterparty `lock`, the call is also held to it (docs/guarantees.md#counterparty-lock): the account it acts as
 * before anything is read (every call), then whom the priced rule says it acts on (403 `counterparty_not_allowed`).
 */
export async function quoteCall<V extends Vendor>(
  adapter: VendorAdapter<V>,
  call: Classified<V>,
  req: ProxiedRequest,
  body: RequestBody,
  ctx: PricingContext,
  lock?: CounterpartyLock,
): Promise<Quote> {
  if (lock) checkActingAccount(adapter.vendor, lock, req);
  if (call.kind !== "priced") return FREE;
  const priced: PricedCall = { req, params: call.params, format: call.format, body };
  const quote = await adapter.rules[call.route.rule](priced, ctx);
  if (lock) checkCounterparty(adapter.vendor, lock, quote);
  return quote;
}
