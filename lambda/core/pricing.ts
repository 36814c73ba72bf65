import { type FxRates, parseFxRates } from "./fx";
import { decimalToMicro } from "./money";

/**
 * Prices the proxy uses where the request alone does not give the cost. Defaults are deliberately high
 * (a reservation is an upper bound; Twilio settles down to the real `price` when its answer carries one).
 */
export interface PricingConfig {
  fxRates: FxRates;
  /** Per SMS segment to +1 (US/Canada) numbers. Default 0.02 USD (list price 0.0083 plus carrier fees). */
  twilioSegmentMicro: number;
  /** Per SMS segment to any other destination. Default 0.15 USD. */
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

export function parsePricing(input: PricingInput = {}): PricingConfig {
  return {
    fxRates: parseFxRates(input.fx_usd ?? {}),
    twilioSegmentMicro: price(input.twilio_sms_segment_usd, "0.02", "twilio_sms_segment_usd"),
    twilioIntlSegmentMicro: price(input.twilio_sms_segment_intl_usd, "0.15", "twilio_sms_segment_intl_usd"),
    twilioMmsMicro: price(input.twilio_mms_usd, "0.05", "twilio_mms_usd"),
    resendEmailMicro: price(input.resend_email_usd, "0.001", "resend_email_usd"),
  };
}
