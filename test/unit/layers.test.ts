// The layer rule of docs/architecture.md, checked on the import graph: each folder of lambda/ imports only its
// own folder and the layers below it, so the kernel never depends on an adapter and an adapter never on a use case.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, it } from "node:test";

const LAMBDA = join(__dirname, "..", "..", "lambda");
/** Lower ranks sit below; a folder may import its own rank only from itself. */
const RANK: Record<string, number> = {
  core: 0,
  ledger: 1,
  vendors: 1,
  audit: 2,
  proxy: 3,
  issuer: 3,
  sweep: 3,
  http: 4,
  handlers: 5,
  "local.ts": 5,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** The top folder of lambda/ a file belongs to (`local.ts` stands for itself). */
const layerOf = (file: string) => relative(LAMBDA, file).split(sep)[0]!;

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)[^;]*?from "(\.{1,2}\/[^"]+)"/gms)].map((m) =>
    resolve(dirname(file), m[1]!),
  );
}

describe("the layer rule", () => {
  const files = sources(LAMBDA);
  it("knows every folder of lambda/", () => {
    for (const file of files) assert.ok(layerOf(file) in RANK, `${relative(LAMBDA, file)}: no rank for its folder`);
  });
  it("no module imports upward or sideways", () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const target of imports(file)) {
        const to = layerOf(target);
        if (to === from) continue;
        if (!(to in RANK) || RANK[to]! >= RANK[from]!) {
          wrong.push(`${relative(LAMBDA, file)} → ${relative(LAMBDA, target)}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
});
