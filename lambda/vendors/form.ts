// The one reader of `application/x-www-form-urlencoded` bodies (and of query strings), read as Rack and its kin
// read them, but strictly: where two parsers could disagree, the request is refused rather than read one way
// (docs/pricing.md#bodies). Linear in the input and bounded: it stops at the first parameter over a limit, so
// a multi-megabyte form answers at once.
//
// - `&` separates parameters; a raw `;` is refused (older Rack also split on it).
// - `+` is a space and `%XX` a byte; the decoded bytes must be UTF-8, and a malformed escape is refused.
// - A name is `base` followed by `[...]` groups (`items[0][price]`, `expand[]`); any other use of brackets
//   (`amount]`, `[amount]`, `a[b]c`), which Rack 2 and Rack 3 read differently, is refused. Its top-level name
//   is `base`.
// - `_method` (Rack's method override) is refused: the vendor could run another operation than the one priced.
import { KeybrakeError, UnpriceableRequestError } from "../core/errors";

export const FORM_LIMITS = {
  /** Parameters per form (Stripe's largest legitimate bodies have a few hundred). */
  parameters: 1000,
  /** Bytes in one decoded parameter name. */
  nameBytes: 256,
  /** `[...]` groups in one name (Stripe's deepest parameters have five). */
  depth: 8,
} as const;

export interface FormParam {
  /** The decoded name, e.g. `items[0][price]`. */
  readonly name: string;
  /** The name before its first `[`, e.g. `items`. */
  readonly base: string;
  readonly value: string;
}

export interface FormParams {
  readonly entries: readonly FormParam[];
  /**
   * The single value of a pricing field, undefined when absent. Refuses a field given twice or with brackets
   * (`amount[]`, `amount[0]`). `ignoreCase` matches names in any case (for vendors that may fold them).
   */
  single(name: string, opts?: { ignoreCase?: boolean }): string | undefined;
  /** Every value of a field given as a plain name (Twilio repeats `MediaUrl` legitimately). */
  all(name: string, opts?: { ignoreCase?: boolean }): string[];
}

/** 400 naming the form limit a name broke (too long, too deep). */
export class FormLimitError extends KeybrakeError {
  override name = "FormLimitError";
  constructor(limit: "nameBytes" | "depth", where: string) {
    super(
      400,
      "invalid_request",
      limit === "depth"
        ? `a parameter name in the ${where} nests deeper than ${FORM_LIMITS.depth} [...] groups`
        : `a parameter name in the ${where} is longer than ${FORM_LIMITS.nameBytes} bytes`,
      { limit, max: FORM_LIMITS[limit] },
    );
  }
}

/** 413 naming the parameter count limit. */
export class TooManyParametersError extends KeybrakeError {
  override name = "TooManyParametersError";
  constructor(where: string) {
    super(413, "payload_too_large", `the ${where} has more than ${FORM_LIMITS.parameters} parameters`, {
      limit: "parameters",
      max: FORM_LIMITS.parameters,
    });
  }
}

function decodeComponent(raw: string, where: string): string {
  const spaced = raw.indexOf("+") === -1 ? raw : raw.replaceAll("+", " ");
  if (spaced.indexOf("%") === -1) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw new UnpriceableRequestError(`the ${where} has a malformed percent-encoding or bytes that are not UTF-8`);
  }
}

/** The top-level name of a well-formed parameter name, or a refusal. */
function baseOf(name: string, where: string): string {
  const open = name.indexOf("[");
  if (open === -1) {
    if (name.indexOf("]") !== -1) throw malformedName(name, where);
    return name;
  }
  if (open === 0) throw malformedName(name, where);
  let depth = 0;
  let i = open;
  while (i < name.length) {
    if (name.charCodeAt(i) !== 0x5b) throw malformedName(name, where);
    const close = name.indexOf("]", i + 1);
    if (close === -1) throw malformedName(name, where);
    const inner = name.indexOf("[", i + 1);
    if (inner !== -1 && inner < close) throw malformedName(name, where);
    depth += 1;
    if (depth > FORM_LIMITS.depth) throw new FormLimitError("depth", where);
    i = close + 1;
  }
  const base = name.slice(0, open);
  if (base.indexOf("]") !== -1) throw malformedName(name, where);
  return base;
}

const malformedName = (name: string, where: string) =>
  new UnpriceableRequestError(
    `the ${where} has a parameter name with misplaced brackets (${JSON.stringify(name.slice(0, 64))}), which vendors read in different ways`,
  );

/**
 * Reads a form body or query string. `where` names it in refusals ("body", "query string"). The text must already
 * be decoded from UTF-8 (the body reader checks that).
 */
export function readForm(text: string, where: string): FormParams {
  const entries: FormParam[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("&", start);
    if (end === -1) end = text.length;
    if (end > start) {
      if (entries.length === FORM_LIMITS.parameters) throw new TooManyParametersError(where);
      const piece = text.slice(start, end);
      if (piece.indexOf(";") !== -1) {
        throw new UnpriceableRequestError(`the ${where} has a raw ; (older parsers split parameters on it; send %3B)`);
      }
      const eq = piece.indexOf("=");
      const rawName = eq === -1 ? piece : piece.slice(0, eq);
      // A name is bounded before it is decoded: its encoded form is at most three times as long.
      if (rawName.length > FORM_LIMITS.nameBytes * 3) throw new FormLimitError("nameBytes", where);
      const name = decodeComponent(rawName, where);
      if (Buffer.byteLength(name) > FORM_LIMITS.nameBytes) throw new FormLimitError("nameBytes", where);
      const value = eq === -1 ? "" : decodeComponent(piece.slice(eq + 1), where);
      // Rack skips a parameter with an empty name; so does this reader.
      if (name !== "") {
        const base = baseOf(name, where);
        if (base === "_method") {
          throw new UnpriceableRequestError(
            `the ${where} has a _method parameter (a method override could make the vendor run another operation)`,
            "_method",
          );
        }
        entries.push({ name, base, value });
      }
    }
    start = end + 1;
  }
  return formParams(entries);
}

const same = (a: string, b: string, ignoreCase: boolean | undefined) =>
  ignoreCase ? a.toLowerCase() === b.toLowerCase() : a === b;

function formParams(entries: FormParam[]): FormParams {
  return {
    entries,
    single(name, opts) {
      let found: FormParam | undefined;
      for (const entry of entries) {
        if (!same(entry.base, name, opts?.ignoreCase)) continue;
        if (found || entry.name !== entry.base) {
          throw new UnpriceableRequestError(`${name} must be given exactly once, as a single value`, name);
        }
        found = entry;
      }
      return found?.value;
    },
    all(name, opts) {
      const values: string[] = [];
      for (const entry of entries) {
        if (!same(entry.base, name, opts?.ignoreCase)) continue;
        if (entry.name !== entry.base) {
          throw new UnpriceableRequestError(`${name} must be given as plain ${name}=… parameters`, name);
        }
        values.push(entry.value);
      }
      return values;
    },
  };
}
