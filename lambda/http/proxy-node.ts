// The proxy app served straight from Node's HTTP server (local mode), doing what `createProxyApp` does under
// `@hono/node-server` without turning each request into a web `Request` and each answer into a `Response`: the
// request line is the raw target, the raw header pairs become the same `Headers` (appended in order, as the
// adapter builds them), the body is read with the same limit (`content-length` first, else counted as it comes),
// and the answer is written with the adapter's defaults (a `Content-Length`, `text/plain` when the vendor named no
// type, each cookie its own `Set-Cookie`). Measured: those conversions were about a tenth of the proxy process's
// CPU time per call (docs/performance.md).
import type { IncomingMessage, ServerResponse } from "node:http";
import { PayloadTooLargeError } from "../core/errors";
import type { Log } from "../core/log";
import { handleProxyCall, type ProxyDeps, type ProxyOutput, refuseUnread } from "../proxy/call";
import { MAX_PROXY_BODY_BYTES } from "./lambda-limits";

/** A listener for Node's HTTP server that serves the proxy routes as `createProxyApp` does. */
export function proxyListener(deps: ProxyDeps, log: Log): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    serve(deps, req, res).catch((error: unknown) => {
      // handleProxyCall answers every failure itself; only writing the answer can get here.
      log.error("keybrake.local could not answer a call", { error });
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=UTF-8" });
      res.end("Internal Server Error");
    });
  };
}

async function serve(deps: ProxyDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  const target = req.url ?? "/";
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.charCodeAt(0) !== 0x3a) headers.append(raw[i]!, raw[i + 1]!);
  const body = await readBody(req, headers);
  const out =
    body === undefined
      ? refuseUnread(deps, { method, target }, new PayloadTooLargeError(MAX_PROXY_BODY_BYTES))
      : await handleProxyCall(deps, { method, target, headers, body });
  write(res, out);
}

/** The body, or undefined when it is over the limit (declared or counted). GET and HEAD carry none. */
function readBody(req: IncomingMessage, headers: Headers): Promise<Uint8Array | undefined> | Uint8Array {
  if (req.method === "GET" || req.method === "HEAD") return new Uint8Array(0);
  const declared = headers.get("content-length");
  if (declared !== null && !headers.has("transfer-encoding") && Number.parseInt(declared, 10) > MAX_PROXY_BODY_BYTES) {
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > MAX_PROXY_BODY_BYTES) {
        req.off("data", onData);
        req.resume(); // the rest is read and dropped, so the connection can carry the 413
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => {
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      resolve(new Uint8Array(all.buffer, all.byteOffset, all.byteLength)); // a plain Uint8Array, as the app gets
    });
    req.once("error", reject);
  });
}

const DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8";

function write(res: ServerResponse, out: ProxyOutput): void {
  const headers: Record<string, string | string[]> = {};
  for (const name in out.headers) headers[name.toLowerCase()] = out.headers[name]!;
  headers["content-type"] ??= DEFAULT_CONTENT_TYPE;
  if (out.cookies?.length) headers["set-cookie"] = out.cookies;
  const body = typeof out.body === "string" ? Buffer.from(out.body) : out.body;
  headers["content-length"] = String(body.byteLength);
  res.writeHead(out.status, headers);
  res.end(body);
}
