import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError } from "../core/errors";
import { handleProxyCall, type ProxyDeps } from "../proxy/call";
import { adapters, vendorForPath } from "../vendors";
import { isVendor } from "../core/vendors";
import { rawTarget } from "./raw-target";

/** The proxy serves every path outside `/vault/`: `/{vendor}/...` and the bare vendor paths. */
export const MAX_PROXY_BODY_BYTES = 5 * 1024 * 1024; // under Lambda's 6 MB request limit

export function createProxyApp(deps: ProxyDeps): Hono {
  const app = new Hono();
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_PROXY_BODY_BYTES,
      onError: (c) => {
        const segments = new URL(c.req.url).pathname.split("/").slice(1);
        const vendor = isVendor(segments[0]) ? segments[0] : vendorForPath(segments);
        const refusal = adapters[vendor].refusal(new PayloadTooLargeError(MAX_PROXY_BODY_BYTES));
        return c.json(refusal.body as object, 413, refusal.headers);
      },
    }),
  );
  app.all("*", async (c) => {
    const out = await handleProxyCall(deps, {
      method: c.req.method,
      target: rawTarget(c),
      headers: c.req.raw.headers,
      body: new Uint8Array(await c.req.arrayBuffer()),
    });
    return new Response(out.body, { status: out.status, headers: out.headers });
  });
  return app;
}
