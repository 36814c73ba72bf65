// `npm test`'s reporter, fed node --test's events: a line per file, a failure's details and output, one summary.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import reporter from "../../scripts/test-reporter.mjs";

const ROOT = join(__dirname, "..", "..");
const A = join(ROOT, "test", "unit", "a.test.ts");
const B = join(ROOT, "test", "integration", "b.test.ts");

async function report(events: Array<{ type: string; data: Record<string, unknown> }>): Promise<string> {
  async function* source() {
    yield* events;
  }
  const files = process.env.KEYBRAKE_TEST_FILES; // what scripts/test.ts tells the reporter: files in this run
  process.env.KEYBRAKE_TEST_FILES = "2";
  let out = "";
  try {
    for await (const chunk of reporter(source())) out += chunk;
  } finally {
    if (files === undefined) delete process.env.KEYBRAKE_TEST_FILES;
    else process.env.KEYBRAKE_TEST_FILES = files;
  }
  return out;
}

describe("the npm test reporter", () => {
  it("prints a line per file, a failing file's output and errors, then node's counts and the failing tests", async () => {
    const boom = Object.assign(new Error("test failed"), { failureType: "testCodeFailure", cause: new Error("boom") });
    const out = await report([
      { type: "test:dequeue", data: { name: A, file: A, nesting: 0 } },
      { type: "test:complete", data: { name: "adds", file: A, nesting: 1, details: { type: "test" } } },
      { type: "test:complete", data: { name: "suite", file: A, nesting: 0, details: { type: "suite" } } },
      { type: "test:stdout", data: { file: A, message: "noise from a passing file\n" } },
      { type: "test:complete", data: { name: A, file: A, nesting: 0, details: { duration_ms: 1234 } } },
      { type: "test:dequeue", data: { name: B, file: B, nesting: 0 } },
      { type: "test:stdout", data: { file: B, message: "what it printed\n" } },
      { type: "test:complete", data: { name: "breaks", file: B, nesting: 1, details: { type: "test" } } },
      { type: "test:fail", data: { name: "breaks", file: B, nesting: 1, details: { type: "test", error: boom } } },
      {
        type: "test:fail",
        data: {
          name: "outer",
          file: B,
          nesting: 0,
          details: { type: "suite", error: { failureType: "subtestsFailed" } },
        },
      },
      { type: "test:complete", data: { name: B, file: B, nesting: 0, details: { duration_ms: 2000 } } },
      ...["tests 2", "pass 1", "fail 1"].map((message) => ({ type: "test:diagnostic", data: { message, nesting: 0 } })),
    ]);
    const lines = out.split("\n");
    assert.match(lines[0]!, /^✔ test\/unit\/a\.test\.ts {2}1 test {2}1\.2 s {2}\[1\/2 files, 1 tests, \d+:\d\d\]$/);
    assert.match(
      lines[1]!,
      /^✖ test\/integration\/b\.test\.ts {2}1 test, 1 failed {2}2\.0 s {2}\[2\/2 files, 2 tests, \d+:\d\d\]$/,
    );
    assert.ok(out.includes("  output of test/integration/b.test.ts:\n    what it printed\n"));
    assert.ok(!out.includes("noise from a passing file"), "a passing file's output is not shown");
    assert.match(out, /^ {2}✖ breaks\n {4}Error: boom$/m);
    assert.ok(out.includes("\nℹ tests 2\nℹ pass 1\nℹ fail 1\n"), "node's closing counts, as node prints them");
    assert.ok(out.endsWith("\n✖ failing tests:\n  breaks  (test/integration/b.test.ts)\n"), out);
    assert.ok(!out.includes("outer"), "a suite failing because a test in it failed is not a second failure");
  });
});
