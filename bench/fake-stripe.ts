// The Stripe the benchmark calls, through the proxy and directly; bench/vendor-process.ts runs it in a process of
// its own, as the real one is on another machine.
import { createServer } from "node:http";
import { listenOnLoopback } from "../test/support/loopback";

/** The leanest Stripe stand-in: answers every call with a PaymentIntent and keeps nothing (no memory growth). */
export async function startFakeStripe(): Promise<{ url: string; close(): Promise<void> }> {
  const body = JSON.stringify({ id: "pi_bench", object: "payment_intent", amount: 1, currency: "usd" });
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, {
        "content-type": "application/json",
        "request-id": "req_bench",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  return listenOnLoopback(server);
}
