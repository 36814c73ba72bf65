// The vendor adapters by name, and which vendor a path belongs to before the key is known (for the error shape).
import type { Vendor } from "../core/vendors";
import type { VendorAdapter } from "./adapter";
import { vendorRoutes } from "./operations";
import { resend } from "./resend";
import { stripe } from "./stripe";
import { twilio } from "./twilio";

export const adapters: { [V in Vendor]: VendorAdapter<V> } = { stripe, twilio, resend };

/** The first path segments of Resend's routes (`emails`, `contacts`, `segments`...), from its route table. */
let resendRoots: ReadonlySet<string> | undefined;
function isResendRoot(segment: string): boolean {
  resendRoots ??= new Set(vendorRoutes.resend.routes.map((r) => r.path.split("/")[1]!));
  return resendRoots.has(segment);
}

/** Which vendor's error shape to answer in before the key is known (bare paths name their vendor's API). */
export function vendorForPath(segments: readonly string[]): Vendor {
  const first = segments[0];
  if (first === "2010-04-01") return "twilio";
  // Stripe's API versions, and OAuth (which stripe-node sends to the same custom host).
  if (first === "v1" || first === "v2" || first === "oauth") return "stripe";
  if (first !== undefined && isResendRoot(first)) return "resend";
  return "stripe";
}
