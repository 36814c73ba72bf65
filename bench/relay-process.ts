// The floor of any proxy in this shape: a bare keep-alive relay that forwards each request to the fake Stripe and
// its answer back, doing nothing else (no key, no price, no ledger, no audit). What it adds to a direct call, in
// latency and in its own CPU time, is what one extra loopback HTTP hop costs on this machine.
import http from "node:http";
import { listenOnLoopback } from "../test/support/loopback";
import { cpuMicros, serveCommands } from "./worker";

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

async function main(): Promise<void> {
  const upstream = new URL(process.env.BENCH_STRIPE_URL!);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers, host: upstream.host, "content-length": String(body.byteLength) };
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on("data", (c: Buffer) => parts.push(c));
          answer.on("end", () => {
            const text = Buffer.concat(parts);
            res.writeHead(answer.statusCode ?? 502, {
              "content-type": answer.headers["content-type"] ?? "application/json",
              "content-length": String(text.byteLength),
            });
            res.end(text);
          });
        },
      );
      out.on("error", () => {
        res.writeHead(502);
        res.end();
      });
      out.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  const relay = await listenOnLoopback(server);
  serveCommands(
    {
      cpu: () => cpuMicros(),
      close: async () => {
        await relay.close();
        setImmediate(() => process.exit(0));
      },
    },
    { url: relay.url },
  );
}

void main();
