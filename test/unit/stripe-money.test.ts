// Stripe amounts to exact micro-USD, pure: each currency's decimals, the fx rates a deployment configures, the
// minor-unit amounts Stripe reads (refused when not a plain whole number) and their conversion, with no float anywhere.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currencyExponent, minorUnitsToMicroUsd, parseFxRates, UnpricedCurrencyError } from "../../lambda/core/fx";
import { InvalidAmountError, parseMinorAmount } from "../../lambda/vendors/stripe-money";

describe("currencyExponent", () => {
  const cases: Array<[string, number]> = [
    ...["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf", "xof", "xpf"].map(
      (c): [string, number] => [c, 0],
    ),
    // Written with two decimals that must be 00, so 5 ISK is `500`.
    ["isk", 2],
    ["ugx", 2],
    ...["bhd", "jod", "kwd", "omr", "tnd"].map((c): [string, number] => [c, 3]),
    ["usd", 2],
    ["eur", 2],
    ["huf", 2],
    ["twd", 2],
    ["JPY", 0],
    ["Kwd", 3],
  ];
  for (const [currency, exponent] of cases) {
    it(`${currency} has ${exponent} decimals`, () => assert.equal(currencyExponent(currency), exponent));
  }
});

describe("parseFxRates", () => {
  it("always has usd at exactly 1", () => {
    assert.deepEqual(parseFxRates({}).get("usd"), { numerator: 1n, scale: 0 });
    assert.deepEqual(parseFxRates({ usd: "1.000" }).get("usd"), { numerator: 1000n, scale: 3 });
  });

  const good: Array<[string, string | number, bigint, number]> = [
    ["eur", "1.08", 108n, 2],
    ["eur", 1.08, 108n, 2],
    ["jpy", "0.0067", 67n, 4],
    ["jpy", 0.0067, 67n, 4],
    ["kwd", "3.25", 325n, 2],
    ["gbp", 1, 1n, 0],
    ["vnd", "0.000039370078", 39370078n, 12],
    ["xau", "123456789", 123456789n, 0],
    ["chf", "1.100", 1100n, 3],
  ];
  for (const [currency, value, numerator, scale] of good) {
    it(`reads ${currency} ${JSON.stringify(value)} exactly`, () => {
      assert.deepEqual(parseFxRates({ [currency]: value }).get(currency), { numerator, scale });
    });
  }

  const bad: Array<[string, unknown]> = [
    ["eur", "0"],
    ["eur", 0],
    ["eur", "-1.08"],
    ["eur", -1.08],
    ["eur", "1.0000000000001"], // 13 decimals
    ["eur", "1e3"],
    ["eur", 1e-7], // String(1e-7) is "1e-7"
    ["eur", " 1.08"],
    ["eur", "1,08"],
    ["eur", "1."],
    ["eur", ".5"],
    ["eur", ""],
    ["eur", Number.NaN],
    ["eur", Number.POSITIVE_INFINITY],
    ["eur", "1234567890"], // more USD per unit than any currency is worth
    ["eur", 0.1 + 0.2], // 0.30000000000000004: a float sum, not a written rate
    ["eur", 1.0000000000001], // 14 significant digits read back exactly, but 13 decimals are too many
    ["eur", 123456789.12345679], // 17 significant digits: a double cannot promise them
    ["eur", ["1.08"]], // config is JSON: String(["1.08"]) would pass a text check
    ["eur", null],
    ["eur", true],
    ["EUR", "1.08"],
    ["eu", "1.08"],
    ["euro", "1.08"],
    ["e1r", "1.08"],
    ["usd", "1.08"],
  ];
  for (const [currency, value] of bad) {
    it(`refuses ${currency} ${typeof value === "number" ? value : JSON.stringify(value)}`, () => {
      assert.throws(
        () => parseFxRates({ [currency]: value } as Record<string, string | number>),
        (error: unknown) => error instanceof Error && error.message.includes(currency),
      );
    });
  }

  it("names the bad value", () => {
    assert.throws(() => parseFxRates({ eur: "1.08", gbp: "-2" }), /fx_usd\.gbp .*"-2"/);
    assert.throws(() => parseFxRates({ eur: Number.NaN }), /got NaN/);
  });
});

