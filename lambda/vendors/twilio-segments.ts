// SMS segments as Twilio counts them (twilio.com/docs/glossary/what-sms-character-limit, and Twilio's segment
// calculator, TwilioDevEd/message-segment-calculator). A body is GSM-7 unless one character is outside
// the GSM-7 alphabet, and then the whole body is UCS-2 (UTF-16 code units). One segment holds 160 septets or
// 70 units; a multipart message holds 153 septets or 67 units per part (the rest is the concatenation header).
// Nothing that must stay whole is split across parts, so a part may hold less: an escape pair, a surrogate
// pair, and (as Twilio's segment calculator does) a grapheme such as a ZWJ emoji sequence. Keeping more together
// can only add segments, so the count stays an upper bound on what Twilio bills.

// 3GPP TS 23.038 default alphabet in code order, 16 codes a row. Code 0x1B is the escape into the extension
// table, not a character, so a literal ESC in a body is not GSM-7.
const GSM7_ALPHABET = [
  "@£$¥èéùìòÇ\nØø\rÅå",
  "Δ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ",
  " !\"#¤%&'()*+,-./",
  "0123456789:;<=>?",
  "¡ABCDEFGHIJKLMNO",
  "PQRSTUVWXYZÄÖÑÜ§",
  "¿abcdefghijklmno",
  "pqrstuvwxyzäöñüà",
].join("");
const BASIC = new Set(GSM7_ALPHABET.replace("\u001b", ""));
/** Extension table: each character costs two septets, the escape and its code. */
const EXTENDED = new Set("\f^{}\\[]~|€");

/**
 * Part of Twilio's Smart Encoding table (twilio.com/docs/messaging/services/smart-encoding-char-list), read as
 * the sms-segments-calculator package reads it. Only a subset: mapping a character Twilio leaves alone would
 * undercount, while leaving one out only overcounts.
 */
const SMART_ENCODING = new Map<string, string>(
  (
    [
      ['"', "«»“”„‟ʺˮ❝❞〝〞＂"],
      ["'", "‘’‛ʻʼʽʹˈˊˋ´`❛❜＇"], // the backtick is ASCII but not GSM-7; agents write Markdown
      [",", "‚、，"],
      ["-", "–—―‐⁃•﹣－"],
      ["...", "…"],
      ["<", "‹"],
      [">", "›"],
      ["^", "ˆ"],
      ["~", "˜"],
      // No-break and typographic spaces. The calculator writes them as two spaces: counting two can only overcount.
      ["  ", "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"],
      ["", "\u200b\u200c\u2060\ufeff"], // zero-width characters are dropped
    ] as const
  ).flatMap(([to, from]) => [...from].map((c) => [c, to] as const)),
);

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: "grapheme" });

export interface SegmentCount {
  encoding: "GSM-7" | "UCS-2";
  segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2), without concatenation headers. */
  units: number;
}

export function countSegments(body: string, opts: { smartEncoded?: boolean } = {}): SegmentCount {
  const smart = opts.smartEncoded ? [...body].map((c) => SMART_ENCODING.get(c) ?? c).join("") : body;
  // Twilio applies Smart Encoding only when it makes the whole body GSM-7; otherwise it sends the body as written.
  if ([...smart].every((c) => BASIC.has(c) || EXTENDED.has(c))) {
    return pack(
      "GSM-7",
      [...smart].map((c) => (EXTENDED.has(c) ? 2 : 1)),
      160,
      153,
    );
  }
  // A grapheme too long for any part (a letter under dozens of combining marks) has to be split somewhere:
  // between code points, which still keeps surrogate pairs whole.
  const widths = [...GRAPHEMES.segment(body)].flatMap(({ segment }) =>
    segment.length > 67 ? [...segment].map((c) => c.length) : [segment.length],
  );
  return pack("UCS-2", widths, 70, 67);
}

/** Fills parts in order with indivisible runs of the given widths. */
function pack(encoding: SegmentCount["encoding"], widths: number[], single: number, part: number): SegmentCount {
  const units = widths.reduce((a, b) => a + b, 0);
  let segments = 1;
  if (units > single) {
    let used = 0;
    for (const width of widths) {
      if (used + width > part) {
        segments += 1;
        used = 0;
      }
      used += width;
    }
  }
  return { encoding, segments, units };
}
