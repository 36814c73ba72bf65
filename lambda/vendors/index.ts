import type { Vendor } from "../core/vendors";
import type { VendorAdapter } from "./adapter";
import { resend } from "./resend";
import { stripe } from "./stripe";
import { twilio } from "./twilio";

export const adapters: { [V in Vendor]: VendorAdapter<V> } = { stripe, twilio, resend };

/** Which vendor's error shape to answer in before the key is known (bare paths name their vendor's API). */
export function vendorForPath(segments: readonly string[]): Vendor {
  if (segments[0] === "2010-04-01") return "twilio";
  if (segments[0] === "emails" || segments[0] === "domains" || segments[0] === "audiences") return "resend";
  return "stripe";
}
