// The vendor side of a proxied call: which request headers reach the vendor (only those its API reads: never the
// vault key, this hop's headers or a routing override), the real secret in their place, the forward itself, the
// priced-from-the-object lookup, and which answer headers come back.
import { validateHeaderName, validateHeaderValue } from "node:http";
import { InvalidRequestError } from "../core/errors";
import type { Vendor } from "../core/vendors";
import type { ProxiedRequest, UpstreamReply, VendorAdapter } from "../vendors/adapter";
import { sendUpstream } from "./forward";

/**
 * The call's budget for vendor work (pricing reads and the forward together): past it the outcome is unknown
 * (504, reservation kept). On Lambda the function's remaining time shortens it (proxy/deadline.ts).
 */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 25_000;

/** Answer headers that describe the vendor's hop: the proxy's own server sets them for its answer. */
const REPLY_DROP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"]);
/** Headers that select the Stripe account or API version a read is made as: a lookup must read as the call acts. */
const LOOKUP_HEADERS = ["stripe-account", "stripe-version", "stripe-context"];

const basePaths = new Map<string, string>();
/** The path of a vendor base URL (usually empty), without its trailing slash. */
function basePath(base: string): string {
  let path = basePaths.get(base);
  if (path === undefined) {
    path = new URL(base).pathname.replace(/\/+$/, "");
    basePaths.set(base, path);
  }
  return path;
}

export interface Upstream {
  /** Sends the call itself, with the real secret. */
  forward(): Promise<UpstreamReply>;
  /** GETs a vendor object with the real secret, to price a call from it. */
  lookup(path: string): Promise<UpstreamReply>;
}

export interface UpstreamTarget {
  /** The vendor's base URL (the real API unless overridden). */
  base: string;
  /** The call's deadline: every read and the forward end by it. */
  signal: AbortSignal;
  budgetMs: number;
  /** Answers longer than this are refused after the fact (Lambda's response limit). */
  maxBytes?: number;
}

export function upstreamFor(
  target: UpstreamTarget,
  adapter: VendorAdapter,
  secret: unknown,
  req: ProxiedRequest,
): Upstream {
  const base = target.base.replace(/\/+$/, "");
  const authorization = adapter.authorization(secret as never);
  const headers: Record<string, string> = {};
  // Only headers the vendor's API reads (vendors/adapter.ts): hop headers, the vault key and anything else stay here.
  req.headers.forEach((value, name) => {
    if (adapter.forwardsHeader(name)) {
      checkSendable(name, value);
      headers[name] = value;
    }
  });
  headers.authorization = authorization;
  headers["accept-encoding"] = "identity";
  const forwarded = `${req.path}${req.query ? `?${req.query}` : ""}`;
  const url = new URL(`${base}${forwarded}`);
  // The canonical target is a fixed point of URL parsing by construction (proxy/request.ts); this holds it to
  // that: the URL forwarded is exactly the target matched, allowlisted and priced, or nothing is forwarded.
  if (`${url.pathname}${url.search}` !== `${basePath(base)}${forwarded}`) {
    throw new InvalidRequestError("the request target would not reach the vendor exactly as it was priced", "path");
  }
  return {
    forward: () =>
      sendUpstream({
        url,
        method: req.method,
        headers,
        body: req.body.byteLength ? req.body : undefined,
        signal: target.signal,
        budgetMs: target.budgetMs,
        maxBytes: target.maxBytes,
      }),
    lookup: (path: string) => {
      const lookupHeaders: Record<string, string> = { authorization, "accept-encoding": "identity" };
      for (const name of LOOKUP_HEADERS) {
        const value = req.headers.get(name);
        if (value) lookupHeaders[name] = value;
      }
      return sendUpstream({
        url: new URL(`${base}${path}`),
        method: "GET",
        headers: lookupHeaders,
        signal: target.signal,
        budgetMs: target.budgetMs,
        maxBytes: target.maxBytes,
      });
    },
  };
}

/**
 * Refuses (400, before anything is reserved) a header node:http would refuse to send. The web `Headers` a request
 * arrives in accept control characters other than NUL, CR and LF (API Gateway hands them over as sent); node:http
 * refuses them, and only once the call is reserved and forwarding: the call would end unsettled, never sent.
 */
function checkSendable(name: string, value: string): void {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
  } catch {
    throw new InvalidRequestError(
      `the ${name} header holds a character keybrake cannot forward (a control character); send it without`,
      name,
    );
  }
}

export interface ProxyOutput {
  status: number;
  headers: Record<string, string>;
  /** Each `Set-Cookie` as its own header. */
  cookies?: string[];
  body: Uint8Array | string;
}

/** The vendor's answer as the client gets it: status, body and headers, less the vendor hop's own. */
export function passThrough(reply: UpstreamReply): ProxyOutput {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.headers)) if (!REPLY_DROP.has(name)) headers[name] = value;
  return {
    status: reply.status,
    headers,
    cookies: reply.setCookies?.length ? reply.setCookies : undefined,
    body: reply.body,
  };
}

/** Which vendor's base URL a call goes to. */
export type Upstreams = Record<Vendor, string>;
