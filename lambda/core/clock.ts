// Time as the ledger counts it: an injectable clock, and the UTC days that daily caps roll over on.
/** Milliseconds since the epoch. Injected so tests can cross UTC midnight and key expiry deterministically. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

/** The UTC day a moment falls in, as YYYYMMDD; cap windows roll at UTC midnight. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, "");
}

export const DAY_MS = 86_400_000;
