// Warnings before the wall (docs/operations.md#warnings-before-the-wall): a cap whose day's spend crosses 80 % of
// it, or reaches 100 % (its spend reaches it, or it refuses a call: in shadow mode, would have refused one), emits
// one `cap_threshold` audit record (and its metric) and, on AWS, one EventBridge event, once per cap, threshold and
// UTC day. Which call emits is decided by a conditional flag write in the ledger (one rare extra write, after the
// answer, never on the response path); each instance remembers what it already saw, so it tries each flag once.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CapThresholdRecord } from "../audit/record";
import type { AuditSink } from "../audit/sink";
import type { CapMode } from "../core/caps";
import { utcDay } from "../core/clock";
import type { CapName } from "../core/errors";
import type { Log } from "../core/log";
import { microToUsd } from "../core/money";
import { flagsPk } from "../ledger/budget-record";
import type { KeyRecord } from "../ledger/key-record";
import { markThreshold } from "../ledger/standing";

/** Where a threshold event goes besides the audit trail (on AWS: EventBridge, which routes it to the alarm topic). */
export type CapEventPublisher = (record: CapThresholdRecord) => Promise<void>;

/** How one cap stands after a call. */
export interface CapObservation {
  level: CapThresholdRecord["level"];
  cap: CapName;
  /** The cap's id for its flags: `K#<key>`, `B#<budget>`, `I#<issuer>#<vendor>`, `D#<vendor>`. */
  capId: string;
  capMicro: number;
  /** The day's spend, this call's reservation included. */
  spentMicro: number;
  mode: CapMode;
  /** The cap refused the call (or, in shadow mode, would have). */
  refused?: boolean;
  budgetId?: string;
}

const REMEMBERED = 10_000;

export class Thresholds {
  private readonly seen = new Set<string>();

  constructor(
    private readonly deps: {
      db: DynamoDBClient;
      table: string;
      audit: AuditSink;
      log: Log;
      publish?: CapEventPublisher;
    },
  ) {}

  /** Emits what these observations crossed and nobody emitted yet today. Never throws. */
  async observe(key: KeyRecord, observations: CapObservation[], now: number): Promise<void> {
    for (const obs of observations) {
      for (const pct of [80, 100] as const) {
        const reached =
          pct === 100 ? obs.refused === true || obs.spentMicro >= obs.capMicro : obs.spentMicro * 5 >= obs.capMicro * 4;
        if (!reached) continue;
        const id = `${flagsPk(obs.capId, now)}:${pct}`;
        if (this.seen.has(id)) continue;
        try {
          const first = await markThreshold(this.deps.db, this.deps.table, obs.capId, pct, now);
          this.remember(id);
          if (first) await this.emit(key, obs, pct, now);
        } catch (error) {
          // The flag's outcome is unknown: another call will try it again.
          this.deps.log.error("keybrake.cap_threshold could not be written", { error, key_id: key.keyId });
        }
      }
    }
  }

  private remember(id: string): void {
    if (this.seen.size >= REMEMBERED) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(id);
  }

  private async emit(key: KeyRecord, obs: CapObservation, pct: 80 | 100, now: number): Promise<void> {
    const day = utcDay(now);
    const record: CapThresholdRecord = {
      event: "cap_threshold",
      time: new Date(now).toISOString(),
      level: obs.level,
      cap: obs.cap,
      threshold_pct: pct,
      trigger: pct === 100 && obs.spentMicro < obs.capMicro ? "refusal" : "spend",
      mode: obs.mode,
      cap_usd: microToUsd(obs.capMicro),
      spent_usd: microToUsd(obs.spentMicro),
      day: `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6)}`,
      vendor: key.vendor,
      issuer: key.issuer,
      // The key whose call saw it cross.
      key_id: key.keyId,
      agent_run_label: key.label,
      ...(obs.budgetId ? { budget_id: obs.budgetId } : {}),
    };
    await this.deps.audit.write(record);
    if (this.deps.publish) {
      await this.deps.publish(record).catch((error: unknown) => {
        this.deps.log.error("keybrake.cap_threshold could not be published", { error, cap: obs.capId });
      });
    }
  }
}
