// Currencies and their USD rates. Amounts in a currency are integers in its minor unit (as Stripe writes them);
// converting them to micro-USD uses integer math only (docs/guarantees.md#6-money-is-exact) and rounds up: a
// price is an upper bound, and rounding down could let spend pass a cap.
const ZERO_DECIMAL = new Set([
  "bif",
  "clp",
  "djf",
  "gnf",
  "jpy",
  "kmf",
  "krw",
  "mga",
  "pyg",
  "rwf",
  "vnd",
  "vuv",
  "xaf",
  "xof",
  "xpf",
]);
// Not here: isk and ugx. Stripe lists UGX as zero-decimal too, but both are written with two decimals that
// must be 00 (5 ISK is `500`), so their exponent is 2.
const THREE_DECIMAL = new Set(["bhd", "jod", "kwd", "omr", "tnd"]);

/** Number of decimals in the currency's minor unit (`jpy` 0, `usd` 2, `kwd` 3). Any case is accepted. */
export function currencyExponent(currency: string): number {
  const code = currency.toLowerCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/** USD per one whole unit of a currency, exactly: numerator / 10^scale. */
export interface Rate {
  numerator: bigint;
  scale: number;
}
export type FxRates = ReadonlyMap<string, Rate>;

export class UnpricedCurrencyError extends Error {
  override name = "UnpricedCurrencyError";
  constructor(readonly currency: string) {
    super(`no USD rate is configured for ${JSON.stringify(currency)}`);
  }
}

const USD: Rate = { numerator: 1n, scale: 0 };
const RATE = /^(\d{1,9})(?:\.(\d{1,12}))?$/;

/** Reads `{ eur: "1.08", jpy: 0.0067 }` (USD per unit) into exact rates; `usd` is always 1. */
export function parseFxRates(input: Record<string, string | number>): FxRates {
  const rates = new Map<string, Rate>([["usd", USD]]);
  for (const [currency, value] of Object.entries(input)) {
    if (!/^[a-z]{3}$/.test(currency))
      throw new Error(`fx_usd: currency codes are 3 lowercase letters, got ${JSON.stringify(currency)}`);
    const rate = parseRate(value);
    if (!rate) {
      throw new Error(
        `fx_usd.${currency} must be a positive decimal with at most 12 decimals (as a string beyond 15 significant digits), got ${typeof value === "number" ? value : JSON.stringify(value)}`,
      );
    }
    if (currency === "usd" && rate.numerator !== 10n ** BigInt(rate.scale))
      throw new Error(`fx_usd.usd can only be 1, got ${value}`);
    rates.set(currency, rate);
  }
  return rates;
}

function parseRate(value: unknown): Rate | undefined {
  // Config is parsed JSON, so check the type the signature promises; String(["1"]) would otherwise pass.
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  // String(n) is the shortest text that reads back as n, which is the text written for up to 15 significant
  // digits. A longer one means the double does not hold a written decimal (0.1 + 0.2): ask for a string.
  const text = String(value);
  if (typeof value === "number" && text.replace(/^[0.]+/, "").replace(".", "").length > 15) return undefined;
  const m = RATE.exec(text);
  if (!m) return undefined;
  const fraction = m[2] ?? "";
  const numerator = BigInt(`${m[1]}${fraction}`);
  return numerator > 0n ? { numerator, scale: fraction.length } : undefined;
}

/** An amount in the currency's minor unit as micro-USD, rounded up. */
export function minorUnitsToMicroUsd(amountMinor: bigint, currency: string, rates: FxRates): bigint {
  if (amountMinor < 0n) throw new RangeError(`amounts are never negative, got ${amountMinor}`);
  // ASCII only: "\u212Awd".toLowerCase() is "kwd", and a code the vendor may read differently is not priced.
  const code = /^[A-Za-z]{3}$/.test(currency) ? currency.toLowerCase() : currency;
  const rate = rates.get(code);
  if (!rate) throw new UnpricedCurrencyError(code);
  // micro = amountMinor / 10^exponent * numerator / 10^scale * 10^6, as one fraction rounded up
  const numerator = amountMinor * rate.numerator * 1_000_000n;
  const denominator = 10n ** BigInt(currencyExponent(code) + rate.scale);
  return (numerator + denominator - 1n) / denominator;
}
