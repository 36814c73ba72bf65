/**
 * SMS segment counting as Twilio does it. GSM-7 unless any character is outside the GSM-7 alphabet, in
 * which case the whole message is UCS-2 (UTF-16 code units). One segment holds 160 septets or 70 units;
 * a multipart message holds 153 septets or 67 units per part (the rest is the concatenation header), and
 * an escape pair or a surrogate pair is never split across parts.
 */
const GSM7_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/** Extension table: each costs two septets (escape + code). */
const GSM7_EXTENDED = "\f^{}\\[]~|€";
const BASIC = new Set(GSM7_BASIC);
const EXTENDED = new Set(GSM7_EXTENDED);

/** Look-alike characters Twilio's Smart Encoding replaces with GSM-7 ones before counting. */
const SMART_ENCODING: Record<string, string> = {
  "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
  "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
  "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
  "\u2026": "...", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200b": "",
  "\u2022": "-", "\u02c6": "^", "\u02dc": "~",
};

export interface SegmentCount {
  encoding: "GSM-7" | "UCS-2";
  segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
}

export function countSegments(body: string, opts: { smartEncoded?: boolean } = {}): SegmentCount {
  const text = opts.smartEncoded ? [...body].map((c) => SMART_ENCODING[c] ?? c).join("") : body;
  const chars = [...text]; // code points, so a surrogate pair stays whole
  const gsm = chars.every((c) => BASIC.has(c) || EXTENDED.has(c));
  const widths = chars.map((c) => (gsm ? (EXTENDED.has(c) ? 2 : 1) : c.length));
  const units = widths.reduce((a, b) => a + b, 0);
  const [single, part] = gsm ? [160, 153] : [70, 67];
  if (units <= single) return { encoding: gsm ? "GSM-7" : "UCS-2", segments: 1, units };
  let segments = 1;
  let used = 0;
  for (const width of widths) {
    if (used + width > part) {
      segments += 1;
      used = 0;
    }
    used += width;
  }
  return { encoding: gsm ? "GSM-7" : "UCS-2", segments, units };
}
