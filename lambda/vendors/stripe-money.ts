// Stripe's `amount` form field, read so that it cannot mean two things (the currency conversion is core/fx.ts).
export class InvalidAmountError extends Error {
  override name = "InvalidAmountError";
  constructor(readonly raw: string) {
    super(`not a whole number of minor units: ${JSON.stringify(raw)}`);
  }
}

/** Stripe's `amount` form field: only plain digits, so "1e3", "-1", "1.5", " 1" or "+1" cannot be read two ways. */
export function parseMinorAmount(raw: string): bigint {
  if (!/^[0-9]{1,15}$/.test(raw)) throw new InvalidAmountError(raw);
  return BigInt(raw);
}
