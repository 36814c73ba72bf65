// Local mode's audit trail: KEYBRAKE_AUDIT_FILE, one JSON record a line, filtered and totalled here.
import { open } from "node:fs/promises";
import { type AuditFilter, matchesFilter, type SpendRecord } from "../lambda/audit/filter";
import type { AuditRecord } from "../lambda/audit/record";
import type { AuditSource } from "./audit-source";
import { IncompleteError } from "./errors";
import { totalsByLabel, totalsByVendorLabel } from "./totals";

export function localAuditSource(path: string, warn: (message: string) => void): AuditSource {
  const read = async (filter: AuditFilter) => newestFirst(await readMatching(path, filter, warn));
  return {
    async audit(filter, limit) {
      const records = await read(filter);
      return { records: records.slice(0, limit), totals: totalsByLabel(records), truncated: records.length > limit };
    },
    spend: async (filter) => totalsByVendorLabel(await read(filter)),
  };
}

async function readMatching(
  path: string,
  filter: AuditFilter,
  warn: (message: string) => void,
): Promise<SpendRecord[]> {
  const matching: SpendRecord[] = [];
  let malformed = 0;
  try {
    const file = await open(path);
    try {
      for await (const line of file.readLines()) {
        if (!line.trim()) continue;
        let record: AuditRecord;
        try {
          record = JSON.parse(line) as AuditRecord;
        } catch {
          malformed++; // e.g. a line local mode is still writing
          continue;
        }
        if (matchesFilter(filter, record)) matching.push(record);
      }
    } finally {
      await file.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new IncompleteError(`cannot read the audit file ${path} (${code}); set KEYBRAKE_AUDIT_FILE or --audit-file`);
  }
  if (malformed) warn(`skipped ${malformed} line${malformed === 1 ? "" : "s"} of ${path} that did not parse`);
  return matching;
}

/** By time, newest first; records of the same millisecond keep the file's order reversed (last written first). */
function newestFirst(records: SpendRecord[]): SpendRecord[] {
  return records.reverse().sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
}
