// The Lambda handlers' code: one minified CommonJS file per handler, built by esbuild with BUNDLE_OPTIONS.
//
// The package ships these files prebuilt (`npm pack` runs `npm run build`, which writes
// `dist/handlers/{issuer,proxy,sweep}.js`), so every customer deploys the very bytes this repository tested and
// esbuild is not needed at deploy time. From a checkout (the sources are TypeScript) the component bundles the
// sources as the program runs, so an edit to lambda/ is what gets deployed, never a stale build.
//
// Deterministic: same sources, same bytes (no absolute paths, timestamps or source maps), so an unchanged handler
// shows no diff on `pulumi up`.
//
// Self-contained: the AWS SDK clients are bundled too, at the versions package-lock.json pins (a unit test checks
// it), not taken from the nodejs22.x runtime, whose SDK version varies by region and over time. Bundled from
// their ES module builds, so only the commands and shapes the handlers use are in (esbuild's tree shaking), with
// the credential chain replaced by the environment credentials Lambda provides (lambda/handlers/credentials.ts):
// measured, that loads faster than the runtime's own SDK does (docs/performance.md).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildOptions } from "esbuild";
import type { FunctionName } from "../lambda/handlers/config";
import { checkRouteTables } from "../lambda/vendors/operations";

/** Running from the compiled package (dist/components/bundle.js) rather than a checkout's TypeScript. */
const COMPILED = !__filename.endsWith(".ts");
const ROOT = join(__dirname, "..");

/** Each handler's entry: `lambda/handlers/<name>.ts` in a checkout, its compiled `.js` in the package. */
const entry = (name: FunctionName) => join(ROOT, "lambda", "handlers", `${name}.${COMPILED ? "js" : "ts"}`);
export const HANDLERS = { issuer: entry("issuer"), proxy: entry("proxy"), sweep: entry("sweep") } as const;

/** Where `npm run build` writes the prebuilt bundles (relative to the package root). */
export const PREBUILT_DIR = join("dist", "handlers");
const prebuilt = (name: FunctionName) =>
  join(COMPILED ? join(ROOT, "handlers") : join(ROOT, PREBUILT_DIR), `${name}.js`);

/** The one place the bundles' esbuild options live (the build and the checkout's deploys both use it). */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: "node",
  target: "node22",
  format: "cjs",
  minify: true,
  treeShaking: true,
  write: false,
  external: [],
  // ES module builds first (the AWS SDK's `module` entries): unused commands and shapes are tree-shaken.
  mainFields: ["module", "main"],
  alias: { "@aws-sdk/credential-provider-node": `./lambda/handlers/credentials.${COMPILED ? "js" : "ts"}` },
  legalComments: "none",
  logLevel: "silent",
} as const satisfies BuildOptions;

export interface Bundle {
  code: string;
  bytes: number;
}

/** Bundles one handler entry with esbuild (a dev dependency: only checkouts and `npm run build` call this). */
export function bundleHandler(entryPoint: string): Bundle {
  // The proxy loads its route tables lazily, on the first call to each vendor: a malformed one fails here instead.
  checkRouteTables();
  const { buildSync } = require("esbuild") as typeof import("esbuild");
  const result = buildSync({ ...BUNDLE_OPTIONS, entryPoints: [entryPoint], absWorkingDir: ROOT });
  const code = result.outputFiles[0]!.text;
  return { code, bytes: Buffer.byteLength(code) };
}

/** The code a handler's Lambda runs: the package's prebuilt bundle, or (in a checkout) the sources bundled now. */
export function handlerBundle(name: FunctionName): Bundle {
  if (!COMPILED) return bundleHandler(HANDLERS[name]);
  const file = prebuilt(name);
  if (!existsSync(file))
    throw new Error(
      `keybrake's prebuilt ${name} handler is missing (${file}): reinstall the package, built by npm pack`,
    );
  const code = readFileSync(file, "utf8");
  return { code, bytes: Buffer.byteLength(code) };
}
