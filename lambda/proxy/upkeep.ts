// The ledger work a proxy instance carries between calls (docs/guarantees.md#4-nothing-leaks-nothing-is-counted-twice):
// - Cleanup: markers this instance ended (an exactly priced call settles with no second write, so its marker
//   stays; a settled or released one leaves a marker or tombstone too) are removed in passing by its next
//   reservation write on the same key, so a hot key's item stays small. What is never removed this way (the
//   last call on a key, a crash) is closed by the sweep after the marker's expiry.
// - Compensations: a reservation write whose outcome is unknown (timeout, reset, abort) is compensated until one
//   attempt gets a definitive answer. Local mode keeps trying in the background; on Lambda each invocation gives
//   the pending ones what time it can spare before it returns, and what is left waits in module memory for the
//   next invocation of the same instance (if there is none, a reservation that did land is kept as spent and
//   recorded by the sweep: the audit still equals the ledger, the key just paid for a call never forwarded).
import { setTimeout as sleep } from "node:timers/promises";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Log } from "../core/log";
import type { Reservation } from "../ledger/reservations";
import { compensate } from "../ledger/settlement";

/** Most markers remembered per key, and keys remembered: past that the sweep closes them instead. */
const MAX_PER_KEY = 64;
const MAX_KEYS = 10_000;
const ATTEMPT_TIMEOUT_MS = 5_000;

export interface UpkeepOptions {
  db: DynamoDBClient;
  table: string;
  log: Log;
  /** Local mode: compensations retry in the background until they succeed or `stop()`. */
  background: boolean;
}

export class Upkeep {
  private readonly cleanup = new Map<string, Array<{ rid: string; notBefore: number }>>();
  private readonly pending = new Map<string, Reservation>();
  private readonly running = new Set<Promise<void>>();
  private readonly stopped = new AbortController();

  constructor(private readonly options: UpkeepOptions) {}

  /** Ended markers of this key that this instance may remove now (taken: give them back if the write fails). */
  takeCleanup(keyId: string, max: number): string[] {
    const entries = this.cleanup.get(keyId);
    if (!entries) return [];
    const now = Date.now();
    const due = entries.filter((e) => e.notBefore <= now).slice(0, max);
    const rest = entries.filter((e) => !due.includes(e));
    if (rest.length) this.cleanup.set(keyId, rest);
    else this.cleanup.delete(keyId);
    return due.map((e) => e.rid);
  }

  /** Markers that a failed or refused reservation write did not remove. */
  giveBack(keyId: string, rids: readonly string[]): void {
    for (const rid of rids) this.ended(keyId, rid, 0);
  }

  /** A marker whose call is over and whose audit record is written: removable from `notBefore` (epoch ms) on. */
  ended(keyId: string, rid: string, notBefore = 0): void {
    const entries = this.cleanup.get(keyId) ?? [];
    if (entries.length >= MAX_PER_KEY) return;
    if (!this.cleanup.has(keyId)) {
      if (this.cleanup.size >= MAX_KEYS) this.cleanup.delete(this.cleanup.keys().next().value!);
      this.cleanup.set(keyId, entries);
    }
    entries.push({ rid, notBefore });
  }

  /** How many compensations are still waiting for a definitive answer. */
  get pendingCompensations(): number {
    return this.pending.size;
  }

  /** A reservation write failed with an unknown outcome: make sure it does not count. */
  compensate(reservation: Reservation): void {
    this.pending.set(reservation.rid, reservation);
    if (!this.options.background) return;
    const work = this.retryUntilDone(reservation);
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /** Lambda: one attempt at each pending compensation, all before `signal` aborts. */
  async drain(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.pending.values()].map((r) => this.attempt(r, signal)));
  }

  /** Resolves when no background compensation is running. */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }

  /** Ends the background retries (local mode's shutdown); what is left is kept as spent and swept. */
  stop(): void {
    this.stopped.abort();
  }

  private async attempt(reservation: Reservation, signal: AbortSignal): Promise<boolean> {
    if (!this.pending.has(reservation.rid)) return true;
    try {
      const { db, table } = this.options;
      await compensate(db, table, reservation, Date.now(), signal);
      this.pending.delete(reservation.rid);
      return true;
    } catch {
      return false; // unknown again: the next attempt will tell
    }
  }

  private async retryUntilDone(reservation: Reservation): Promise<void> {
    let wait = 100;
    while (!this.stopped.signal.aborted) {
      const signal = AbortSignal.any([this.stopped.signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]);
      if (await this.attempt(reservation, signal)) return;
      await sleep(wait, undefined, { signal: this.stopped.signal }).catch(() => undefined);
      wait = Math.min(wait * 2, 2_000);
    }
    this.options.log.error("keybrake.compensation abandoned at shutdown", {
      key_id: reservation.keyId,
      reservation_id: reservation.rid,
    });
  }
}
