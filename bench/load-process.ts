// The load generator, in its own process: keep-alive connections, like a real SDK.
import { request } from "./http-client";
import { sequentialLatencies, throughput } from "./stats";
import { serveCommands } from "./worker";

/** One request to repeat; with `idempotent: true` each call gets a fresh Idempotency-Key. */
interface Template {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  idempotent?: boolean;
}

let idem = 0;
const prefix = `bench-${process.pid}`;
const send = (t: Template) => () =>
  request(
    t.url,
    t.method,
    t.idempotent ? { ...t.headers, "idempotency-key": `${prefix}-${idem++}` } : t.headers,
    t.body,
  ).then((res) => {
    if (res.status >= 300) throw new Error(`${t.method} ${t.url} answered ${res.status}: ${res.body}`);
    return res;
  });

serveCommands({
  once: (t: Template) => send(t)().then((res) => res.body),
  sequential: (a: { n: number; request: Template }) => sequentialLatencies(a.n, send(a.request)),
  throughput: (a: { n: number; concurrency: number; request: Template }) =>
    throughput(a.n, a.concurrency, send(a.request)),
  close: () => setImmediate(() => process.exit(0)),
});
