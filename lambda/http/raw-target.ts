// The request target exactly as the client sent it. `c.req.url` is a WHATWG URL, which silently resolves
// `..` and `%2e%2e`; the proxy wants to see such tricks and refuse them, so it reads what each adapter kept:
// node-server's request line, the HTTP API's `rawPath` and `rawQueryString`, or for the private REST API
// (payload 1.0) its percent-encoded `path` (restTarget). The HTTP API hands over `rawPath` already
// percent-decoded (docs/pricing.md#one-canonical-target): the proxy prices and forwards what it receives, so the
// route, the price and the forwarded URL still agree; only a client's own encoding is read once more.
import type { Context } from "hono";

/** The request target of a call as the client sent it, from whichever adapter delivered the call. */
export function rawTarget(c: Context): string {
  const env = c.env as { incoming?: { url?: string }; event?: LambdaEvent } | undefined;
  if (env?.incoming?.url) return env.incoming.url;
  const event = env?.event;
  if (event?.rawPath !== undefined)
    return event.rawQueryString ? `${event.rawPath}?${event.rawQueryString}` : event.rawPath;
  if (event?.httpMethod !== undefined && typeof event.path === "string") return restTarget(event);
  const url = new URL(c.req.url);
  return `${url.pathname}${url.search}`;
}

interface LambdaEvent {
  rawPath?: string;
  rawQueryString?: string;
  httpMethod?: string;
  path?: string;
  resource?: string;
  pathParameters?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
}

/**
 * A REST API (1.0) event's target. `path` keeps the client's percent-encoding but also carries a custom domain's
 * base path: the part `{proxy+}` matched (decoded in `pathParameters.proxy`) is the path's tail with as many
 * segments, so the target is that raw tail when it decodes to exactly what was matched. When it does not (an
 * encoded slash changes the segment count), the whole raw path is kept and the proxy refuses it as the HTTP API
 * would. 1.0 events carry no raw query string: the query is rebuilt from the decoded parameters, each encoded
 * alike (`encodeURIComponent`, and `'` too), and that rebuilt query is what is priced, checked and forwarded.
 */
export function restTarget(event: LambdaEvent): string {
  let path = event.path ?? "/";
  const proxy = event.pathParameters?.proxy;
  if (event.resource === "/") path = "/";
  else if (typeof proxy === "string" && event.resource?.endsWith("/{proxy+}")) {
    const raw = path.split("/");
    const tail = raw.slice(Math.max(1, raw.length - proxy.split("/").length));
    const prefix = event.resource.slice(0, -"/{proxy+}".length);
    if (tail.map(safeDecode).join("/") === proxy) path = `${prefix}/${tail.join("/")}`;
  }
  const params =
    event.multiValueQueryStringParameters ??
    Object.fromEntries(
      Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, v === undefined ? [] : [v]]),
    );
  const query = Object.entries(params)
    .flatMap(([key, values]) => (values ?? []).map((v) => `${encodeQueryPart(key)}=${encodeQueryPart(v)}`))
    .join("&");
  return query ? `${path}?${query}` : path;
}

/**
 * One decoded query name or value, encoded so that the proxy's query check (proxy/request.ts) accepts it as sent:
 * `encodeURIComponent` leaves `'` raw, which the check refuses (a Stripe search query quotes its values). A value
 * that is not well-formed UTF-16 (a lone surrogate: the client's bytes were not UTF-8) cannot be encoded and is left
 * raw, so the check refuses it with 400 as it refuses non-ASCII, never throwing.
 */
function encodeQueryPart(text: string): string {
  try {
    return encodeURIComponent(text).replaceAll("'", "%27");
  } catch {
    return text;
  }
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
