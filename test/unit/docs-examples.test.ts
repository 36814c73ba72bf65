// Every example in README.md and docs/ is either run or checked by a test (`<!-- tested: name -->`, found by that name)
// or says why it cannot be (`<!-- untested: … -->`); this file holds that ledger and the checks that need no process:
// the pricing example and defaults, the Logs Insights queries, and the parsing the other tests rely on.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { checkStackConfigKeys } from "../../deploy/config";
import { labelMatch } from "../../lambda/audit/filter";
import { recordsQuery, totalsQuery } from "../../lambda/audit/queries";
import { decimalToMicro } from "../../lambda/core/money";
import { PRICING_FIELDS, parsePricing } from "../../lambda/core/pricing";
import { consoleSteps, fencedBlocks, ROOT, shapeMatches, shellSteps, snippet } from "../support/markdown";

/** Pages generated from the code (another change writes docs/pricing-routes.md): they cannot drift from it. */
const GENERATED = new Set(["docs/pricing-routes.md"]);
const PAGES = ["README.md", ...readdirSync(join(ROOT, "docs")).map((f) => `docs/${f}`)].filter(
  (f) => f.endsWith(".md") && !GENERATED.has(f),
);

function testSources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testSources(path);
    return /\.(ts|cjs)$/.test(name) ? [readFileSync(path, "utf8")] : [];
  });
}

describe("every example in the docs is tested, or says why not", () => {
  const blocks = PAGES.flatMap(fencedBlocks);
  it("finds the examples", () => assert.ok(blocks.length >= 25, `${blocks.length} fenced blocks`));

  it("every fenced block is marked tested or untested", () => {
    const unmarked = blocks.filter((b) => !b.tested && !b.untested).map((b) => `${b.file}:${b.line}`);
    assert.deepEqual(unmarked, [], "mark each with <!-- tested: name --> or <!-- untested: why -->");
  });

  it("an untested block says why", () => {
    for (const b of blocks.filter((b) => b.untested !== undefined))
      assert.ok(b.untested!.length >= 10, `${b.file}:${b.line}: say why it is not tested`);
  });

  it("every tested name is unique on its page and used by a test", () => {
    const sources = testSources(join(ROOT, "test")).join("\n");
    for (const b of blocks.filter((b) => b.tested)) {
      assert.equal(
        blocks.filter((o) => o.file === b.file && o.tested === b.tested).length,
        1,
        `${b.file}: ${b.tested}`,
      );
      assert.ok(sources.includes(`"${b.tested}"`), `${b.file}:${b.line}: no test uses "${b.tested}"`);
    }
  });
});

describe("the docs' examples that need no process", () => {
  it("the pricing example is valid pricing, and the table's defaults are the defaults", () => {
    const example = JSON.parse(snippet("docs/pricing.md", "pricing-overrides")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(example).sort(), [...PRICING_FIELDS].sort(), "the example shows every key");
    const parsed = parsePricing(example);
    assert.equal(parsed.fxRates.size, 3, "usd, eur, jpy");
    const defaults = parsePricing({});
    const page = readFileSync(join(ROOT, "docs", "pricing.md"), "utf8");
    const micro = {
      twilio_sms_segment_usd: defaults.twilioSegmentMicro,
      twilio_sms_segment_intl_usd: defaults.twilioIntlSegmentMicro,
      twilio_mms_usd: defaults.twilioMmsMicro,
      resend_email_usd: defaults.resendEmailMicro,
    };
    for (const [key, value] of Object.entries(micro)) {
      const row = new RegExp(`^\\| \`${key}\` \\| \`([0-9.]+)\` \\|`, "m").exec(page);
      assert.ok(row, `the defaults table has ${key}`);
      assert.equal(decimalToMicro(row[1]!), value, `${key}'s default`);
      assert.equal(decimalToMicro(String(example[key])), value, `the example shows ${key}'s default`);
    }
  });

  it("the Logs Insights queries are exactly what `keybrake audit --label 'modal-billing/2026-11-22/*'` sends", () => {
    const filter = { since: 0, until: 1, label: labelMatch("modal-billing/2026-11-22/*") };
    assert.equal(snippet("docs/audit.md", "records-query").trimEnd(), recordsQuery(filter, 1000));
    assert.equal(snippet("docs/audit.md", "totals-query").trimEnd(), totalsQuery(filter, "label"));
  });

  it("the call record example is one Powertools line whose audit fields are the documented ones", () => {
    const line = JSON.parse(snippet("docs/audit.md", "call-record")) as { message: string; audit: object };
    assert.equal(line.message, "keybrake.call");
    const page = readFileSync(join(ROOT, "docs", "audit.md"), "utf8");
    const table = page.slice(page.indexOf("| field | meaning |"), page.indexOf("## Key events"));
    const documented = new Set(
      [...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => m[1]!.match(/`([a-z_]+)`/g) ?? []),
    );
    const fields = [...documented].map((f) => f.replaceAll("`", ""));
    for (const key of Object.keys(line.audit).filter((k) => k !== "event"))
      assert.ok(fields.includes(key), `${key} is in the field table`);
  });

  it("the alarm settings example holds only stack config keys the root program reads", () => {
    const yaml = snippet("docs/operations.md", "alarm-settings");
    const keys = [...yaml.matchAll(/^ {2}(keybrake:\w+):/gm)].map((m) => m[1]!);
    assert.ok(keys.length >= 3);
    assert.doesNotThrow(() => checkStackConfigKeys(Object.fromEntries(keys.map((k) => [k, "1"]))));
  });
});

