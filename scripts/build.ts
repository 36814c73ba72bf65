// `npm run build` (and `npm pack`, through prepack): the package as it ships. A clean dist/ with the compiled
// library, CLI and local mode (tsc -p tsconfig.build.json), then the three Lambda handlers prebuilt into
// dist/handlers/ with the very esbuild options a checkout deploys with, so customers deploy the bytes we tested.
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleHandler, HANDLERS, PREBUILT_DIR } from "../components/bundle";
import { FUNCTIONS } from "../lambda/handlers/config";

const ROOT = join(__dirname, "..");
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const say = (line: string) => console.log(`keybrake build: ${line}`);

function tsc(): Promise<number> {
  const child = spawn(
    process.execPath,
    [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")],
    { cwd: ROOT, stdio: "inherit" },
  );
  const ticker = setInterval(() => say(`compiling… ${elapsed()}`), 10_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearInterval(ticker);
      resolve(code ?? 1);
    }),
  );
}

async function main(): Promise<number> {
  rmSync(join(ROOT, "dist"), { recursive: true, force: true });
  say("compiling the library, CLI and local mode into dist/ (tsc -p tsconfig.build.json)");
  if ((await tsc()) !== 0) {
    say("the compile failed");
    return 1;
  }
  mkdirSync(join(ROOT, PREBUILT_DIR), { recursive: true });
  for (const name of FUNCTIONS) {
    const bundle = bundleHandler(HANDLERS[name]);
    writeFileSync(join(ROOT, PREBUILT_DIR, `${name}.js`), bundle.code);
    say(`${PREBUILT_DIR}/${name}.js ${(bundle.bytes / 1024).toFixed(1)} KB`);
  }
  say(`done in ${elapsed()}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`keybrake build: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
