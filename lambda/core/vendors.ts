// The vendors keybrake fronts, named once: every per-vendor table in the code is keyed by this list.
export const VENDORS = ["stripe", "twilio", "resend"] as const;
export type Vendor = (typeof VENDORS)[number];

export function isVendor(value: unknown): value is Vendor {
  return typeof value === "string" && (VENDORS as readonly string[]).includes(value);
}
