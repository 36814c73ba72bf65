// Money is an integer count of micro-USD (1 USD = 1_000_000) from parse to ledger
// (docs/guarantees.md#6-money-is-exact). Decimal inputs are converted through their text, never by float
// multiplication.

export const MICRO_PER_USD = 1_000_000;

const DECIMAL = /^(-?)(\d{1,12})(?:\.(\d{1,12}))?$/;

/** A decimal text ("12", "0.0083", "-0.00750") as micro-USD, rounded away from zero (prices are upper bounds). */
export function decimalToMicro(text: string): number | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const [, sign, whole, frac = ""] = m;
  const digits = frac.padEnd(12, "0");
  const micro = Number(whole) * MICRO_PER_USD + Number(digits.slice(0, 6)) + (/[1-9]/.test(digits.slice(6)) ? 1 : 0);
  return sign === "-" ? -micro : micro;
}

/**
 * A caller's USD number (`daily_usd_cap: 50.5`) as micro-USD. `String(n)` is the shortest text that reads back
 * as n, so this is exact; undefined when the number has more than 6 decimals or is not a plain decimal.
 */
export function usdNumberToMicro(value: number): number | undefined {
  const m = DECIMAL.exec(String(value));
  if (!m || (m[3] ?? "").length > 6) return undefined;
  return decimalToMicro(m[0]);
}

/** micro-USD as a JSON number of USD, for display in bodies and audit records. */
export function microToUsd(micro: number): number {
  return micro / MICRO_PER_USD;
}

/** Sums USD amounts (as they appear in bodies and audit records) exactly, through micro-USD. */
export function sumUsd(values: Iterable<number>): number {
  let micro = 0;
  for (const value of values) micro += usdNumberToMicro(value) ?? Math.round(value * MICRO_PER_USD);
  return microToUsd(micro);
}

/** micro-USD as a plain decimal text ("20.01", "0.000001", "-3"), for headers: never an exponent. */
export function microToDecimal(micro: number): string {
  const sign = micro < 0 ? "-" : "";
  const abs = Math.abs(micro);
  const whole = Math.floor(abs / MICRO_PER_USD);
  const frac = String(abs % MICRO_PER_USD)
    .padStart(6, "0")
    .replace(/0+$/, "");
  return `${sign}${whole}${frac ? `.${frac}` : ""}`;
}
