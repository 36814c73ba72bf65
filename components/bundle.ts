// Bundles one Lambda handler into a single minified CommonJS file. Deterministic: same sources, same bytes (no
// absolute paths, timestamps or source maps), so an unchanged handler shows no diff on `pulumi up`. The AWS SDK
// v3 stays external: the nodejs22.x runtime ships it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { buildSync } from "esbuild";

/** From a checkout the entries are TypeScript; from the installed package, the compiled JavaScript. */
const entry = (name: string) => {
  const ts = join(__dirname, "..", "lambda", "handlers", `${name}.ts`);
  return existsSync(ts) ? ts : join(__dirname, "..", "lambda", "handlers", `${name}.js`);
};

export const HANDLERS = { issuer: entry("issuer"), proxy: entry("proxy"), sweep: entry("sweep") } as const;

export interface Bundle {
  code: string;
  bytes: number;
}

export function bundleHandler(entry: string): Bundle {
  const result = buildSync({
    entryPoints: [entry],
    absWorkingDir: join(__dirname, ".."),
    bundle: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    minify: true,
    treeShaking: true,
    write: false,
    external: ["@aws-sdk/*"],
    legalComments: "none",
    logLevel: "silent",
  });
  const code = result.outputFiles[0]!.text;
  return { code, bytes: Buffer.byteLength(code) };
}
