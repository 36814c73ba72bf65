// A stand-in for the CloudWatch Logs API, Logs Insights part only (StartQuery, GetQueryResults, StopQuery over its JSON
// 1.1 protocol), reached by the real SDK client through AWS_ENDPOINT_URL_CLOUDWATCH_LOGS. It records every query it is
// asked to start; each one answers "Running" once, then ends as its script says.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { listenOnLoopback } from "./loopback";

export interface StartedQuery {
  queryId: string;
  logGroupNames: string[];
  queryString: string;
  startTime: number;
  endTime: number;
  limit?: number;
  headers: IncomingHttpHeaders;
  polls: number;
  stopped: boolean;
}

export interface ResultField {
  field: string;
  value: string;
}

export type QueryScript =
  | { status: "Complete"; results: ResultField[][] }
  | { status: "Failed" | "Cancelled" | "Timeout" }
  | { error: string; message: string; httpStatus?: number };

export interface FakeCloudWatchLogs {
  url: string;
  started: StartedQuery[];
  /** Decides how each query ends, from what it asked. */
  script: (query: StartedQuery) => QueryScript;
  close(): Promise<void>;
}

/** A Logs Insights row from a flat object, in the API's shape (plus the `@ptr` every row carries). */
export function row(values: Record<string, string | number>): ResultField[] {
  return [
    ...Object.entries(values).map(([field, value]) => ({ field, value: String(value) })),
    { field: "@ptr", value: randomUUID() },
  ];
}

export async function startFakeCloudWatchLogs(): Promise<FakeCloudWatchLogs> {
  const fake: FakeCloudWatchLogs = {
    url: "",
    started: [],
    script: () => ({ status: "Complete", results: [] }),
    close: async () => {},
  };
  const byId = new Map<string, { query: StartedQuery; script: QueryScript }>();
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
        res.end(JSON.stringify(body));
      };
      const fail = (type: string, message: string, status = 400) => send(status, { __type: type, message });
      const body = JSON.parse(text || "{}") as Record<string, unknown>;
      switch (req.headers["x-amz-target"]) {
        case "Logs_20140328.StartQuery": {
          const query: StartedQuery = {
            queryId: randomUUID(),
            logGroupNames: body.logGroupNames as string[],
            queryString: body.queryString as string,
            startTime: body.startTime as number,
            endTime: body.endTime as number,
            limit: body.limit as number | undefined,
            headers: req.headers,
            polls: 0,
            stopped: false,
          };
          fake.started.push(query);
          const script = fake.script(query);
          if ("error" in script) return fail(script.error, script.message, script.httpStatus);
          byId.set(query.queryId, { query, script });
          return send(200, { queryId: query.queryId });
        }
        case "Logs_20140328.GetQueryResults": {
          const entry = byId.get(body.queryId as string);
          if (!entry || "error" in entry.script) return fail("ResourceNotFoundException", "unknown query id");
          const { query, script } = entry;
          query.polls++;
          if (query.polls === 1) {
            return send(200, {
              status: "Running",
              results: [],
              statistics: { recordsMatched: 2, recordsScanned: 1200, bytesScanned: 480_000 },
            });
          }
          const results = script.status === "Complete" ? script.results : [];
          return send(200, {
            status: script.status,
            results,
            statistics: { recordsMatched: results.length, recordsScanned: 5400, bytesScanned: 2_160_000 },
          });
        }
        case "Logs_20140328.StopQuery": {
          const entry = byId.get(body.queryId as string);
          if (entry) entry.query.stopped = true;
          return send(200, { success: Boolean(entry) });
        }
        default:
          return fail("UnknownOperationException", `not faked: ${req.headers["x-amz-target"]}`);
      }
    });
  });
  Object.assign(fake, await listenOnLoopback(server));
  return fake;
}
