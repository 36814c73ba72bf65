import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { publishMetrics } from "./metrics";
import { type AuditRecord, auditMessage } from "./record";

/**
 * Where audit records go: on Lambda, the function's CloudWatch log group through Powertools Logger, with the
 * metrics each record stands for as EMF lines beside it; in local mode, JSON lines appended to a file through
 * an async stream (nothing synchronous on the hot path).
 */
export interface AuditSink {
  write(record: AuditRecord): void;
  close(): Promise<void>;
}

export function cloudWatchSink(logger: Logger, metrics: Metrics): AuditSink {
  return {
    write(record) {
      logger.info(auditMessage(record), { audit: record });
      publishMetrics(metrics, record);
    },
    close: async () => {},
  };
}

export function fileSink(path: string): AuditSink {
  mkdirSync(dirname(path), { recursive: true });
  const stream: WriteStream = createWriteStream(path, { flags: "a" });
  return {
    write: (record) => void stream.write(`${JSON.stringify(record)}\n`),
    close: () => new Promise((resolve) => stream.end(resolve)),
  };
}

/** Collects records in memory (tests and the benchmark's baseline). */
export function memorySink(into: AuditRecord[] = []): AuditSink & { records: AuditRecord[] } {
  return { records: into, write: (record) => void into.push(record), close: async () => {} };
}
