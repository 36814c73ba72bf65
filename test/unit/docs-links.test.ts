// README.md and docs/*.md: every relative link points at a file that exists and, with `#anchor`, at a heading that file
// has, under GitHub's anchor rules. Pure: it only reads the Markdown files.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";

const ROOT = join(__dirname, "..", "..");

/** GitHub's heading anchor: lowercase, punctuation dropped (`-` and `_` kept), each space becomes `-`. */
function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The lines outside fenced code blocks (``` or ~~~), which is where headings and links count. */
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence === undefined) lines.push(line);
  }
  return lines;
}

/** Every anchor a page offers: its headings' slugs (a repeat gets `-1`, `-2`…) and explicit `id`/`name`s. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
    const heading = /^#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
    const slug = githubSlug(text);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Link targets in prose: inline links and images, and reference definitions; code spans are not links. */
function linkTargets(markdown: string): string[] {
  const prose = proseLines(markdown)
    .join("\n")
    .replace(/`[^`\n]*`/g, "");
  const inline = [...prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const defined = [...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/gm)].map((m) => m[1]!);
  return [...inline, ...defined];
}

/** What is wrong with one page's relative links, one line per problem. */
function linkProblems(page: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) continue; // https:, mailto:, …
    const hash = target.indexOf("#");
    const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const file = path === "" ? page : relative(ROOT, resolve(ROOT, dirname(page), path));
    const text = path === "" ? markdown : read(file);
    if (text === undefined) {
      problems.push(`${target}: no file ${file}`);
      continue;
    }
    if (anchor && file.endsWith(".md") && !anchorsOf(text).has(anchor)) {
      problems.push(`${target}: ${file} has no heading with anchor #${anchor}`);
    }
  }
  return problems;
}

function readRepoFile(path: string): string | undefined {
  const full = join(ROOT, path);
  if (!existsSync(full)) return undefined;
  try {
    return readFileSync(full, "utf8");
  } catch {
    return ""; // a folder: it exists, and has no anchors
  }
}

/** The TypeScript files of the repo, outside node_modules and generated output. */
function codeFiles(dir: string, at = ""): string[] {
  return readdirSync(join(dir, at), { withFileTypes: true }).flatMap((entry) => {
    const path = at ? `${at}/${entry.name}` : entry.name;
    if (entry.isDirectory())
      return ["node_modules", "dist", ".git", ".cache"].includes(entry.name) ? [] : codeFiles(dir, path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const PAGES = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`),
];

describe("docs links", () => {
  for (const page of PAGES) {
    it(`${page}: every relative link and anchor resolves`, () => {
      assert.deepEqual(linkProblems(page, readFileSync(join(ROOT, page), "utf8"), readRepoFile), []);
    });
  }

  it("code comments cite docs pages and headings that exist", () => {
    const problems: string[] = [];
    for (const file of codeFiles(ROOT).filter((f) => f !== "test/unit/docs-links.test.ts")) {
      for (const m of readFileSync(join(ROOT, file), "utf8").matchAll(/\bdocs\/([a-z-]+\.md)(?:#([a-z0-9_-]+))?/g)) {
        problems.push(
          ...linkProblems(
            file,
            `[ref](${relative(dirname(file), join("docs", m[1]!))}${m[2] ? `#${m[2]}` : ""})`,
            readRepoFile,
          ),
        );
      }
    }
    assert.deepEqual(problems, []);
  });

  it("anchors follow GitHub's rules", () => {
    assert.equal(githubSlug("1. Hard cap"), "1-hard-cap");
    assert.equal(githubSlug("Watching it: dashboard, alarms, metrics"), "watching-it-dashboard-alarms-metrics");
    assert.equal(githubSlug("`GET /vault/keys/{key_id}`"), "get-vaultkeyskey_id");
    assert.equal(githubSlug("One key's ceiling"), "one-keys-ceiling");
    assert.equal(githubSlug("Status codes — and refusals"), "status-codes--and-refusals");
    assert.deepEqual(
      [...anchorsOf("# A\n## Notes\n```\n## Not a heading\n```\n## Notes\n")],
      ["a", "notes", "notes-1"],
    );
  });

  it("reports a missing file and a missing anchor, and ignores code and external links", () => {
    const pages: Record<string, string> = { "docs/b.md": "# B\n## Here\n" };
    const page = [
      "[ok](b.md#here) [self](#top) [web](https://example.com/x.md) `[code](nope.md)`",
      "# Top",
      "[gone](missing.md) [wrong](b.md#there)",
      "```",
      "[in a fence](nope.md)",
      "```",
    ].join("\n");
    assert.deepEqual(
      linkProblems("docs/a.md", page, (path) => pages[path]),
      ["missing.md: no file docs/missing.md", "b.md#there: docs/b.md has no heading with anchor #there"],
    );
  });
});
