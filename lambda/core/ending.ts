// How a reservation ends once the vendor has answered (or not): the adapters decide it from the answer, the
// ledger applies it (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice).
export type Ending =
  /** Kept at the real cost (no write when the reserved price was exact). */
  | { kind: "settled"; actualMicro: number }
  /** The vendor definitively refused the call: the amount goes back to its day's window. */
  | { kind: "released" }
  /** The outcome is unknown: the amount stays spent and is counted as unsettled. */
  | { kind: "unsettled" };