describe("parseMinorAmount", () => {
  const good: Array<[string, bigint]> = [
    ["0", 0n],
    ["2999", 2999n],
    ["007", 7n],
    ["999999999999999", 999_999_999_999_999n],
  ];
  for (const [raw, value] of good) {
    it(`reads ${JSON.stringify(raw)}`, () => assert.equal(parseMinorAmount(raw), value));
  }

  const bad = [
    "",
    "-1",
    "+1",
    "1.5",
    "1.0",
    "1e3",
    " 1",
    "1 ",
    "0x10",
    "1_000",
    "1,000",
    "١٢",
    "１２",
    "NaN",
    "1234567890123456",
  ];
  for (const raw of bad) {
    it(`refuses ${JSON.stringify(raw)}`, () => {
      assert.throws(
        () => parseMinorAmount(raw),
        (error: unknown) => error instanceof InvalidAmountError && error.raw === raw,
      );
    });
  }
});

describe("minorUnitsToMicroUsd", () => {
  const rates = parseFxRates({
    eur: "1.08",
    gbp: "1.2712345678",
    jpy: "0.0067",
    kwd: "3.25",
    isk: "0.0072",
    ugx: "0.00027",
    chf: 1.13,
    vnd: "0.000039370078",
  });

  const cases: Array<[string, bigint, string, bigint]> = [
    ["usd 29.99", 2999n, "usd", 29_990_000n],
    ["usd 0.01", 1n, "usd", 10_000n],
    ["usd 0", 0n, "usd", 0n],
    ["uppercase usd", 2999n, "USD", 29_990_000n],
    ["jpy 500 at 0.0067", 500n, "jpy", 3_350_000n],
    ["jpy 1 at 0.0067", 1n, "jpy", 6_700n],
    ["kwd 5.120 at 3.25", 5120n, "kwd", 16_640_000n],
    ["kwd 0.001 at 3.25", 1n, "kwd", 3_250n],
    ["eur 10.00 at 1.08", 1000n, "eur", 10_800_000n],
    ["eur 0.01 at 1.08", 1n, "eur", 10_800n],
    ["mixed-case eur", 1000n, "Eur", 10_800_000n],
    ["chf from a number", 100n, "chf", 1_130_000n],
    ["isk 5 written as 500", 500n, "isk", 36_000n],
    ["ugx 1000 written as 100000", 100_000n, "ugx", 270_000n],
    // 0.01 GBP = 0.012712345678 USD = 12712.345678 micro: rounded up, never down.
    ["gbp 0.01, rounded up", 1n, "gbp", 12_713n],
    ["gbp 1000.00, rounded up", 100_000n, "gbp", 1_271_234_568n],
    // 1 VND = 39.370078 micro exactly at 6 decimals of the 12.
    ["vnd 1", 1n, "vnd", 40n],
    ["vnd 1000000", 1_000_000n, "vnd", 39_370_078n],
    ["largest amount, usd", 999_999_999_999_999n, "usd", 9_999_999_999_999_990_000n],
  ];
  for (const [name, amount, currency, micro] of cases) {
    it(name, () => assert.equal(minorUnitsToMicroUsd(amount, currency, rates), micro));
  }

  it("rounds up to the smallest micro-USD count that covers the exact amount", () => {
    // A deterministic sweep: for every amount, result - 1 < exact <= result, checked in integers.
    const gbp = rates.get("gbp")!;
    for (let minor = 0n; minor < 5000n; minor += 7n) {
      const micro = minorUnitsToMicroUsd(minor, "gbp", rates);
      const exact = minor * gbp.numerator * 1_000_000n; // micro * 10^(2 + scale)
      const denominator = 10n ** BigInt(2 + gbp.scale);
      assert.ok(micro * denominator >= exact && (micro - 1n) * denominator < exact, `gbp ${minor}`);
    }
  });

  it("throws UnpricedCurrencyError for a currency without a rate", () => {
    for (const currency of ["sek", "SEK", "", "usd ", "u", "\u212awd"]) {
      assert.throws(
        () => minorUnitsToMicroUsd(100n, currency, rates),
        (error: unknown) => error instanceof UnpricedCurrencyError && error.currency === currency.replace("SEK", "sek"),
        JSON.stringify(currency),
      );
    }
  });

  it("refuses a negative amount", () => {
    assert.throws(() => minorUnitsToMicroUsd(-1n, "usd", rates), RangeError);
  });
});
