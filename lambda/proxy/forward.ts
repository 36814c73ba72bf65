import http from "node:http";
import https from "node:https";
import { UpstreamError, UpstreamTimeoutError } from "../core/errors";
import type { UpstreamReply } from "../vendors/adapter";

/**
 * Sends one request to a vendor over a keep-alive pool and buffers the answer. Errors say whether the
 * request can have reached the vendor: a refused connection did not, so its reservation may be released;
 * a reset or a timeout might have, so its reservation is kept.
 */
export interface UpstreamRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  timeoutMs: number;
}

export class UpstreamUnreachableError extends UpstreamError {
  override name = "UpstreamUnreachableError";
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
    const outgoing = transport.request(
      req.url,
      {
        method: req.method,
        headers: req.body ? { ...req.headers, "content-length": String(req.body.byteLength) } : req.headers,
        agent: isHttps ? httpsAgent : httpAgent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
          }
          resolve({ status: res.statusCode ?? 502, headers, body: Buffer.concat(chunks) });
        });
        res.on("error", (error) => reject(new UpstreamError("the vendor's answer was cut off", { cause: error })));
      },
    );
    outgoing.setTimeout(req.timeoutMs, () => outgoing.destroy(new UpstreamTimeoutError(req.timeoutMs)));
    outgoing.on("error", (error: NodeJS.ErrnoException) => {
      if (error instanceof UpstreamTimeoutError) return reject(error);
      if (error.code && NOT_SENT.has(error.code)) {
        return reject(
          new UpstreamUnreachableError(`the vendor could not be reached (${error.code})`, { cause: error }),
        );
      }
      reject(new UpstreamError(`the vendor connection failed (${error.code ?? error.message})`, { cause: error }));
    });
    outgoing.end(req.body);
  });
}
