// Where `audit` and `spend` read from: the local audit file (local-audit.ts) or CloudWatch Logs Insights
// (insights.ts). Both take the same filter and answer in the same shapes, so the commands and their
// output do not know which one ran.
import type { AuditFilter, SpendRecord } from "../lambda/audit/filter";
import type { LabelTotals, VendorLabelTotals } from "./totals";

export interface AuditResult {
  /** Newest first, at most `limit`. */
  records: SpendRecord[];
  /** Per label, over every matching record (not only the `limit` shown). */
  totals: LabelTotals[];
  /** More records matched than `limit`. */
  truncated: boolean;
}

export interface AuditSource {
  audit(filter: AuditFilter, limit: number): Promise<AuditResult>;
  spend(filter: AuditFilter): Promise<VendorLabelTotals[]>;
}
