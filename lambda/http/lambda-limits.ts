// What fits through Lambda behind API Gateway (docs/http-api.md#status-codes-and-refusals). Lambda refuses an
// event over 6,291,456 bytes before the function runs, and a result over 6,291,556 bytes after it ran; API
// Gateway hands form and binary bodies over base64 (4/3 larger) and takes binary answers back the same way.
import type { UpstreamReply } from "../vendors/adapter";

export const LAMBDA_REQUEST_LIMIT_BYTES = 6_291_456;
export const LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_556;
/** What the rest of an event (headers, request context) may take, at most, beside the body. */
const EVENT_ENVELOPE_BYTES = 64 * 1024;

/**
 * The proxy's body limit: the largest body whose event still fits Lambda's request limit after base64, so the
 * proxy's own 413 (audited) answers everything between it and what Lambda refuses unseen (4,669,440 bytes).
 */
export const MAX_PROXY_BODY_BYTES = Math.floor(((LAMBDA_REQUEST_LIMIT_BYTES - EVENT_ENVELOPE_BYTES) * 3) / 4);

/** The body's share of the event API Gateway builds: base64, or the text as a JSON string. */
export function eventBodyBytes(body: Uint8Array, base64: boolean): number {
  if (base64) return 4 * Math.ceil(body.byteLength / 3);
  return Buffer.byteLength(JSON.stringify(Buffer.from(body).toString("utf8")));
}

// The adapter's own rule (hono/aws-lambda): text and JSON answers stay text, anything else goes back base64.
const TEXT_TYPES = /^text\/(?:plain|html|css|javascript|csv)|(?:\/|\+)(?:json|xml)\s*(?:;|$)/i;

/** Whether a vendor answer, as the Lambda result JSON that would carry it, fits Lambda's response limit. */
export function fitsLambdaResponse(reply: UpstreamReply): boolean {
  const contentType = reply.headers["content-type"] ?? "";
  const encoding = reply.headers["content-encoding"];
  const base64 = (contentType !== "" && !TEXT_TYPES.test(contentType)) || (!!encoding && !/^identity$/i.test(encoding));
  const envelope = Buffer.byteLength(JSON.stringify({ headers: reply.headers, cookies: reply.setCookies ?? [] })) + 256;
  return eventBodyBytes(reply.body, base64) + envelope <= LAMBDA_RESPONSE_LIMIT_BYTES;
}
