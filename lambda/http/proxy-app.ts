import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError } from "../core/errors";
import { handleProxyCall, type ProxyDeps, type ProxyOutput, refuseUnread } from "../proxy/call";
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
        const input = { method: c.req.method, target: rawTarget(c), headers: c.req.raw.headers };
        return respond(refuseUnread(deps, input, new PayloadTooLargeError(MAX_PROXY_BODY_BYTES)));
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
    return respond(out);
  });
  return app;
}

const respond = (out: ProxyOutput) => new Response(out.body, { status: out.status, headers: out.headers });
