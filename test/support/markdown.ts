// The README's and docs/'s examples, read from the Markdown itself so the suite runs what a reader copies: fenced
// blocks by their `tested:` name, the output an example shows, and the comparison of that output with a real run.
import { readFileSync } from "node:fs";
import { join } from "node:path";

// Every fenced block is marked on the line before its fence: `<!-- tested: <name> -->` (a test runs or checks it,
// finding it by that name) or `<!-- untested: <why> -->` (say why: it needs AWS, the Pulumi CLI, Modal…). A unit test
// refuses a block with neither and a `tested:` name no test uses.
//
// In a shell or console example, the `# …` comment lines right after a command (or, in a console transcript, the
// lines after a `$ ` command) are what it prints; `shapeMatches` compares them with what it did print, ids, times and
// whitespace aside, `…` standing for whatever the example leaves out.

export const ROOT = join(__dirname, "..", "..");

export interface FencedBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  tested?: string;
  untested?: string;
}

export function fencedBlocks(file: string): FencedBlock[] {
  const lines = readFileSync(join(ROOT, file), "utf8").split("\n");
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith(fence); i++) body.push(lines[i]!);
    const marker = /^<!--\s*(tested|untested):\s*(.*?)\s*-->\s*$/.exec(lines[start - 1] ?? "");
    blocks.push({
      file,
      line: start + 1,
      lang: open[2]!,
      code: `${body.join("\n")}\n`,
      tested: marker?.[1] === "tested" ? marker[2] : undefined,
      untested: marker?.[1] === "untested" ? marker[2] : undefined,
    });
  }
  return blocks;
}

/** The block marked `<!-- tested: name -->` in `file`; throws when there is not exactly one. */
export function snippet(file: string, name: string): string {
  const found = fencedBlocks(file).filter((b) => b.tested === name);
  if (found.length !== 1)
    throw new Error(`${file}: expected one block marked "tested: ${name}", found ${found.length}`);
  return found[0]!.code;
}

/** One command of an example and what the example says it prints (empty when it shows nothing). */
export interface Step {
  command: string;
  expected: string;
}

/**
 * A shell example's commands, each with the `# …` lines right after it (a blank line ends them). A command spans
 * lines while a quote is open or a line ends in `\`. Comments before a command are prose, not output.
 */
export function shellSteps(code: string): Step[] {
  const steps: Step[] = [];
  let command: string[] = [];
  let quote: string | undefined;
  let afterCommand = false;
  for (const line of code.split("\n")) {
    if (command.length === 0 && quote === undefined) {
      if (/^\s*#/.test(line)) {
        if (afterCommand) {
          const last = steps[steps.length - 1]!;
          last.expected += `${line.replace(/^\s*# ?/, "")}\n`;
        }
        continue;
      }
      if (line.trim() === "") {
        afterCommand = false;
        continue;
      }
    }
    command.push(line);
    quote = scanQuotes(line, quote);
    if (quote === undefined && !line.endsWith("\\")) {
      steps.push({ command: command.join("\n"), expected: "" });
      command = [];
      afterCommand = true;
    }
  }
  if (command.length) steps.push({ command: command.join("\n"), expected: "" });
  return steps;
}

/** Which quote is still open at the end of `line`, given the one open at its start (enough for our examples). */
function scanQuotes(line: string, open: string | undefined): string | undefined {
  let quote = open;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === "\\") i++;
    else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) break; // a trailing comment
  }
  return quote;
}

/** A console transcript's commands (`$ …`, continued by `> …` or after a trailing `\`) and the lines each printed. */
export function consoleSteps(code: string): Step[] {
  const steps: Step[] = [];
  let continuing = false;
  for (const line of code.split("\n")) {
    const last = steps[steps.length - 1];
    if (line.startsWith("$ ")) {
      steps.push({ command: line.slice(2), expected: "" });
      continuing = line.endsWith("\\");
    } else if (last && (continuing || line.startsWith("> "))) {
      last.command += `\n${line.startsWith("> ") ? line.slice(2) : line}`;
      continuing = line.endsWith("\\");
    } else if (last) last.expected += `${line}\n`;
  }
  return steps;
}

/** Ids, keys, tokens and times differ from run to run: the same placeholder on both sides. */
function normalise(text: string): string {
  return text
    .replace(/vk_[0-9a-f]{16}_[A-Za-z0-9_-]+/g, "<vault-key>")
    .replace(/kbt_[A-Za-z0-9_-]+/g, "<issuer-token>")
    .replace(/\b(pi|SM|em|req|obj)_[A-Za-z0-9]+/g, "$1_<id>")
    .replace(/\b[0-9a-f]{16}\b/g, "<key-id>")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>");
}

/**
 * Does `actual` have the shape `expected` shows? Both normalised, whitespace ignored; in `expected`, a word with
 * `…` in it (`vk_3f0c…_…`, `pi_…`) stands for any one word, and a lone `…` for anything.
 */
export function shapeMatches(actual: string, expected: string): boolean {
  const squeeze = (text: string) => normalise(text).replace(/\s+/g, "");
  const parts = squeeze(expected).split(/([\w<>-]*…[\w<>…-]*)/);
  let pattern = "";
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 0) pattern += escapeRegExp(part);
    else if (part !== "…") pattern += "[\\w<>-]*";
    // `,…}`: more fields, or none (then without the comma).
    else if (parts[i - 1]!.endsWith(",")) pattern = `${pattern.slice(0, -1)}(?:,[\\s\\S]*?)?`;
    else pattern += "[\\s\\S]*?";
  }
  return new RegExp(`^${pattern}$`).test(squeeze(actual));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
