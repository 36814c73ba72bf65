// Endpoint allowlists: entries are "METHOD /path" where `*` matches exactly one path segment.
// Paths are compared segment by segment after the proxy has normalised and validated the request path.

export const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type Method = (typeof METHODS)[number];

export interface EndpointPattern {
  method: Method;
  segments: string[];
  text: string;
}

const SEGMENT = /^(?:\*|[A-Za-z0-9._~:@!$&'()+,;=-]+)$/;
export const MAX_ENDPOINT_LENGTH = 256;

/** Parses one allowlist entry; returns undefined when it is malformed. */
export function parseEndpointPattern(text: unknown): EndpointPattern | undefined {
  if (typeof text !== "string" || text.length > MAX_ENDPOINT_LENGTH) return undefined;
  const m = /^([A-Z]+) (\/\S*)$/.exec(text);
  if (!m || !(METHODS as readonly string[]).includes(m[1]!)) return undefined;
  const segments = m[2]!.split("/").slice(1);
  if (segments.length === 0 || segments.some((s) => !SEGMENT.test(s) || s === "." || s === "..")) return undefined;
  return { method: m[1] as Method, segments, text };
}

export function matchesEndpoint(pattern: EndpointPattern, method: string, segments: readonly string[]): boolean {
  if (pattern.method !== method || pattern.segments.length !== segments.length) return false;
  return pattern.segments.every((p, i) => p === "*" || p === segments[i]);
}

/** True when every request `inner` matches is also matched by `outer` (used for issuer ceilings). */
export function patternWithin(inner: EndpointPattern, outer: EndpointPattern): boolean {
  if (inner.method !== outer.method || inner.segments.length !== outer.segments.length) return false;
  return outer.segments.every((o, i) => o === "*" || o === inner.segments[i]);
}
