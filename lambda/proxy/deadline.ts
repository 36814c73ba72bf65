// One deadline per call (docs/guarantees.md#2-no-reservation-no-call): it covers the secret read, the pricing
// reads, the reservation and the forward, and it ends early enough to settle and audit inside the function's
// own timeout. Wall-clock time, not the injected clock (tests move that one to cross midnight and expiries).
//
// Each signal here is an AbortController with one unref'd timer that is cleared as soon as what it guards is over
// (`dispose`, `release`), rather than `AbortSignal.timeout`/`AbortSignal.any`: those timers cannot be cleared, so
// every call used to leave three or four of them pending for 3 to 25 s, each firing at the end with a DOMException
// and an abort event nobody listened to any more (measured: about 100 µs of CPU per call; docs/performance.md).

/** What a Lambda keeps back from its remaining time for the settlement write and the audit record. */
export const FINISH_MARGIN_MS = 4_000;
/** The most one reservation write may take (its SDK retries included) before the call is answered 503. */
export const RESERVE_BUDGET_MS = 5_000;
/** The most one settlement write may take after the vendor answered. */
export const SETTLE_BUDGET_MS = 3_000;

export interface Deadline {
  /** Epoch ms (wall clock) when the call's vendor work must be over. */
  at: number;
  /** Aborts at `at` (with a TimeoutError, as `AbortSignal.timeout` does). */
  signal: AbortSignal;
  /** The budget the deadline was made from, for messages ("did not answer within ... ms"). */
  budgetMs: number;
  /** Epoch ms by which the call must have written its audit record (Lambda: the function's own end, less 1 s). */
  finishBy: number;
  /** The call is answered: clears the deadline's timers and those of every `within` signal made from it. */
  dispose(): void;
}

const timedOut = () => new DOMException("The operation was aborted due to timeout", "TimeoutError");

/** A controller that aborts after `ms` unless its timer is cleared first. */
function timer(ms: number): { controller: AbortController; timeout: NodeJS.Timeout } {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(timedOut()), Math.max(1, ms));
  timeout.unref();
  return { controller, timeout };
}

const TIMERS = Symbol("timers");
type OwnDeadline = Deadline & { [TIMERS]: NodeJS.Timeout[] };

export function callDeadline(budgetMs: number, remainingMs?: number): Deadline {
  const now = Date.now();
  const usable = remainingMs === undefined ? budgetMs : Math.min(budgetMs, remainingMs - FINISH_MARGIN_MS);
  const ms = Math.max(1, usable);
  const { controller, timeout } = timer(ms);
  const timers = [timeout];
  const deadline: OwnDeadline = {
    at: now + ms,
    signal: controller.signal,
    budgetMs: ms,
    finishBy: remainingMs === undefined ? Number.POSITIVE_INFINITY : now + remainingMs - 1_000,
    [TIMERS]: timers,
    dispose() {
      for (const t of timers) clearTimeout(t);
      timers.length = 0;
    },
  };
  return deadline;
}

/**
 * A signal that aborts at the deadline or after `ms`, whichever comes first: the deadline's own signal when it
 * comes first anyway, else one of its own whose timer the deadline's `dispose` clears.
 */
export function within(deadline: Deadline, ms: number): AbortSignal {
  if (deadline.signal.aborted || deadline.at - Date.now() <= ms) return deadline.signal;
  const { controller, timeout } = timer(ms);
  (deadline as Partial<OwnDeadline>)[TIMERS]?.push(timeout);
  const parent = deadline.signal;
  const follow = () => controller.abort(parent.reason);
  parent.addEventListener("abort", follow, { once: true });
  controller.signal.addEventListener("abort", () => parent.removeEventListener("abort", follow), { once: true });
  return controller.signal;
}

const pending = new WeakMap<AbortSignal, NodeJS.Timeout>();

/**
 * A signal for work after the vendor answered: `ms` at most, and never past `finishBy`. It may outlive the call
 * (local mode settles after answering), so its timer is its own: `release` it once that work is over.
 */
export function finishing(deadline: Pick<Deadline, "finishBy">, ms: number): AbortSignal {
  const { controller, timeout } = timer(Math.min(ms, deadline.finishBy - Date.now()));
  pending.set(controller.signal, timeout);
  return controller.signal;
}

/** The work a `finishing` signal guarded is over: its timer is cleared (it will never abort). */
export function release(signal: AbortSignal): void {
  clearTimeout(pending.get(signal));
  pending.delete(signal);
}
