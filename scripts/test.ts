// `npm test`: Biome's lint and format check, the type check, then both test tiers in one `node --test` run (one
// summary, reported by scripts/test-reporter.mjs: a line per file as it finishes, a heartbeat while files run,
// node's own closing counts): the unit tier (test/unit: pure, no Java, no Python, no sockets) and the integration tier
// (test/integration) over one DynamoDB Local for the whole run (each test file makes its own tables), or over
// KEYBRAKE_DYNAMODB_ENDPOINT when it names a running one. `npm run test:unit` runs the unit tier alone, in
// seconds. `npm test -- <files>` runs just those files, starting DynamoDB Local (and checking the Python
// example's packages) only when one of them needs it.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { assertJava, startDynamoDbLocal } from "./dynamodb-local";
import { ensureTestPrerequisites } from "./prerequisites";

const ROOT = join(__dirname, "..");
const UNIT = join("test", "unit");
const INTEGRATION = join("test", "integration");

function testFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir))
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(join(ROOT, path)).isDirectory()) return testFiles(path);
      return name.endsWith(".test.ts") ? [path] : [];
    });
}

const started = Date.now();
const elapsed = () => {
  const s = Math.round((Date.now() - started) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
const say = (line: string) => console.log(`keybrake tests [${elapsed()}]: ${line}`);

/** Runs a node script; `quietFor` names a step that prints nothing while it works, so a heartbeat says it still runs. */
function run(args: string[], env: NodeJS.ProcessEnv = process.env, quietFor?: string): Promise<number> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: "inherit", env });
  const stop = (signal: NodeJS.Signals) => child.kill(signal);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const heartbeat = quietFor ? setInterval(() => say(`${quietFor} still running`), 10_000) : undefined;
  return new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      clearInterval(heartbeat);
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
      resolve(code ?? (signal ? 1 : 0));
    }),
  );
}

/** Biome's lint and format check (what `npm run lint` runs). */
const lint = () =>
  run([join(ROOT, "node_modules", "@biomejs", "biome", "bin", "biome"), "ci", "--diagnostic-level=error", "."]);
/** The type check covers tests, bench and scripts too: code that does not type-check does not pass. */
const typecheck = () =>
  run(
    [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", join(ROOT, "tsconfig.json")],
    process.env,
    "the type check",
  );
const REPORTER = join(ROOT, "scripts", "test-reporter.mjs");
const nodeTest = (files: string[], env: NodeJS.ProcessEnv = process.env) => {
  say(`${files.length} test file${files.length === 1 ? "" : "s"}; a line as each finishes`);
  return run(
    ["--import", "tsx", "--test", `--test-reporter=${REPORTER}`, "--test-reporter-destination=stdout", ...files],
    { ...env, KEYBRAKE_TEST_FILES: String(files.length) },
  );
};

/** Runs test files with a ledger: KEYBRAKE_DYNAMODB_ENDPOINT's, or a DynamoDB Local started for this run. */
async function withLedger(files: string[]): Promise<number> {
  await ensureTestPrerequisites(say);
  const running = process.env.KEYBRAKE_DYNAMODB_ENDPOINT;
  if (running) {
    say(`using the DynamoDB at ${running} (KEYBRAKE_DYNAMODB_ENDPOINT)`);
    return nodeTest(files, { ...process.env, KEYBRAKE_TEST_DYNAMODB_ENDPOINT: running });
  }
  const ddb = await startDynamoDbLocal({ progress: say });
  try {
    return await nodeTest(files, { ...process.env, KEYBRAKE_TEST_DYNAMODB_ENDPOINT: ddb.endpoint });
  } finally {
    await ddb.stop();
  }
}

async function main(): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"; // Node 20 is supported here
  const args = process.argv.slice(2);
  if (args[0] === "--unit") {
    say("unit tier (no Java, no Python)");
    return nodeTest(testFiles(UNIT));
  }
  if (args.length > 0) {
    const files = args.map((file) => relative(ROOT, join(process.cwd(), file)));
    const needsLedger = files.some((file) => !file.startsWith(`${UNIT}${sep}`));
    return needsLedger ? withLedger(files) : nodeTest(files);
  }
  // Say what is missing before minutes of checks, not after them.
  if (!process.env.KEYBRAKE_DYNAMODB_ENDPOINT) await assertJava();
  await ensureTestPrerequisites(say);
  say("lint and format check (Biome)");
  if ((await lint()) !== 0) {
    say("the lint and format check failed (`npm run format` fixes formatting)");
    return 1;
  }
  say("type check (tsc, about 15-60 s)");
  if ((await typecheck()) !== 0) {
    say("the type check failed");
    return 1;
  }
  say("unit and integration tiers");
  const code = await withLedger([...testFiles(UNIT), ...testFiles(INTEGRATION)]);
  say(code === 0 ? "all passed" : "some tests failed (listed above)");
  return code;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`keybrake tests: ${message}; \`npm run test:unit\` runs the pure tests without it`);
    process.exit(1);
  },
);
