import type { Vendor } from "../../core/vendors";
import { type CompiledRoutes, compileRoutes, type MatchedRoute, matchRoute } from "./match";
import resendJson from "./resend.routes.json";
import { parseVendorRoutes, type VendorRoutes } from "./routes";
import stripeJson from "./stripe.routes.json";
import twilioJson from "./twilio.routes.json";

/**
 * The three vendors' route tables, checked and compiled once when the module loads (a malformed table fails
 * the cold start, never a request). The snapshots are not imported: they are test data, not proxy code.
 */

export const vendorRoutes: { readonly [V in Vendor]: VendorRoutes<V> } = {
  stripe: parseVendorRoutes("stripe", stripeJson),
  twilio: parseVendorRoutes("twilio", twilioJson),
  resend: parseVendorRoutes("resend", resendJson),
};

export const compiledRoutes: { readonly [V in Vendor]: CompiledRoutes<V> } = {
  stripe: compileRoutes(vendorRoutes.stripe),
  twilio: compileRoutes(vendorRoutes.twilio),
  resend: compileRoutes(vendorRoutes.resend),
};

/** The row of `vendor`'s table a request matches; undefined means unclassified, so refused when mutating. */
export function matchVendorRoute<V extends Vendor>(
  vendor: V,
  method: string,
  segments: readonly string[],
): MatchedRoute<V> | undefined {
  return matchRoute(compiledRoutes[vendor] as CompiledRoutes<V>, method, segments);
}

export type { CompiledRoutes, MatchedRoute } from "./match";
export { compileRoutes, matchRoute } from "./match";
export type { MutatingMethod, PathFormat, PricingRule, RouteClass, RouteRow, VendorRoutes } from "./routes";
export { isMutatingMethod, PRICING_RULES } from "./routes";
