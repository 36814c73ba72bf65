// Every source file opens with a `//` header saying what it holds and why (after a shebang, if any). An overview
// written as a `/** */` block lands on the file's first declaration instead: editors show it as that declaration's
// documentation. Checked: index.ts, bench/, cli/, components/, deploy/, lambda/, scripts/ and test/.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

const ROOT = join(__dirname, "..", "..");
const CHECKED = ["index.ts", "bench", "cli", "components", "deploy", "lambda", "scripts", "test"];
const SOURCE = /\.(ts|cts|cjs|mjs)$/;

/** The source files at or under `path` (relative to the repository), outside installed and generated folders. */
function sourceFiles(path: string): string[] {
  if (!statSync(join(ROOT, path)).isDirectory()) return SOURCE.test(path) ? [path] : [];
  return readdirSync(join(ROOT, path), { withFileTypes: true }).flatMap((entry) =>
    ["node_modules", "dist", ".cache"].includes(entry.name) ? [] : sourceFiles(`${path}/${entry.name}`),
  );
}

/** Whether a file's text opens with a `//` comment line, after an optional shebang line. */
function hasHeader(text: string): boolean {
  const body = text.startsWith("#!") ? text.slice(text.indexOf("\n") + 1) : text;
  return body.startsWith("//");
}

describe("file headers", () => {
  it("every checked source file opens with a `//` header", () => {
    const files = CHECKED.flatMap((path) => sourceFiles(path));
    assert.ok(files.includes("cli/main.ts") && files.includes("scripts/test-reporter.mjs"), "the walk finds sources");
    const missing = files.filter((file) => !hasHeader(readFileSync(join(ROOT, file), "utf8")));
    assert.deepEqual(missing, [], "these files do not start with a `//` header (a `/** */` overview is not one)");
  });

  it("takes a `//` line, after a shebang too, and nothing else", () => {
    assert.equal(hasHeader("// What this holds.\nimport x from 'y';\n"), true);
    assert.equal(hasHeader("#!/usr/bin/env node\n// What this holds.\n"), true);
    assert.equal(hasHeader("/** What this holds. */\nexport const x = 1;\n"), false);
    assert.equal(hasHeader("import x from 'y';\n\n// What this holds.\n"), false);
    assert.equal(hasHeader("\n// What this holds.\n"), false);
  });
});
