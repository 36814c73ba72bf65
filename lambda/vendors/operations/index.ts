// The three vendors' route tables, each loaded, checked and compiled on its first use: a cold start compiles
// none of them, and the first call to a vendor compiles that vendor's alone (the tables are most of the proxy
// bundle: measured, loading all three took about 10 ms of every cold start, docs/performance.md). A malformed
// table still never reaches a request: `checkRouteTables` runs them all when a handler is bundled
// (components/bundle.ts), so it fails the build and every deploy from a checkout, and the unit tests check every
// row. The snapshots are not imported: they are test data, not proxy code.
import { VENDORS, type Vendor } from "../../core/vendors";
import { type CompiledRoutes, compileRoutes, type MatchedRoute, matchRoute } from "./match";
import type { VendorRoutes } from "./routes";

const load: { readonly [V in Vendor]: () => VendorRoutes<V> } = {
  // A `require` inside a function: the bundler keeps each table's module (its JSON too) unevaluated until then.
  stripe: () => (require("./stripe.table") as typeof import("./stripe.table")).table,
  twilio: () => (require("./twilio.table") as typeof import("./twilio.table")).table,
  resend: () => (require("./resend.table") as typeof import("./resend.table")).table,
};

/** One value per vendor, made on first access and kept. */
function perVendor<T extends { readonly [V in Vendor]: unknown }>(make: (vendor: Vendor) => unknown): T {
  const made = {} as Record<Vendor, unknown>;
  const out = {} as T;
  for (const vendor of VENDORS) {
    Object.defineProperty(out, vendor, {
      enumerable: true,
      get: () => {
        if (!(vendor in made)) made[vendor] = make(vendor);
        return made[vendor];
      },
    });
  }
  return out;
}

export const vendorRoutes = perVendor<{ readonly [V in Vendor]: VendorRoutes<V> }>((vendor) => load[vendor]());

export const compiledRoutes = perVendor<{ readonly [V in Vendor]: CompiledRoutes<V> }>((vendor) =>
  compileRoutes(vendorRoutes[vendor]),
);

/** Loads, checks and compiles every table now; throws naming what is malformed. */
export function checkRouteTables(): void {
  for (const vendor of VENDORS) void compiledRoutes[vendor];
}

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
