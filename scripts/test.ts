import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { JavaMissingError, startDynamoDbLocal } from "./dynamodb-local";
import { ensurePythonExampleDeps } from "./prerequisites";

/**
 * `npm test`: one DynamoDB Local for the whole suite (each test file makes its own tables), then node's
 * test runner over every test/**\/*.test.ts. `npm test -- test/stripe.test.ts` runs just that file.
 */
const ROOT = join(__dirname, "..");

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return testFiles(path);
      return name.endsWith(".test.ts") ? [relative(ROOT, path)] : [];
    });
}

/** Biome's lint and format check (what `npm run lint` runs) is part of the suite too. */
function lint(): Promise<number> {
  const biome = join(ROOT, "node_modules", "@biomejs", "biome", "bin", "biome");
  const child = spawn(process.execPath, [biome, "ci", "."], { cwd: ROOT, stdio: "inherit" });
  return new Promise((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
}

/** The type check is part of the suite: code that does not type-check does not pass. */
function typecheck(): Promise<number> {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const child = spawn(process.execPath, [tsc, "--noEmit", "-p", join(ROOT, "tsconfig.json")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
}

async function main(): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"; // Node 20 is supported here; the notice is noise
  if (process.argv.length === 2 && (await lint()) !== 0) {
    console.error("keybrake tests: the lint and format check failed (npm run format fixes formatting)");
    return 1;
  }
  if (process.argv.length === 2 && (await typecheck()) !== 0) {
    console.error("keybrake tests: the type check failed");
    return 1;
  }
  await ensurePythonExampleDeps();
  const ddb = await startDynamoDbLocal();
  const files = process.argv.slice(2);
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--test", "--test-reporter=spec", ...(files.length ? files : testFiles(join(ROOT, "test")))],
    {
      cwd: ROOT,
      stdio: "inherit",
      env: {
        ...process.env,
        KEYBRAKE_TEST_DYNAMODB_ENDPOINT: ddb.endpoint,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
    },
  );
  const stopChild = () => child.kill("SIGINT");
  process.on("SIGINT", stopChild);
  const code = await new Promise<number>((resolve) =>
    child.once("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))),
  );
  await ddb.stop();
  return code;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof JavaMissingError ? `keybrake tests: ${error.message}` : error);
    process.exit(1);
  },
);
