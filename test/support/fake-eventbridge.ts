// A stand-in for the EventBridge API (its JSON 1.1 protocol, PutEvents only), so the proxy Lambda's real event
// publishing runs against something that records what it was sent.
import { createServer } from "node:http";
import { listenOnLoopback } from "./loopback";

export interface FakeEventBridge {
  url: string;
  /** Every entry of every PutEvents, as sent. */
  entries: Array<{ EventBusName?: string; Source?: string; DetailType?: string; Detail?: string }>;
  close(): Promise<void>;
}

export async function startFakeEventBridge(): Promise<FakeEventBridge> {
  const entries: FakeEventBridge["entries"] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const ok = req.headers["x-amz-target"] === "AWSEvents.PutEvents";
      const sent = ok ? ((JSON.parse(body) as { Entries: FakeEventBridge["entries"] }).Entries ?? []) : [];
      entries.push(...sent);
      res.writeHead(ok ? 200 : 400, { "content-type": "application/x-amz-json-1.1" });
      res.end(
        JSON.stringify(
          ok
            ? { FailedEntryCount: 0, Entries: sent.map((_, i) => ({ EventId: `event-${entries.length + i}` })) }
            : { __type: "ValidationException", message: "PutEvents only" },
        ),
      );
    });
  });
  return { entries, ...(await listenOnLoopback(server)) };
}
