// How many segments Twilio bills an SMS body, pure: the counts Twilio's own calculator gives, the part boundaries
// (graphemes kept whole), GSM-7 versus UCS-2 encoding and Smart Encoding, since the reservation is priced per segment.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countSegments, type SegmentCount } from "../../lambda/vendors/twilio-segments";

const gsm = (segments: number, units: number): SegmentCount => ({ encoding: "GSM-7", segments, units });
const ucs = (segments: number, units: number): SegmentCount => ({ encoding: "UCS-2", segments, units });
const family = "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}"; // one grapheme, 8 UTF-16 units

// Expected counts are those of Twilio's own segment calculator (TwilioDevEd/message-segment-calculator).
describe("countSegments: the counts Twilio's segment calculator gives", () => {
  const rows: Array<[string, string, boolean, SegmentCount]> = [
    ["160 × a", "a".repeat(160), false, gsm(1, 160)],
    ["161 × a", "a".repeat(161), false, gsm(2, 161)],
    ["306 × a", "a".repeat(306), false, gsm(2, 306)],
    ["307 × a", "a".repeat(307), false, gsm(3, 307)],
    ["80 × €", "€".repeat(80), false, gsm(1, 160)],
    ["81 × €", "€".repeat(81), false, gsm(2, 162)],
    ["70 × ç", "ç".repeat(70), false, ucs(1, 70)],
    ["71 × ç", "ç".repeat(71), false, ucs(2, 71)],
    ["35 × 😀", "😀".repeat(35), false, ucs(1, 70)],
    ["36 × 😀", "😀".repeat(36), false, ucs(2, 72)],
    ["“quoted” without Smart Encoding", "“quoted”", false, ucs(1, 8)],
    ["“quoted” with Smart Encoding", "“quoted”", true, gsm(1, 8)],
    ["1600 × a", "a".repeat(1600), false, gsm(11, 1600)],
  ];
  for (const [name, body, smartEncoded, expected] of rows) {
    it(name, () => assert.deepEqual(countSegments(body, { smartEncoded }), expected));
  }
});

describe("countSegments: boundaries", () => {
  const rows: Array<[string, string, SegmentCount]> = [
    ["empty body", "", gsm(1, 0)],
    ["153 × a + 153 × a", "a".repeat(306), gsm(2, 306)],
    ["152 × a + € fits one segment", `${"a".repeat(152)}€`, gsm(1, 154)],
    // 152 + 2 > 153: the escape pair opens part 2, which then holds € + 151 × a, and part 3 the last a.
    ["€ at the end of part 1 moves to part 2", `${"a".repeat(152)}€${"a".repeat(152)}`, gsm(3, 306)],
    ["€ just fitting part 1", `${"a".repeat(151)}€${"a".repeat(153)}`, gsm(2, 306)],
    ["159 × a + € is one septet too many", `${"a".repeat(159)}€`, gsm(2, 161)],
    ["33 × 😀 + 😀 + 67 × ç", `${"😀".repeat(33)}😀${"ç".repeat(67)}`, ucs(3, 135)],
    // 66 + 2 > 67: the surrogate pair opens part 2 (😀 + 65 × ç), and part 3 holds the last ç.
    ["😀 at the end of part 1 moves to part 2", `${"ç".repeat(66)}😀${"ç".repeat(66)}`, ucs(3, 134)],
    ["😀 just fitting part 1", `${"ç".repeat(65)}😀${"ç".repeat(67)}`, ucs(2, 134)],
    // Splitting between code points would give 2 parts; Twilio's calculator keeps the grapheme whole.
    ["a ZWJ sequence at the end of part 1 moves whole", `${"ç".repeat(62)}${family}${"ç".repeat(64)}`, ucs(3, 134)],
    // 201 units in one grapheme: it cannot stay whole, so it takes 67 + 67 + 67.
    ["a grapheme longer than a part", `e${"\u0301".repeat(200)}`, ucs(3, 201)],
    ["69 × ç + 😀 is one unit too many", `${"ç".repeat(69)}😀`, ucs(2, 71)],
  ];
  for (const [name, body, expected] of rows) {
    it(name, () => assert.deepEqual(countSegments(body), expected));
  }
});

