import { buildSync } from "esbuild";
import { join } from "node:path";

/**
 * Bundles one Lambda handler into a single minified CommonJS file. Deterministic: same sources, same
 * bytes (no absolute paths, timestamps or source maps), so an unchanged handler shows no diff on `pulumi up`.
 * The AWS SDK v3 stays external: the nodejs22.x runtime ships it.
 */
export const HANDLERS = {
  issuer: join(__dirname, "..", "lambda", "issuer.ts"),
  proxy: join(__dirname, "..", "lambda", "proxy.ts"),
  sweep: join(__dirname, "..", "lambda", "sweep.ts"),
} as const;

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
