// Servers on 127.0.0.1 for the tests and the bench: the fakes (vendors, Secrets Manager, EventBridge, CloudWatch Logs)
// and the bench's upstreams listen through this, and close at once.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Serves `server` on a free loopback port. `close` drops kept-alive connections too, so it stops at once. */
export async function listenOnLoopback(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
