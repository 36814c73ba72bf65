// The handler bundles carry their own AWS SDK (components/bundle.ts): what they run is pinned by this repository, not
// by the Lambda runtime's SDK of the day. Every package that ends up in a bundle is installed at the version
// package-lock.json names, and the SDK clients the handlers import are exact versions in package.json.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildSync } from "esbuild";
import { BUNDLE_OPTIONS, HANDLERS } from "../../components/bundle";

const ROOT = join(__dirname, "..", "..");
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string }>;
};
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

/** The installed package folders (`node_modules/...`, nested ones too) each bundle's code comes from. */
function bundledPackages(entry: string): string[] {
  const { metafile } = buildSync({ ...BUNDLE_OPTIONS, entryPoints: [entry], absWorkingDir: ROOT, metafile: true });
  const folders = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /^(?:.*\/)?(node_modules\/(?:@[^/]+\/)?[^/]+(?:\/node_modules\/(?:@[^/]+\/)?[^/]+)*)\//.exec(input);
    if (match) folders.add(match[1]!);
  }
  return [...folders].sort();
}

describe("handler bundles: pinned dependencies", () => {
  it("bundles the AWS SDK clients at exact versions of package.json", () => {
    for (const name of [
      "@aws-sdk/client-dynamodb",
      "@aws-sdk/client-secrets-manager",
      "@aws-sdk/credential-provider-env",
    ]) {
      assert.match(manifest.dependencies[name] ?? "", /^\d+\.\d+\.\d+$/, `${name} is pinned to one version`);
    }
    const proxy = bundledPackages(HANDLERS.proxy);
    for (const name of [
      "@aws-sdk/client-dynamodb",
      "@aws-sdk/client-secrets-manager",
      "@aws-sdk/credential-provider-env",
    ])
      assert.ok(proxy.includes(`node_modules/${name}`), `${name} is in the proxy bundle`);
    assert.ok(!proxy.includes("node_modules/@aws-sdk/credential-provider-node"), "no credential chain beyond the env");
  });

  it("every package in a bundle is installed at the version package-lock.json pins", () => {
    for (const name of ["issuer", "proxy", "sweep"] as const) {
      for (const folder of bundledPackages(HANDLERS[name])) {
        const installed = (JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8")) as { version: string })
          .version;
        assert.equal(installed, lock.packages[folder]?.version, `${name}: ${folder}`);
      }
    }
  });
});
