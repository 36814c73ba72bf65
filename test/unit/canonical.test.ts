// The canonical target and the body readers (docs/pricing.md#one-canonical-target, docs/pricing.md#bodies), pure: every
// case either normalises to one canonical string or is refused with a 4xx naming why. The same cases go through real
// sockets into local mode in test/integration/closed-world.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeybrakeError } from "../../lambda/core/errors";
import { restTarget } from "../../lambda/http/raw-target";
import { MAX_TARGET_BYTES, parseTarget } from "../../lambda/proxy/request";
import { readBody } from "../../lambda/vendors/body";
import { FORM_LIMITS, readForm } from "../../lambda/vendors/form";
import { JSON_LIMITS, readJson } from "../../lambda/vendors/json";

function refusal(fn: () => unknown): KeybrakeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof KeybrakeError) return error;
    throw error;
  }
  assert.fail("expected a refusal");
}

const target = (raw: string, method = "POST") => parseTarget({ method, target: raw });

describe("the canonical request target", () => {
  const normalised: Array<[string, string, string, string?]> = [
    ["plain", "/v1/payment_intents", "/v1/payment_intents"],
    ["an encoded unreserved letter", "/v1/%70ayment_intents", "/v1/payment_intents"],
    ["encoded unreserved characters in any hex case", "/v1/pay%6Dent%5fintents/pi%2D1%7e", "/v1/payment_intents/pi-1~"],
    ["the route prefix, itself encoded", "/%73tripe/v1/charges", "/v1/charges"],
    ["an encoded @ and +, which mean the same decoded", "/contacts/a%2Bb%40example.com", "/contacts/a+b@example.com"],
    ["an empty query", "/v1/charges?", "/v1/charges", ""],
    [
      "a query, kept byte for byte",
      "/v1/charges?expand[0]=x&limit=3&a=%3B",
      "/v1/charges",
      "expand[0]=x&limit=3&a=%3B",
    ],
  ];
  for (const [what, raw, path, query = undefined] of normalised) {
    it(`normalises ${what}`, () => {
      const parsed = target(raw);
      assert.equal(parsed.path, path);
      if (query !== undefined) assert.equal(parsed.query, query);
      assert.equal(parsed.segments.join("/"), path.slice(1));
    });
  }

  it("keeps the route prefix out of the canonical path and says which vendor it named", () => {
    const parsed = target("/twilio/2010-04-01/Accounts/AC1/Messages.json");
    assert.equal(parsed.routeVendor, "twilio");
    assert.equal(parsed.path, "/2010-04-01/Accounts/AC1/Messages.json");
  });

  it("upper-cases the method once (the method forwarded is the one matched)", () => {
    assert.equal(target("/emails", "patch").method, "PATCH");
  });

  const refused: Array<[string, string, RegExp]> = [
    ["a raw dot-dot", "/v1/../v1/payment_intents", /\. or \.\./],
    ["an encoded dot-dot, mixed case", "/v1/%2e%2E/payment_intents", /\. or \.\./],
    ["a half-encoded dot segment", "/v1/.%2e/payment_intents", /\. or \.\./],
    ["a single dot", "/v1/./payment_intents", /\. or \.\./],
    ["an encoded slash", "/v1/customers/cus_1%2F..%2Fx", /encoded slashes/],
    ["an encoded question mark", "/v1/payment_intents%3Famount=1", /encoded \?/],
    ["an encoded hash", "/v1/payment_intents%23x", /encoded #/],
    ["a raw ; path parameter", "/v1/payment_intents;jsessionid=1", /; \(path parameters\)/],
    ["an encoded ; path parameter", "/v1/payment_intents%3Bx", /; \(path parameters\)/],
    ["a double encoding", "/v1/%2570ayment_intents", /double encoding/],
    ["a raw backslash", "/v1\\payment_intents", /backslashes/],
    ["an encoded backslash", "/v1/x%5Cy", /backslashes/],
    ["a fragment", "/v1/payment_intents#frag", /fragment/],
    ["a fragment in the query", "/v1/payment_intents?a=1#frag", /fragment/],
    ["a trailing slash", "/v1/payment_intents/", /empty segments or end with \//],
    ["an empty segment", "/v1//payment_intents", /empty segments/],
    ["a leading double slash", "//v1/payment_intents", /empty segments/],
    ["an absolute-form target", "http://api.stripe.com/v1/payment_intents", /origin-form/],
    ["an asterisk-form target", "*", /origin-form/],
    ["a malformed escape", "/v1/%zz", /malformed percent-encoding/],
    ["a truncated escape", "/v1/x%4", /malformed percent-encoding/],
    ["non-ASCII", "/v1/caf\u00e9", /non-ASCII/],
    ["encoded non-ASCII", "/v1/caf%C3%A9", /non-ASCII/],
    ["a control character", "/v1/a%00b", /control characters/],
    ["a space", "/v1/a b", /" "/],
    ["a brace", "/v1/a{b}", /"\{"/],
    ["a raw ; in the query", "/v1/charges?a=1;amount=2", /; \(older parsers/],
    ["a raw quote in the query", "/v1/charges?a='1'", /raw "'"/],
    ["a malformed escape in the query", "/v1/charges?a=%g1", /malformed percent-encoding/],
    ["non-ASCII in the query", "/v1/charges?a=\u00e9", /non-ASCII/],
    ["no vendor path", "/stripe/", /no vendor path/],
    ["the root", "/", /no vendor path/],
  ];
  for (const [what, raw, message] of refused) {
    it(`refuses ${what} with 400`, () => {
      const error = refusal(() => target(raw));
      assert.equal(error.status, 400);
      assert.match(error.message, message);
    });
  }

  it("refuses an over-long target with 400 naming the limit", () => {
    const error = refusal(() => target(`/v1/customers/${"c".repeat(MAX_TARGET_BYTES)}`));
    assert.equal(error.status, 400);
    assert.equal(error.details.limit_bytes, MAX_TARGET_BYTES);
    assert.equal(target(`/v1/customers/${"c".repeat(MAX_TARGET_BYTES - 20)}`).segments.length, 3);
  });

  it("is a fixed point: the canonical target parses to itself", () => {
    for (const raw of ["/v1/%70ayment_intents", "/resend/contacts/a%2Bb%40x.io", "/v1/x?expand[]=a&b=%C3%A9"]) {
      const once = target(raw);
      const forwarded = `${once.path}${once.query ? `?${once.query}` : ""}`;
      const twice = target(forwarded);
      assert.deepEqual([twice.path, twice.query], [once.path, once.query]);
      const url = new URL(`https://api.example.com${forwarded}`);
      assert.equal(`${url.pathname}${url.search}`, forwarded, "a URL parser leaves it as it is");
    }
  });

  it("rebuilds a REST (1.0) event's decoded query as one the check accepts; a lone surrogate is refused, not thrown", () => {
    const rest = (values: string[]) =>
      restTarget({
        httpMethod: "GET",
        path: "/v1/payment_intents/search",
        resource: "/{proxy+}",
        pathParameters: { proxy: "v1/payment_intents/search" },
        multiValueQueryStringParameters: { query: values },
      });
    const quoted = target(rest(["status:'succeeded' AND amount>1000"]), "GET");
    assert.equal(quoted.query, "query=status%3A%27succeeded%27%20AND%20amount%3E1000");
    assert.equal(refusal(() => target(rest(["a\ud800"]), "GET")).status, 400);
  });
});

describe("the form reader", () => {
  it("reads names as Rack does: decoded names, + as space, the top-level name before the first [", () => {
    const form = readForm("%61mount=100&description=a+b%20c&items[0][price]=p_1&expand[]=x&=skipped&&", "body");
    assert.deepEqual(
      form.entries.map((e) => [e.name, e.base, e.value]),
      [
        ["amount", "amount", "100"],
        ["description", "description", "a b c"],
        ["items[0][price]", "items", "p_1"],
        ["expand[]", "expand", "x"],
      ],
    );
    assert.equal(form.single("amount"), "100");
  });

  it("sees an encoded name as the name it decodes to, so a duplicate cannot hide", () => {
    const form = readForm("amount=100&%61mount=900000", "body");
    assert.match(refusal(() => form.single("amount")).message, /exactly once/);
  });

  it("refuses array and nested forms of a pricing field", () => {
    for (const body of ["amount[]=1", "amount[0]=1", "amount[x]=1&amount=1"]) {
      assert.match(refusal(() => readForm(body, "body").single("amount")).message, /exactly once/, body);
    }
  });

  it("matches names in any case only when asked (Twilio), and then refuses case-variant duplicates", () => {
    const form = readForm("Body=short&body=long", "body");
    assert.equal(form.single("Body"), "short");
    assert.match(refusal(() => form.single("Body", { ignoreCase: true })).message, /exactly once/);
    assert.deepEqual(readForm("MediaUrl=a&mediaurl=b", "body").all("MediaUrl", { ignoreCase: true }), ["a", "b"]);
  });

  const refused: Array<[string, string, RegExp]> = [
    ["a raw ;", "currency=usd;amount=999&amount=1", /raw ;/],
    ["a name with a stray ]", "amount]=999", /misplaced brackets/],
    ["a name starting with [", "[amount]=999", /misplaced brackets/],
    ["text after a bracket group", "a[b]c=1", /misplaced brackets/],
    ["an unclosed bracket", "a[b=1", /misplaced brackets/],
    ["nested brackets", "a[[b]]=1", /misplaced brackets/],
    ["a _method override", "_method=DELETE", /_method/],
    ["a nested _method", "_method[x]=DELETE", /_method/],
    ["a malformed escape", "amount=%zz", /malformed percent-encoding/],
    ["an escape that is not UTF-8", "amount=%FF", /not UTF-8/],
  ];
  for (const [what, body, message] of refused) {
    it(`refuses ${what}`, () => assert.match(refusal(() => readForm(body, "body")).message, message));
  }

  it("bounds the parameter count (413), the name length and the nesting depth (400), naming the limit", () => {
    const many = Array.from({ length: FORM_LIMITS.parameters + 1 }, (_, i) => `p${i}=1`).join("&");
    const tooMany = refusal(() => readForm(many, "body"));
    assert.deepEqual([tooMany.status, tooMany.code, tooMany.details.limit], [413, "payload_too_large", "parameters"]);
    assert.equal(readForm(many.slice(0, many.lastIndexOf("&")), "body").entries.length, FORM_LIMITS.parameters);

    const long = refusal(() => readForm(`${"k".repeat(FORM_LIMITS.nameBytes + 1)}=1`, "body"));
    assert.deepEqual([long.status, long.details.limit], [400, "nameBytes"]);
    const longEncoded = refusal(() => readForm(`${"%6B".repeat(FORM_LIMITS.nameBytes + 1)}=1`, "body"));
    assert.deepEqual([longEncoded.status, longEncoded.details.limit], [400, "nameBytes"]);

    const deep = refusal(() => readForm(`a${"[b]".repeat(FORM_LIMITS.depth + 1)}=1`, "body"));
    assert.deepEqual([deep.status, deep.details.limit], [400, "depth"]);
    assert.equal(readForm(`a${"[b]".repeat(FORM_LIMITS.depth)}=1`, "body").entries.length, 1);
  });

  it("answers a multi-megabyte form with a refusal, not by reading all of it", () => {
    const huge = "a=1&".repeat(1_300_000); // 5.2 MB
    assert.equal(refusal(() => readForm(huge, "body")).status, 413);
  });
});

describe("the JSON reader", () => {
  it("reads what JSON.parse reads, with null-prototype objects", () => {
    const samples = [
      '{"from":"a@x.io","to":["b@x.io"],"n":-1.5e+3,"ok":true,"no":false,"nil":null,"s":"\\u00e9\\n\\"\\/"}',
      "[]",
      "{}",
      ' [ 1 , [ 2 , { "a" : [ ] } ] ] ',
      '"\\ud83d\\ude00"',
      "0",
    ];
    for (const text of samples) assert.deepEqual(JSON.stringify(readJson(text)), JSON.stringify(JSON.parse(text)));
    const value = readJson('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), null);
    assert.deepEqual(Object.keys(value), ["__proto__"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  const refused: Array<[string, string, RegExp]> = [
    ["a duplicate key", '{"to":"a@x.io","to":"b@x.io"}', /key "to" twice/],
    ["a duplicate key spelled with escapes", '{"to":"a@x.io","t\\u006f":["b@x.io","c@x.io"]}', /key "to" twice/],
    ["a duplicate key in a nested object", '[{"a":{"k":1,"\\u006b":2}}]', /key "k" twice/],
    ["a lone high surrogate", '{"\\ud800":1}', /lone surrogate/],
    ["a lone low surrogate", '"\\udc00"', /lone surrogate/],
    ["a byte-order mark", '\ufeff{"a":1}', /unexpected character/],
    ["a trailing comma", '{"a":1,}', /not a string/],
    ["trailing data", '{"a":1} {"a":2}', /data after the value/],
    ["a comment", '{"a":1 /* x */}', /missing ,/],
    ["a raw control character in a string", '"a\u0001b"', /control character/],
    ["a bad escape", '"\\x41"', /unknown escape/],
    ["a leading zero", "01", /data after the value/],
    ["an unterminated string", '{"a":"b', /unterminated/],
    ["nothing", "", /unexpected end/],
    ["single quotes", "{'a':1}", /not a string/],
  ];
  for (const [what, text, message] of refused) {
    it(`refuses ${what}`, () => {
      const error = refusal(() => readJson(text));
      assert.equal(error.status, 400);
      assert.match(error.message, message);
    });
  }

  it("bounds nesting with 400 naming the limit, however deep the input (no stack overflow)", () => {
    const deepest = `${"[".repeat(JSON_LIMITS.depth)}${"]".repeat(JSON_LIMITS.depth)}`;
    assert.equal(JSON.stringify(readJson(deepest)), deepest);
    for (const text of ["[".repeat(JSON_LIMITS.depth + 1), "[".repeat(2_000_000), '{"a":'.repeat(1_000_000)]) {
      const error = refusal(() => readJson(text));
      assert.deepEqual([error.status, error.details.limit], [400, "json_depth"]);
    }
  });
});

describe("the body reader", () => {
  const request = (headers: Record<string, string>, body: string | Uint8Array, method = "POST") => ({
    method,
    path: "/x",
    segments: ["x"],
    query: "",
    headers: new Headers(headers),
    body: typeof body === "string" ? new TextEncoder().encode(body) : body,
  });
  const FORM = { "content-type": "application/x-www-form-urlencoded" };
  const JSON_TYPE = { "content-type": "application/json" };

  it("reads a form or JSON body by its media type; UTF-8 may be named", () => {
    const form = readBody(
      request({ "content-type": "application/x-www-form-urlencoded; charset=UTF-8" }, "a=1"),
      "form",
    );
    assert.equal(form.kind === "form" && form.form.single("a"), "1");
    const json = readBody(request({ "content-type": 'application/json; charset="utf-8"' }, '{"a":1}'), "json");
    assert.deepEqual(json.kind === "json" && { ...(json.value as object) }, { a: 1 });
    assert.equal(readBody(request({ ...FORM, "content-encoding": "identity" }, "a=1"), undefined).kind, "form");
    assert.equal(readBody(request({}, ""), undefined).kind, "none");
    const empty = readBody(request({}, ""), "form");
    assert.equal(empty.kind === "form" && empty.form.entries.length, 0);
  });

  const refused: Array<[string, Record<string, string>, string | Uint8Array, "form" | "json" | undefined, RegExp]> = [
    ["a compressed body", { ...FORM, "content-encoding": "gzip" }, "a=1", "form", /Content-Encoding "gzip"/],
    [
      "a compressed body on a free call",
      { ...JSON_TYPE, "content-encoding": "br" },
      "{}",
      undefined,
      /Content-Encoding/,
    ],
    ["a Latin-1 form", { "content-type": `${FORM["content-type"]}; charset=iso-8859-1` }, "a=1", "form", /charset/],
    [
      "a charset named twice",
      { "content-type": `${FORM["content-type"]}; charset=utf-8; charset=latin1` },
      "a=1",
      "form",
      /twice/,
    ],
    [
      "a media type followed by a no-break space (a vendor does not read it as a form)",
      { "content-type": `${FORM["content-type"]}\u00a0` },
      "a=1",
      "form",
      /Content-Type .*outside/,
    ],
    [
      "a charset behind a no-break space",
      { "content-type": `${FORM["content-type"]};\u00a0charset=latin1` },
      "a=1",
      undefined,
      /Content-Type .*outside/,
    ],
    [
      "identity followed by a no-break space",
      { ...FORM, "content-encoding": "identity\u00a0" },
      "a=1",
      "form",
      /Content-Encoding/,
    ],
    ["bytes that are not UTF-8", FORM, new Uint8Array([0x61, 0x3d, 0xff]), "form", /not valid UTF-8/],
    ["JSON where a form is priced", JSON_TYPE, '{"amount":1}', "form", /must be sent as application\/x-www-form/],
    ["a form where JSON is priced", FORM, "to=a", "json", /must be sent as application\/json/],
    ["multipart on a free call", { "content-type": "multipart/form-data; boundary=x" }, "--x--", undefined, /only/],
    ["a body without a type", {}, "a=1", undefined, /without Content-Type/],
    ["an empty body where JSON is priced", JSON_TYPE, "", "json", /empty/],
  ];
  for (const [what, headers, body, expected, message] of refused) {
    it(`refuses ${what} with 400`, () => {
      const error = refusal(() => readBody(request(headers, body), expected));
      assert.equal(error.status, 400);
      assert.match(error.message, message);
    });
  }

  it("refuses a body on a read", () => {
    assert.match(
      refusal(() => readBody(request(FORM, "a=1", "GET"), undefined)).message,
      /GET request carries no body/,
    );
  });
});
