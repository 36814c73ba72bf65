// The one reader of JSON bodies: a small single-pass parser (RFC 8259), linear in the input, iterative (no
// recursion, so no stack overflow however deep the input) and stricter than `JSON.parse` wherever two JSON
// parsers can read the same bytes differently (docs/pricing.md#bodies):
//
// - a key given twice in one object is refused, compared *after* unescaping (`"to"` and `"t\u006f"` are one key),
//   because parsers disagree on which one wins;
// - an escaped lone surrogate (`"\ud800"`) is refused: a UTF-8 vendor would turn it into U+FFFD, so two different
//   keys could become one;
// - a byte-order mark, trailing commas, comments and anything after the value are refused;
// - nesting is bounded.
//
// Objects come back with a null prototype, so a `"__proto__"` key is plain data.
import { KeybrakeError, UnpriceableRequestError } from "../core/errors";

export const JSON_LIMITS = {
  /** Nested arrays and objects (a Resend batch needs four). */
  depth: 32,
} as const;

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

interface ObjectFrame {
  object: JsonObject;
  array?: undefined;
  keys: Set<string>;
  key: string;
}
interface ArrayFrame {
  array: JsonValue[];
  object?: undefined;
}
type Frame = ObjectFrame | ArrayFrame;

/** 400 naming the JSON nesting limit. */
export class JsonDepthError extends KeybrakeError {
  override name = "JsonDepthError";
  constructor(where: string) {
    super(400, "invalid_request", `the ${where} nests JSON deeper than ${JSON_LIMITS.depth} levels`, {
      limit: "json_depth",
      max: JSON_LIMITS.depth,
    });
  }
}

/** `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

export function readJson(text: string, where = "body"): JsonValue {
  const n = text.length;
  let i = 0;
  const fail = (what: string): never => {
    throw new UnpriceableRequestError(`the ${where} is not valid JSON: ${what} at character ${i}`);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const hex4 = (at: number): number => {
    let v = 0;
    for (let k = at; k < at + 4; k++) {
      const c = text.charCodeAt(k);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
      if (d < 0) {
        i = k;
        fail("a malformed \\u escape");
      }
      v = v * 16 + d;
    }
    return v;
  };
  /**
   * One string. The scan checks every escape (lone surrogates included); a string with escapes is then decoded by
   * `JSON.parse` on its own slice, which agrees with the scan on what is valid and is native-fast.
   */
  const readString = (): string => {
    const start = i;
    i++;
    let escaped = false;
    for (;;) {
      if (i >= n) fail("an unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail("a control character in a string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      escaped = true;
      const e = text.charCodeAt(i + 1);
      if (e === 0x75) {
        const unit = hex4(i + 2);
        if (unit >= 0xd800 && unit <= 0xdbff) {
          if (text.charCodeAt(i + 6) !== 0x5c || text.charCodeAt(i + 7) !== 0x75) fail("a lone surrogate escape");
          const low = hex4(i + 8);
          if (low < 0xdc00 || low > 0xdfff) fail("a lone surrogate escape");
          i += 12;
        } else {
          if (unit >= 0xdc00 && unit <= 0xdfff) fail("a lone surrogate escape");
          i += 6;
        }
      } else if (SIMPLE_ESCAPES.has(e)) i += 2;
      else fail("an unknown escape");
    }
    i++;
    return escaped ? (JSON.parse(text.slice(start, i)) as string) : text.slice(start + 1, i - 1);
  };
  const digits = (): number => {
    const from = i;
    while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
    return i - from;
  };
  const readNumber = (): number => {
    const from = i;
    if (text.charCodeAt(i) === 0x2d) i++;
    if (text.charCodeAt(i) === 0x30) i++;
    else if (digits() === 0) fail("a malformed number");
    if (text.charCodeAt(i) === 0x2e) {
      i++;
      if (digits() === 0) fail("a malformed number");
    }
    if ((text.charCodeAt(i) | 0x20) === 0x65) {
      i++;
      if (text.charCodeAt(i) === 0x2b || text.charCodeAt(i) === 0x2d) i++;
      if (digits() === 0) fail("a malformed number");
    }
    return Number(text.slice(from, i));
  };
  const literal = (word: string, value: JsonValue): JsonValue => {
    if (!text.startsWith(word, i)) fail("an unexpected character");
    i += word.length;
    return value;
  };
  const readKey = (frame: ObjectFrame): void => {
    ws();
    if (text.charCodeAt(i) !== 0x22) fail("an object key that is not a string");
    const key = readString();
    if (frame.keys.has(key)) {
      throw new UnpriceableRequestError(
        `the ${where} gives the key ${JSON.stringify(key.slice(0, 64))} twice in one object (parsers disagree on which one counts)`,
        key.slice(0, 64),
      );
    }
    frame.keys.add(key);
    frame.key = key;
    ws();
    if (text.charCodeAt(i) !== 0x3a) fail("a missing :");
    i++;
  };

  const stack: Frame[] = [];
  ws();
  for (;;) {
    ws();
    let value: JsonValue;
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      if (stack.length >= JSON_LIMITS.depth) throw new JsonDepthError(where);
      i++;
      ws();
      if (c === 0x7b) {
        const object = Object.create(null) as JsonObject;
        if (text.charCodeAt(i) === 0x7d) {
          i++;
          value = object;
        } else {
          const frame: ObjectFrame = { object, keys: new Set(), key: "" };
          readKey(frame);
          stack.push(frame);
          continue;
        }
      } else {
        const array: JsonValue[] = [];
        if (text.charCodeAt(i) === 0x5d) {
          i++;
          value = array;
        } else {
          stack.push({ array });
          continue;
        }
      }
    } else if (c === 0x22) value = readString();
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) value = readNumber();
    else if (c === 0x74) value = literal("true", true);
    else if (c === 0x66) value = literal("false", false);
    else if (c === 0x6e) value = literal("null", null);
    else value = fail(i >= n ? "an unexpected end" : "an unexpected character");

    // Attach the value to its container; close every container that ends here.
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        ws();
        if (i !== n) fail("data after the value");
        return value;
      }
      if (top.array) top.array.push(value);
      else top.object[top.key] = value;
      ws();
      const d = text.charCodeAt(i);
      if (d === 0x2c) {
        i++;
        if (top.object) readKey(top);
        break;
      }
      if (d === (top.array ? 0x5d : 0x7d)) {
        i++;
        stack.pop();
        value = (top.array ?? top.object) as JsonValue;
        continue;
      }
      fail(i >= n ? "an unexpected end" : "a missing , or closing bracket");
    }
  }
}
