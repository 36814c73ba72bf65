import { InvalidRequestError } from "../core/errors";
import { hasControlCharacters } from "../core/text";
import { isVendor, type Vendor } from "../core/vendors";
import type { ProxiedRequest } from "../vendors/adapter";

export interface RawTarget {
  method: string;
  /** The request target exactly as received (path and query). */
  target: string;
}

export function parseTarget(
  raw: RawTarget,
): Pick<ProxiedRequest, "method" | "routeVendor" | "path" | "segments" | "query"> {
  if (!raw.target.startsWith("/")) throw new InvalidRequestError("the request target must be a path", "path");
  const queryAt = raw.target.indexOf("?");
  const rawPath = queryAt === -1 ? raw.target : raw.target.slice(0, queryAt);
  const query = queryAt === -1 ? "" : raw.target.slice(queryAt + 1);
  const rawSegments = rawPath.split("/").slice(1);
  const segments = rawSegments.map(decodeSegment);
  let routeVendor: Vendor | undefined;
  if (isVendor(segments[0])) {
    routeVendor = segments[0];
    segments.shift();
    rawSegments.shift();
  }
  if (segments.length === 0 || segments[0] === "") throw new InvalidRequestError("no vendor path was given", "path");
  return { method: raw.method.toUpperCase(), routeVendor, path: `/${rawSegments.join("/")}`, segments, query };
}

/** One path segment, decoded; refuses what could change the upstream path after the allowlist check. */
function decodeSegment(raw: string, index: number, all: string[]): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new InvalidRequestError("the path has a malformed percent-encoding", "path");
  }
  if (decoded === "." || decoded === "..")
    throw new InvalidRequestError("the path may not contain . or .. segments", "path");
  if (/[/\\]/.test(decoded))
    throw new InvalidRequestError("the path may not contain encoded slashes or backslashes", "path");
  if (hasControlCharacters(decoded))
    throw new InvalidRequestError("the path may not contain control characters", "path");
  if (decoded === "" && index < all.length - 1)
    throw new InvalidRequestError("the path may not contain empty segments", "path");
  return decoded;
}
