// Raw HTTP/1.1 on a socket, for the closed-world and pricing-hazard tests: request lines no HTTP client would send.
import { connect } from "node:net";

/**
 * One HTTP/1.1 request written byte for byte on a raw socket: the request line is sent exactly as given (fetch and
 * node:http would normalise or refuse the tricky ones before they left), so the proxy sees what an unfriendly
 * client can send. Resolves with the status and body, or status 0 when the server closed without answering.
 */
export function rawRequest(
  baseUrl: string,
  requestLine: string | Buffer,
  headers: Record<string, string>,
  body: string | Buffer = "",
): Promise<{ status: number; body: string }> {
  const url = new URL(baseUrl);
  const payload = typeof body === "string" ? Buffer.from(body) : body;
  const head = [
    `Host: ${url.host}`,
    "Connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ...(payload.length ? [`Content-Length: ${payload.length}`] : []),
  ].join("\r\n");
  const line = typeof requestLine === "string" ? Buffer.from(requestLine, "latin1") : requestLine;
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(Buffer.concat([line, Buffer.from(`\r\n${head}\r\n\r\n`, "latin1"), payload]));
    });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    // A refused upload may be cut off mid-write after the answer: the answer is what counts.
    socket.on("error", () => undefined);
    socket.on("close", () => {
      const all = Buffer.concat(chunks);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(all.subarray(0, 16).toString("latin1"));
      const split = all.indexOf("\r\n\r\n");
      if (split === -1) return resolve({ status: status ? Number(status[1]) : 0, body: "" });
      const head = all.subarray(0, split).toString("latin1");
      const rest = all.subarray(split + 4);
      const chunked = /\r\ntransfer-encoding: chunked/i.test(head);
      resolve({ status: status ? Number(status[1]) : 0, body: (chunked ? dechunk(rest) : rest).toString("utf8") });
    });
  });
}

/** The body of a chunked answer, joined. */
function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf("\r\n", at);
    const size = Number.parseInt(data.subarray(at, eol).toString("latin1"), 16);
    if (!size) return Buffer.concat(parts);
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
