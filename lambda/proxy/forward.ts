// Sends one request to a vendor over a keep-alive pool and buffers the answer, all before the call's deadline
// (a vendor that stalls or trickles bytes is cut there: 504). Errors say whether the request can have reached
// the vendor: a refused connection did not, so its reservation may be released; a reset or a timeout might
// have, so its reservation is kept.
import http from "node:http";
import https from "node:https";
import { UpstreamError, UpstreamTimeoutError } from "../core/errors";
import type { UpstreamReply } from "../vendors/adapter";

export interface UpstreamRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  /** Aborts at the call's deadline. */
  signal: AbortSignal;
  /** The deadline's budget, for the 504's message. */
  budgetMs: number;
  /** Answers longer than this are cut and refused (Lambda's response payload limit). */
  maxBytes?: number;
}

export class UpstreamUnreachableError extends UpstreamError {
  override name = "UpstreamUnreachableError";
}

/** The vendor answered, but more than the proxy can hand back (Lambda's response limit): it did act. */
export class UpstreamTooLargeError extends UpstreamError {
  override name = "UpstreamTooLargeError";
  constructor(
    readonly upstreamStatus: number,
    readonly upstreamHeaders: Record<string, string>,
  ) {
    super("the vendor's answer is larger than keybrake can return");
  }
}

const agentOptions = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" as const };
const httpAgent = new http.Agent(agentOptions);
const httpsAgent = new https.Agent(agentOptions);
/** Connection errors that happen before a byte of the request left this process. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

export function sendUpstream(req: UpstreamRequest): Promise<UpstreamReply> {
  const isHttps = req.url.protocol === "https:";
  const transport = isHttps ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener("abort", onAbort);
      fn();
    };
    const fail = (error: Error) => finish(() => reject(error));
    if (req.signal.aborted) return fail(new UpstreamTimeoutError(req.budgetMs));
    const outgoing = transport.request(
      req.url,
      {
        method: req.method,
        headers: req.body ? { ...req.headers, "content-length": String(req.body.byteLength) } : req.headers,
        agent: isHttps ? httpsAgent : httpAgent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined && name !== "set-cookie")
            headers[name] = Array.isArray(value) ? value.join(", ") : value;
        }
        res.on("data", (chunk: Buffer) => {
          size += chunk.byteLength;
          if (req.maxBytes !== undefined && size > req.maxBytes) {
            fail(new UpstreamTooLargeError(res.statusCode ?? 502, headers));
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () =>
          finish(() =>
            resolve({
              status: res.statusCode ?? 502,
              headers,
              setCookies: res.headers["set-cookie"] ?? [],
              body: Buffer.concat(chunks),
            }),
          ),
        );
        res.on("error", (error) => fail(new UpstreamError("the vendor's answer was cut off", { cause: error })));
        res.on("aborted", () => fail(new UpstreamError("the vendor's answer was cut off")));
      },
    );
    function onAbort() {
      fail(new UpstreamTimeoutError(req.budgetMs));
      outgoing.destroy();
    }
    req.signal.addEventListener("abort", onAbort, { once: true });
    outgoing.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code && NOT_SENT.has(error.code)) {
        return fail(new UpstreamUnreachableError(`the vendor could not be reached (${error.code})`, { cause: error }));
      }
      fail(new UpstreamError(`the vendor connection failed (${error.code ?? error.message})`, { cause: error }));
    });
    outgoing.end(req.body);
  });
}
