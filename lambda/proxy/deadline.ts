// One deadline per call (docs/guarantees.md#2-no-reservation-no-call): it covers the secret read, the pricing
// reads, the reservation and the forward, and it ends early enough to settle and audit inside the function's
// own timeout. Wall-clock time, not the injected clock (tests move that one to cross midnight and expiries).

/** What a Lambda keeps back from its remaining time for the settlement write and the audit record. */
export const FINISH_MARGIN_MS = 4_000;
/** The most one reservation write may take (its SDK retries included) before the call is answered 503. */
export const RESERVE_BUDGET_MS = 5_000;
/** The most one settlement write may take after the vendor answered. */
export const SETTLE_BUDGET_MS = 3_000;

export interface Deadline {
  /** Epoch ms (wall clock) when the call's vendor work must be over. */
  at: number;
  /** Aborts at `at`. */
  signal: AbortSignal;
  /** The budget the deadline was made from, for messages ("did not answer within ... ms"). */
  budgetMs: number;
  /** Epoch ms by which the call must have written its audit record (Lambda: the function's own end, less 1 s). */
  finishBy: number;
}

export function callDeadline(budgetMs: number, remainingMs?: number): Deadline {
  const now = Date.now();
  const usable = remainingMs === undefined ? budgetMs : Math.min(budgetMs, remainingMs - FINISH_MARGIN_MS);
  const ms = Math.max(1, usable);
  return {
    at: now + ms,
    signal: AbortSignal.timeout(ms),
    budgetMs: ms,
    finishBy: remainingMs === undefined ? Number.POSITIVE_INFINITY : now + remainingMs - 1_000,
  };
}

/** A signal that aborts at the deadline or after `ms`, whichever comes first. */
export function within(deadline: Pick<Deadline, "signal">, ms: number): AbortSignal {
  return AbortSignal.any([deadline.signal, AbortSignal.timeout(Math.max(1, ms))]);
}

/** A signal for work after the vendor answered: `ms` at most, and never past `finishBy`. */
export function finishing(deadline: Pick<Deadline, "finishBy">, ms: number): AbortSignal {
  return AbortSignal.timeout(Math.max(1, Math.min(ms, deadline.finishBy - Date.now())));
}