describe("countSegments: encoding", () => {
  const rows: Array<[string, string, SegmentCount]> = [
    ["LF and CR are GSM-7", "Hi\r\nthere\n", gsm(1, 10)],
    ["form feed is an extension character", "\f", gsm(1, 2)],
    ["the ten extension characters cost two septets each", "\f^{}\\[]~|€", gsm(1, 20)],
    ["Ç is GSM-7", "Ç", gsm(1, 1)],
    ["ç is not", "ç", ucs(1, 1)],
    ["a literal ESC is not a character", "\u001b", ucs(1, 1)],
    ["backtick is not GSM-7", "`x`", ucs(1, 3)],
    ["tab is not GSM-7", "a\tb", ucs(1, 3)],
    ["one non-GSM character switches the whole body", `${"a".repeat(100)}ç`, ucs(2, 101)],
    ["extension characters are one unit in UCS-2", "€[ç", ucs(1, 3)],
    ["a lone surrogate is one unit", "\ud83d", ucs(1, 1)],
  ];
  for (const [name, body, expected] of rows) {
    it(name, () => assert.deepEqual(countSegments(body), expected));
  }

  it("classifies every BMP character as the 3GPP TS 23.038 default alphabet does", () => {
    // The table written as code points, apart from the string in the module.
    const asciiBasic = [0x0a, 0x0d];
    for (let c = 0x20; c <= 0x7e; c++) if (!"`[\\]^{|}~".includes(String.fromCharCode(c))) asciiBasic.push(c);
    const otherBasic = [
      0xa3, 0xa5, 0xe8, 0xe9, 0xf9, 0xec, 0xf2, 0xc7, 0xd8, 0xf8, 0xc5, 0xe5, 0x394, 0x3a6, 0x393, 0x39b, 0x3a9, 0x3a0,
      0x3a8, 0x3a3, 0x398, 0x39e, 0xc6, 0xe6, 0xdf, 0xc9, 0xa4, 0xa1, 0xc4, 0xd6, 0xd1, 0xdc, 0xa7, 0xbf, 0xe4, 0xf6,
      0xf1, 0xfc, 0xe0,
    ];
    const extension = [0x0c, 0x5e, 0x7b, 0x7d, 0x5c, 0x5b, 0x5d, 0x7e, 0x7c, 0x20ac];
    assert.equal(asciiBasic.length + otherBasic.length, 127); // 128 codes, one of them the escape

    const seen = { one: [] as number[], two: [] as number[] };
    for (let c = 0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const count = countSegments(String.fromCharCode(c));
      if (count.encoding === "UCS-2") assert.deepEqual(count, ucs(1, 1));
      else (count.units === 1 ? seen.one : seen.two).push(c);
    }
    assert.deepEqual(
      seen.one,
      [...asciiBasic, ...otherBasic].sort((a, b) => a - b),
    );
    assert.deepEqual(
      seen.two,
      extension.sort((a, b) => a - b),
    );
  });
});

describe("countSegments: Smart Encoding", () => {
  const rows: Array<[string, string, SegmentCount]> = [
    ["curly quotes", "‘it’s’ “so”", gsm(1, 11)],
    ["en and em dashes", "a–b—c", gsm(1, 5)],
    ["ellipsis becomes three dots", "wait…", gsm(1, 7)],
    // Counted as two spaces, as Twilio's calculator does; one more septet than a single space.
    ["no-break space", "a\u00a0b", gsm(1, 4)],
    ["zero-width space is dropped", "a\u200bb", gsm(1, 2)],
    ["backticks from Markdown", "`npm test`", gsm(1, 10)],
    ["guillemets and bullets", "«•»", gsm(1, 3)],
    ["a GSM-7 body is unchanged", "€ [ok] ~ Ç", gsm(1, 14)],
    ["71 × curly apostrophe fits one GSM-7 segment", "’".repeat(71), gsm(1, 71)],
    // With a character Smart Encoding cannot replace, Twilio sends the body as written, ellipsis and all.
    ["an emoji keeps the original body", "wait…😀", ucs(1, 7)],
    ["ç keeps the original body", "“ç”", ucs(1, 3)],
  ];
  for (const [name, body, expected] of rows) {
    it(name, () => assert.deepEqual(countSegments(body, { smartEncoded: true }), expected));
  }

  it("applies only when asked", () => {
    assert.deepEqual(countSegments("’".repeat(71)), ucs(2, 71));
    assert.deepEqual(countSegments("’".repeat(71), { smartEncoded: false }), ucs(2, 71));
  });
});
