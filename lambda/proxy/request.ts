// The request target, made canonical once (docs/pricing.md#one-canonical-target): the route matched, the allowlist
// checked, the price computed and the URL forwarded are all built from what this module returns, and nothing
// else. Whatever a URL parser between the client and the vendor could drop or rewrite is either normalised here
// or refused with 400; nothing is left for a later parser to reinterpret.
import { InvalidRequestError, KeybrakeError } from "../core/errors";
import { isVendor, type Vendor } from "../core/vendors";
import type { ProxiedRequest } from "../vendors/adapter";

export interface RawTarget {
  method: string;
  /** The request target exactly as received (path and query). */
  target: string;
}

/** Longest request target accepted, in bytes (every SDK call is far below it; Node's own header limit is 16 KB). */
export const MAX_TARGET_BYTES = 8192;

/** 400 naming the limit the target broke. */
export class TargetTooLongError extends KeybrakeError {
  override name = "TargetTooLongError";
  constructor() {
    super(400, "invalid_request", `the request target is longer than ${MAX_TARGET_BYTES} bytes`, {
      field: "path",
      limit: "target_bytes",
      limit_bytes: MAX_TARGET_BYTES,
    });
  }
}

/** One ASCII lookup table per character class, built once (no regex on the hot path). */
function table(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of chars) t[ch.charCodeAt(0)] = 1;
  return t;
}

/**
 * What a decoded path segment may hold: RFC 3986 unreserved characters plus the sub-delimiters, `:` and `@` that
 * no vendor's router splits on (Resend contact ids are e-mail addresses). Not `;` (path parameters, which
 * servlet-style and older Rack routers drop), not `%` (double encoding), nor anything a URL parser re-encodes.
 */
const SEGMENT_CHAR = table("-._~!$&'()*+,=:@");
/**
 * Raw characters a query may hold besides `%XX`: what the SDKs send (stripe-node leaves `[` `]` raw). Not `;` (older
 * Rack splits parameters on it), not `'` (the WHATWG URL parser re-encodes it), nor `#`, spaces or quotes.
 */
const QUERY_CHAR = table("-._~!$&()*+,=:@/?[]");

const HEX = (code: number): number => {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
};

/** Why a character cannot be in a path segment, for the refusal message. */
function segmentRefusal(code: number, encoded: boolean): string {
  const how = encoded ? "an encoded" : "a";
  if (code === 0x2f) return "the path may not contain encoded slashes";
  if (code === 0x5c) return "the path may not contain backslashes";
  if (code === 0x3b) return `the path may not contain ${how} ; (path parameters)`;
  if (code === 0x3f || code === 0x23) return `the path may not contain ${how} ${String.fromCharCode(code)}`;
  if (code === 0x25) return "the path may not contain an encoded % (double encoding)";
  if (code < 0x20 || code === 0x7f) return "the path may not contain control characters";
  if (code > 0x7f) return "the path may not contain non-ASCII characters";
  return `the path may not contain ${how} ${JSON.stringify(String.fromCharCode(code))}`;
}

/**
 * One raw path segment as its canonical, decoded text. `%XX` of a character a segment may hold is decoded (it
 * means the same to every vendor, so `%70ayment_intents` is `payment_intents`); any other character, raw or
 * encoded, is refused. The canonical text needs no encoding, so it is also exactly what is forwarded.
 */
function canonicalSegment(raw: string): string {
  let out = "";
  let plainFrom = 0;
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25) {
      const hi = HEX(raw.charCodeAt(i + 1));
      const lo = HEX(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw new InvalidRequestError("the path has a malformed percent-encoding", "path");
      const decoded = hi * 16 + lo;
      if (decoded >= 128 || SEGMENT_CHAR[decoded] !== 1) {
        throw new InvalidRequestError(segmentRefusal(decoded, true), "path");
      }
      out += raw.slice(plainFrom, i) + String.fromCharCode(decoded);
      i += 2;
      plainFrom = i + 1;
    } else if (code >= 128 || SEGMENT_CHAR[code] !== 1) {
      throw new InvalidRequestError(segmentRefusal(code, false), "path");
    }
  }
  const segment = plainFrom === 0 ? raw : out + raw.slice(plainFrom);
  if (segment === "") throw new InvalidRequestError("the path may not contain empty segments or end with /", "path");
  if (segment === "." || segment === "..") {
    throw new InvalidRequestError("the path may not contain . or .. segments", "path");
  }
  return segment;
}

/** The raw query, checked character by character; it is forwarded byte for byte, so it is its own canonical form. */
function checkQuery(query: string): void {
  for (let i = 0; i < query.length; i++) {
    const code = query.charCodeAt(i);
    if (code === 0x25) {
      if (HEX(query.charCodeAt(i + 1)) < 0 || HEX(query.charCodeAt(i + 2)) < 0) {
        throw new InvalidRequestError("the query string has a malformed percent-encoding", "query");
      }
      i += 2;
    } else if (code >= 128 || QUERY_CHAR[code] !== 1) {
      const what =
        code === 0x3b
          ? "; (older parsers split parameters on it; send %3B)"
          : code === 0x23
            ? "# (a fragment is never sent to a server)"
            : code < 0x20 || code === 0x7f
              ? "control characters"
              : code > 0x7f
                ? "non-ASCII characters (percent-encode them)"
                : `a raw ${JSON.stringify(String.fromCharCode(code))} (percent-encode it)`;
      throw new InvalidRequestError(`the query string may not contain ${what}`, "query");
    }
  }
}

export type ParsedTarget = Pick<ProxiedRequest, "method" | "routeVendor" | "path" | "segments" | "query">;

/**
 * The canonical target: upper-case method, decoded segments (the route prefix removed), `path` (the segments
 * joined: the exact path forwarded) and the raw query (forwarded as is; "" when absent or empty).
 */
export function parseTarget(raw: RawTarget): ParsedTarget {
  const target = raw.target;
  if (target.length > MAX_TARGET_BYTES) throw new TargetTooLongError();
  if (target.charCodeAt(0) !== 0x2f) {
    throw new InvalidRequestError("the request target must be a path starting with / (origin-form)", "path");
  }
  const hash = target.indexOf("#");
  const queryAt = target.indexOf("?");
  if (hash !== -1 && (queryAt === -1 || hash < queryAt)) {
    throw new InvalidRequestError("the path may not contain # (a fragment is never sent to a server)", "path");
  }
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 ? "" : target.slice(queryAt + 1);
  checkQuery(query);
  const rawSegments = rawPath.split("/");
  const segments: string[] = [];
  for (let i = 1; i < rawSegments.length; i++) {
    // The bare root, or a route prefix alone, names no vendor path: say so rather than "empty segment".
    if (rawSegments[i] === "" && i === rawSegments.length - 1 && (i === 1 || (i === 2 && isVendor(segments[0])))) {
      break;
    }
    segments.push(canonicalSegment(rawSegments[i]!));
  }
  let routeVendor: Vendor | undefined;
  if (isVendor(segments[0])) {
    routeVendor = segments[0];
    segments.shift();
  }
  if (segments.length === 0) throw new InvalidRequestError("no vendor path was given", "path");
  return { method: raw.method.toUpperCase(), routeVendor, path: `/${segments.join("/")}`, segments, query };
}
