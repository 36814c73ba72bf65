// Prices the proxy uses where the request alone does not give the cost. Defaults are deliberately high
// (a reservation is an upper bound; Twilio settles down to the real `price` when its answer carries one).
import { fieldsOf, isPlainObject, refuseUnknownFields } from "./fields";
import { type FxRates, parseFxRates } from "./fx";
import { decimalToMicro } from "./money";

export interface PricingConfig {
  fxRates: FxRates;
  /** Per SMS segment to +1 (US/Canada) numbers. Default 0.02 USD (list price 0.0083 plus carrier fees). */
  twilioSegmentMicro: number;
  /**
   * Per SMS segment to any other destination. Default 0.50 USD: above the highest per-segment list prices found
   * (about 0.30 USD: Nepal, Trinidad and Tobago), as a reservation must be an upper bound.
   */
  twilioIntlSegmentMicro: number;
  /** Per MMS message. Default 0.05 USD. */
  twilioMmsMicro: number;
  /** Per email recipient (to + cc + bcc), as Resend counts them. Default 0.001 USD. */
  resendEmailMicro: number;
}

export interface PricingInput {
  fx_usd?: Record<string, string | number>;
  twilio_sms_segment_usd?: string | number;
  twilio_sms_segment_intl_usd?: string | number;
  twilio_mms_usd?: string | number;
  resend_email_usd?: string | number;
}

function price(value: string | number | undefined, fallback: string, name: string): number {
  const micro = decimalToMicro(String(value ?? fallback));
  if (micro === undefined || micro <= 0) throw new Error(`pricing.${name} must be a positive decimal, got ${value}`);
  return micro;
}

export const PRICING_FIELDS = fieldsOf<PricingInput>()([
  "fx_usd",
  "twilio_sms_segment_usd",
  "twilio_sms_segment_intl_usd",
  "twilio_mms_usd",
  "resend_email_usd",
]);

export function parsePricing(input: PricingInput = {}): PricingConfig {
  // Declared as data (stack config, KEYBRAKE_PRICING): a misspelled key must not leave a price at its default.
  if (!isPlainObject(input)) throw new Error('pricing must be an object, e.g. {"fx_usd": {"eur": "1.08"}}');
  refuseUnknownFields(input, PRICING_FIELDS, "pricing");
  if (input.fx_usd !== undefined && !isPlainObject(input.fx_usd))
    throw new Error('pricing.fx_usd must map currencies to USD, e.g. {"eur": "1.08"}');
  return {
    fxRates: parseFxRates(input.fx_usd ?? {}),
    twilioSegmentMicro: price(input.twilio_sms_segment_usd, "0.02", "twilio_sms_segment_usd"),
    twilioIntlSegmentMicro: price(input.twilio_sms_segment_intl_usd, "0.50", "twilio_sms_segment_intl_usd"),
    twilioMmsMicro: price(input.twilio_mms_usd, "0.05", "twilio_mms_usd"),
    resendEmailMicro: price(input.resend_email_usd, "0.001", "resend_email_usd"),
  };
}
