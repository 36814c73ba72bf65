/**
 * Stripe amounts are integers in the currency's minor unit. Converting to micro-USD uses integer math only
 * and rounds up: a price is an upper bound, and rounding down could let spend pass a cap.
 */
const ZERO_DECIMAL = new Set(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf", "xof", "xpf"]);
// ISK and UGX behave as zero-decimal but Stripe writes them with two decimals that must be 00.
const THREE_DECIMAL = new Set(["bhd", "jod", "kwd", "omr", "tnd"]);

export function currencyExponent(currency: string): number {
  const code = currency.toLowerCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/** USD per one whole unit of a currency, as an exact fraction numerator / 10^scale. */
export interface Rate {
  numerator: bigint;
  scale: number;
}
export type FxRates = ReadonlyMap<string, Rate>;

export class UnpricedCurrencyError extends Error {
  override name = "UnpricedCurrencyError";
  constructor(readonly currency: string) {
    super(`no USD rate is configured for ${currency}`);
  }
}

export class InvalidAmountError extends Error {
  override name = "InvalidAmountError";
  constructor(readonly raw: string) {
    super(`not a whole number of minor units: ${JSON.stringify(raw)}`);
  }
}

const USD: Rate = { numerator: 1n, scale: 0 };

export function parseFxRates(input: Record<string, string | number>): FxRates {
  const rates = new Map<string, Rate>([["usd", USD]]);
  for (const [currency, value] of Object.entries(input)) {
    if (!/^[a-z]{3}$/.test(currency)) throw new Error(`fx_usd: currency codes are 3 lowercase letters, got ${currency}`);
    const m = /^(\d{1,9})(?:\.(\d{1,12}))?$/.exec(String(value));
    const numerator = m ? BigInt(`${m[1]}${m[2] ?? ""}`) : 0n;
    if (!m || numerator === 0n) throw new Error(`fx_usd.${currency} must be a positive decimal with at most 12 decimals, got ${value}`);
    rates.set(currency, { numerator, scale: (m[2] ?? "").length });
  }
  return rates;
}

export function parseMinorAmount(raw: string): bigint {
  if (!/^\d{1,15}$/.test(raw)) throw new InvalidAmountError(raw);
  return BigInt(raw);
}

export function minorUnitsToMicroUsd(amountMinor: bigint, currency: string, rates: FxRates): bigint {
  const code = currency.toLowerCase();
  const rate = rates.get(code);
  if (!rate) throw new UnpricedCurrencyError(code);
  // micro = minor / 10^exp * rate * 10^6, with rate = numerator / 10^scale
  const numerator = amountMinor * rate.numerator * 1_000_000n;
  const denominator = 10n ** BigInt(currencyExponent(code) + rate.scale);
  return (numerator + denominator - 1n) / denominator;
}
