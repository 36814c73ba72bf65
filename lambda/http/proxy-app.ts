// The proxy's Hono app: what the proxy Lambda serves, and what local mode routes a target a URL parser would
// rewrite to (its hot path is http/proxy-node.ts). Cookies go back in the shape each event payload keeps.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError } from "../core/errors";
import { handleProxyCall, type ProxyDeps, type ProxyOutput, refuseUnread } from "../proxy/call";
import { MAX_PROXY_BODY_BYTES } from "./lambda-limits";
import { rawTarget } from "./raw-target";

export { MAX_PROXY_BODY_BYTES } from "./lambda-limits";

/** The proxy serves every path outside `/vault/`: `/{vendor}/...` and the bare vendor paths. */
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
    const env = c.env as
      | { lambdaContext?: { getRemainingTimeInMillis?: () => number }; event?: { httpMethod?: string } }
      | undefined;
    const lambda = env?.lambdaContext;
    const out = await handleProxyCall(deps, {
      method: c.req.method,
      target: rawTarget(c),
      headers: c.req.raw.headers,
      body: new Uint8Array(await c.req.arrayBuffer()),
      remainingMs: lambda?.getRemainingTimeInMillis?.(),
    });
    return respond(out, env?.event?.httpMethod !== undefined);
  });
  return app;
}

/** REST (1.0) results carry cookies under these names until restCookies moves them (see there). */
const REST_COOKIE_HEADER = "x-keybrake-set-cookie-";

function respond(out: ProxyOutput, restEvent = false): Response {
  const headers = new Headers(out.headers);
  // Each cookie its own header: node-server and the HTTP API (2.0 `cookies`) keep them apart as they are.
  for (const [i, cookie] of (out.cookies ?? []).entries()) {
    headers.append(restEvent ? `${REST_COOKIE_HEADER}${i}` : "set-cookie", cookie);
  }
  return new Response(out.body, { status: out.status, headers });
}

/**
 * hono's REST (1.0) result builder replaces all of an answer's `multiValueHeaders` by its cookies when there are
 * any, so the proxy hands them over under numbered names and this puts them back as one `set-cookie` list
 * beside the other headers.
 */
export function restCookies<T>(result: T): T {
  const multi = (result as { multiValueHeaders?: Record<string, unknown[]> } | undefined)?.multiValueHeaders;
  if (!multi) return result;
  const cookies: unknown[] = [];
  for (const name of Object.keys(multi).sort()) {
    if (!name.startsWith(REST_COOKIE_HEADER)) continue;
    cookies.push(...(multi[name] ?? []));
    delete multi[name];
  }
  if (cookies.length) multi["set-cookie"] = cookies;
  return result;
}
