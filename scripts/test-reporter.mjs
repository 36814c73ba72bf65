// The `npm test` reporter: steady progress, then one summary. A line per test file as it finishes (tests, time,
// files done, elapsed), a heartbeat naming the files still running when nothing has been printed for a while, a
// failure's details as soon as its file ends, the output a file printed only when it failed, then node --test's own
// closing `ℹ tests / pass / fail …` lines (CI reads those) and the list of failing tests.
import { relative } from "node:path";
import { inspect } from "node:util";

// Plain JavaScript: node --test loads reporters before tsx's hooks are in place.

const HEARTBEAT_MS = 15_000;
const ROOT = process.cwd();
const started = Date.now();

/** @param {number} ms */
const clock = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
/** @param {number} ms */
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
/** @param {string} file */
const rel = (file) => relative(ROOT, file);
/** The events of a whole test file carry its path as their name. */
const isFile = (data) => data.file !== undefined && data.name === data.file;

/** @typedef {{ started: number, tests: number, failed: number, output: string[], failures: string[] }} FileState */

/** @param {AsyncIterable<{ type: string, data: any }>} source */
export default async function* reporter(source) {
  const total = Number(process.env.KEYBRAKE_TEST_FILES || 0);
  /** @type {Map<string, FileState>} */
  const files = new Map();
  /** @param {string} file */
  const fileState = (file) => {
    let state = files.get(file);
    if (!state) {
      state = { started: Date.now(), tests: 0, failed: 0, output: [], failures: [] };
      files.set(file, state);
    }
    return state;
  };
  let done = 0;
  let testsDone = 0;
  let lastPrinted = Date.now();
  /** @type {string[]} */
  const failing = [];
  /** @type {string[]} */
  const diagnostics = [];

  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  for (;;) {
    let timer;
    const tick = new Promise((resolve) => {
      timer = setTimeout(() => resolve("tick"), HEARTBEAT_MS);
    });
    const winner = await Promise.race([next, tick]);
    clearTimeout(timer);
    if (winner === "tick") {
      if (Date.now() - lastPrinted >= HEARTBEAT_MS) {
        const running = [...files.entries()]
          .filter(([, s]) => s.started >= 0)
          .map(([f, s]) => `${rel(f)} (${secs(Date.now() - s.started)})`);
        lastPrinted = Date.now();
        yield `  … ${clock(Date.now() - started)} elapsed, ${testsDone} tests done; running ${running.join(", ") || "…"}\n`;
      }
      continue;
    }
    if (winner.done) break;
    next = iterator.next();
    const { type, data } = winner.value;

    if (type === "test:dequeue" && isFile(data)) fileState(data.file).started = Date.now();
    else if (type === "test:complete" && !isFile(data) && data.details?.type !== "suite" && data.file) {
      testsDone++;
      fileState(data.file).tests++;
    } else if ((type === "test:stdout" || type === "test:stderr") && data.file) {
      fileState(data.file).output.push(data.message ?? "");
    } else if (type === "test:fail" && data.details?.error?.failureType !== "subtestsFailed") {
      // A suite fails on its own only when a hook of it failed; its failing tests are reported one by one.
      const where = data.file ? rel(data.file) : "";
      const name = isFile(data) ? `${rel(data.file)} (the file itself)` : data.name;
      failing.push(`${name}${where ? `  (${where})` : ""}`);
      if (data.file) {
        const state = fileState(data.file);
        state.failed++;
        const error = data.details?.error;
        const shown = error && error.failureType === "testCodeFailure" && error.cause ? error.cause : error;
        state.failures.push(`  ✖ ${name}\n${indent(inspect(shown, { depth: 4 }))}\n`);
      }
    } else if (type === "test:complete" && isFile(data)) {
      done++;
      const state = fileState(data.file);
      const ok = state.failed === 0 && !data.details?.error;
      const count = total ? `${done}/${total} files` : `${done} files`;
      lastPrinted = Date.now();
      yield `${ok ? "✔" : "✖"} ${rel(data.file)}  ${state.tests} test${state.tests === 1 ? "" : "s"}${ok ? "" : `, ${Math.max(state.failed, 1)} failed`}` +
        `  ${secs(data.details?.duration_ms ?? Date.now() - state.started)}  [${count}, ${testsDone} tests, ${clock(Date.now() - started)}]\n`;
      if (!ok) {
        if (state.output.length) yield `  output of ${rel(data.file)}:\n${indent(state.output.join("").trimEnd())}\n`;
        yield state.failures.join("") || `  ✖ ${rel(data.file)} failed: ${inspect(data.details?.error)}\n`;
      }
      state.started = -1;
      state.output = [];
    } else if (type === "test:diagnostic" && data.nesting === 0 && !data.file) {
      diagnostics.push(`ℹ ${data.message}\n`);
    }
  }
  yield "\n";
  yield* diagnostics;
  if (failing.length) yield `\n✖ failing tests:\n${failing.map((f) => `  ${f}\n`).join("")}`;
}

/** @param {string} text */
function indent(text) {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
