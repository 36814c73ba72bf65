// How audit records add up to the ledger (docs/audit.md#spend-adds-up): a reservation's spend is the largest
// `spent_usd` among the records naming it (likewise `unsettled_usd`), and a record naming no reservation counts
// alone (a refusal or an idempotent retry: 0). The CLI's local totals, the tests and the Logs Insights totals
// query (two `stats`, first per reservation) all apply this one rule.
import { microToUsd, usdNumberToMicro } from "../core/money";

export interface MoneyRecord {
  reservation_id?: string;
  spent_usd?: number;
  unsettled_usd?: number;
}

const micro = (usd: number | undefined) => (usd === undefined ? 0 : (usdNumberToMicro(usd) ?? Math.round(usd * 1e6)));

/** Spend and unsettled spend of these records, each reservation counted once at its largest amount. */
export function reservationTotals(records: Iterable<MoneyRecord>): { spent_usd: number; unsettled_usd: number } {
  const byReservation = new Map<string, { spent: number; unsettled: number }>();
  let spent = 0;
  let unsettled = 0;
  for (const record of records) {
    const s = micro(record.spent_usd);
    const u = micro(record.unsettled_usd);
    if (record.reservation_id === undefined) {
      spent += s;
      unsettled += u;
      continue;
    }
    const seen = byReservation.get(record.reservation_id) ?? { spent: 0, unsettled: 0 };
    byReservation.set(record.reservation_id, {
      spent: Math.max(seen.spent, s),
      unsettled: Math.max(seen.unsettled, u),
    });
  }
  for (const r of byReservation.values()) {
    spent += r.spent;
    unsettled += r.unsettled;
  }
  return { spent_usd: microToUsd(spent), unsettled_usd: microToUsd(unsettled) };
}
