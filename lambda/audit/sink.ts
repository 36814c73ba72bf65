// Where audit records go: on Lambda, the function's CloudWatch log group through Powertools Logger, with the
// metrics each record stands for as EMF lines beside it; in local mode, JSON lines appended to a file through
// an async stream (nothing synchronous on the hot path).
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { publishMetrics } from "./metrics";
import { type AuditRecord, auditMessage } from "./record";

export interface AuditSink {
  /**
   * Writes a record. The promise (where the sink gives one) resolves once the record is out of this process
   * (a file sink: handed to the kernel, so it survives the process being killed); callers that remove ledger
   * state on the strength of a record wait for it.
   */
  write(record: AuditRecord): void | Promise<void>;
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
  // A failed write (disk full, file removed) must not bring the process down with every call in flight.
  stream.on("error", () => undefined);
  return {
    write: (record) => {
      const written = new Promise<void>((resolve, reject) =>
        stream.write(`${JSON.stringify(record)}\n`, (error) => (error ? reject(error) : resolve())),
      );
      written.catch(() => undefined); // callers that do not wait for it must not see an unhandled rejection
      return written;
    },
    close: () => new Promise((resolve) => stream.end(resolve)),
  };
}

/** Collects records in memory (tests and the benchmark's baseline). */
export function memorySink(into: AuditRecord[] = []): AuditSink & { records: AuditRecord[] } {
  return { records: into, write: (record) => void into.push(record), close: async () => {} };
}
