// A request body read once, by the one reader of its content type (form.ts, json.ts), before pricing
// (docs/pricing.md#bodies). Every rule reads what this returns; the bytes forwarded are the bytes read.
//
// - A read (GET, HEAD) carries no body.
// - `Content-Encoding` other than `identity` is refused: the vendor would decompress what keybrake cannot read.
// - The media type is `application/x-www-form-urlencoded` or `application/json`, with no charset or UTF-8, and
//   the bytes are valid UTF-8 (a byte-order mark is kept as a character, so it is never silently dropped). The
//   Content-Type is visible ASCII: a no-break space a JS trim would drop, but the vendor keeps, is refused.
// - A priced call's body is the type its rule reads (form for Stripe v1 and Twilio, JSON for Resend).
import { UnpriceableRequestError } from "../core/errors";
import type { ProxiedRequest } from "./adapter";
import { type FormParams, readForm } from "./form";
import { type JsonValue, readJson } from "./json";

export type BodyType = "form" | "json";

export type RequestBody =
  | { readonly kind: "none" }
  | { readonly kind: "form"; readonly form: FormParams }
  | { readonly kind: "json"; readonly value: JsonValue };

const FORM_TYPE = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Whether a header is visible ASCII, spaces and tabs only (what a media type or an encoding is made of). Anything
 * else is refused rather than trimmed: `String.trim` drops a no-break space (0xA0) that HTTP parsers keep, so
 * `application/x-www-form-urlencoded\u00a0` would be read here as a form and by the vendor as an unknown type.
 */
function plainAscii(header: string): boolean {
  for (let i = 0; i < header.length; i++) {
    const code = header.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code > 0x7e) return false;
  }
  return true;
}

/** The media type and charset of a Content-Type header, or a refusal when it is ambiguous. */
function mediaType(header: string | null): { type: string; charset?: string } | undefined {
  if (header === null) return undefined;
  if (!plainAscii(header)) {
    throw new UnpriceableRequestError(
      "the Content-Type header has characters outside visible ASCII, which parsers trim or keep in different ways",
    );
  }
  const parts = header.split(";");
  const type = parts[0]!.trim().toLowerCase();
  let charset: string | undefined;
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k]!.trim();
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    if (charset !== undefined) throw new UnpriceableRequestError("the Content-Type names its charset twice");
    charset = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
  }
  return { type, charset };
}

/**
 * Reads the body. `expected` is the type a priced rule reads; undefined for a free call, which may carry either
 * type (each checked by its reader) and nothing else. A body-less call gets an empty form when a form is expected.
 */
export function readBody(req: ProxiedRequest, expected: BodyType | undefined): RequestBody {
  if (req.body.byteLength === 0) {
    if (expected === "form") return { kind: "form", form: readForm("", "body") };
    if (expected === "json")
      throw new UnpriceableRequestError("this call is priced from its JSON body, which is empty");
    return { kind: "none" };
  }
  if (req.method === "GET" || req.method === "HEAD") {
    throw new UnpriceableRequestError(`a ${req.method} request carries no body through keybrake`);
  }
  const encoding = req.headers.get("content-encoding");
  // The Headers value is already trimmed of HTTP whitespace; nothing else is trimmed (see plainAscii).
  if (encoding !== null && encoding.toLowerCase() !== "identity") {
    throw new UnpriceableRequestError(
      `keybrake reads bodies as the vendor does and does not forward a body with Content-Encoding ${JSON.stringify(encoding.slice(0, 40))}; send it uncompressed`,
    );
  }
  const media = mediaType(req.headers.get("content-type"));
  const type = media?.type === FORM_TYPE ? "form" : media?.type === JSON_TYPE ? "json" : undefined;
  if (expected !== undefined && type !== expected) {
    throw new UnpriceableRequestError(
      `this call is priced from its body, which must be sent as ${expected === "form" ? FORM_TYPE : JSON_TYPE}`,
    );
  }
  if (type === undefined) {
    throw new UnpriceableRequestError(
      `keybrake forwards ${FORM_TYPE} and ${JSON_TYPE} bodies only, not ${JSON.stringify(media?.type ?? "a body without Content-Type")}`,
    );
  }
  if (media?.charset !== undefined && media.charset !== "utf-8" && media.charset !== "utf8") {
    throw new UnpriceableRequestError(
      `keybrake reads bodies as UTF-8 and does not forward one in charset ${JSON.stringify(media.charset.slice(0, 40))}`,
    );
  }
  let text: string;
  try {
    text = UTF8.decode(req.body);
  } catch {
    throw new UnpriceableRequestError("the body is not valid UTF-8");
  }
  return type === "form" ? { kind: "form", form: readForm(text, "body") } : { kind: "json", value: readJson(text) };
}