describe("reading examples (the helpers the other docs tests use)", () => {
  it("splits a shell example into commands and what each prints", () => {
    const steps = shellSteps(
      [
        "# prose before a command is not output",
        "X=$(curl -s http://a \\",
        '  -d \'{"a":1,',
        '       "b":2}\')',
        'echo "$X"   # a trailing comment',
        '# {"a":1,',
        '#  "b":2}',
        "",
        "# more prose",
        "true",
      ].join("\n"),
    );
    assert.deepEqual(
      steps.map((s) => s.command.split("\n").length),
      [3, 1, 1],
    );
    assert.equal(steps[1]!.expected, '{"a":1,\n "b":2}\n');
    assert.equal(steps[2]!.expected, "");
  });

  it("splits a console transcript into commands and their output", () => {
    const steps = consoleSteps(
      ["$ a \\", "    --b", "out 1", "$ for x in 1; do", ">   echo $x", "> done", "1"].join("\n"),
    );
    assert.deepEqual(steps, [
      { command: "a \\\n    --b", expected: "out 1\n" },
      { command: "for x in 1; do\n  echo $x\ndone", expected: "1\n" },
    ]);
  });

  it("compares shapes: ids, keys and times aside, … for what is left out, and nothing else", () => {
    const issued =
      '{"vault_key":"vk_0d191eab82cdb611_AbC-9_x","key_id":"0d191eab82cdb611","vendor":"stripe","expires_at":"2026-12-01T06:57:30.742Z"}';
    assert.ok(
      shapeMatches(
        issued,
        '{"vault_key":"vk_3f0c…_…","key_id":"3f0c…","vendor":"stripe",\n "expires_at":"2026-11-24T10:05:00.000Z"}',
      ),
    );
    assert.ok(
      !shapeMatches(issued.replace("stripe", "twilio"), '{"vault_key":"vk_…","key_id":"…","vendor":"stripe",…}'),
    );
    assert.ok(shapeMatches('{"id":"pi_ab12","amount":2999,"x":1}', '{"id":"pi_…","amount":2999,…}'));
    assert.ok(!shapeMatches('{"id":"pi_ab12","amount":2998}', '{"id":"pi_…","amount":2999,…}'));
    assert.ok(shapeMatches("key_id      18c8cfa8eb1bdbac\nstatus  active\n", "key_id 0123456789abcdef\nstatus active"));
    assert.ok(!shapeMatches("status revoked", "status active"));
  });

  it("every page it reads exists", () => {
    for (const page of PAGES) assert.ok(statSync(join(ROOT, page)).isFile(), relative(ROOT, join(ROOT, page)));
  });
});
