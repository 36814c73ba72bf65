import type { Context } from "hono";

/**
 * The request target exactly as the client sent it. `c.req.url` is a WHATWG URL, which silently resolves
 * `..` and `%2e%2e`; the proxy wants to see such tricks and refuse them, so it reads what each adapter kept.
 */
export function rawTarget(c: Context): string {
  const env = c.env as
    | { incoming?: { url?: string }; event?: { rawPath?: string; rawQueryString?: string; path?: string } }
    | undefined;
  if (env?.incoming?.url) return env.incoming.url;
  const event = env?.event;
  if (event?.rawPath !== undefined)
    return event.rawQueryString ? `${event.rawPath}?${event.rawQueryString}` : event.rawPath;
  const url = new URL(c.req.url);
  return `${url.pathname}${url.search}`;
}
