// Regenerates `lambda/vendors/operations/<vendor>.snapshot.json`: every mutating operation (POST, PUT, PATCH,
// DELETE) a vendor documents, machine-extracted and sorted, so a test can fail when the hand-classified route
// table misses one. Snapshots are never edited by hand; rerun this on a newer spec and classify what it adds.
//
//   tsx scripts/extract-operations.ts <vendor> <spec> <source-label> [--out <file>]
//
// <spec> is an OpenAPI 3 document in JSON (Stripe `openapi/spec3.json` or `latest/openapi.spec3.json`, Twilio
// `spec/json/twilio_api_v2010.json`, Resend `resend.json`, which that repository generates from `resend.yaml`),
// or, for Stripe only, the root of an installed stripe-node package (`node_modules/stripe`): its generated
// `cjs/resources` list the same operations, named `<resource>.<method>` with the SDK's path parameter names.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const MUTATING = ["POST", "PUT", "PATCH", "DELETE"] as const;
type MutatingMethod = (typeof MUTATING)[number];

export interface SnapshotOperation {
  operation: string;
  method: MutatingMethod;
  path: string;
}

export interface OperationsSnapshot {
  source: string;
  specVersion: string;
  operations: SnapshotOperation[];
}

const isMutating = (method: string): method is MutatingMethod => (MUTATING as readonly string[]).includes(method);

const byPathThenMethod = (a: SnapshotOperation, b: SnapshotOperation) =>
  a.path < b.path ? -1 : a.path > b.path ? 1 : a.method < b.method ? -1 : a.method > b.method ? 1 : 0;

/** Every mutating operation of an OpenAPI 3 document (JSON). */
export function fromOpenApi(document: unknown): { specVersion: string; operations: SnapshotOperation[] } {
  const spec = document as { info?: { version?: unknown }; paths?: Record<string, Record<string, unknown>> };
  if (typeof spec.paths !== "object" || spec.paths === null) throw new Error("not an OpenAPI document: no paths");
  const operations: SnapshotOperation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [key, value] of Object.entries(item)) {
      const method = key.toUpperCase();
      if (!isMutating(method)) continue;
      const id = (value as { operationId?: unknown }).operationId;
      operations.push({ operation: typeof id === "string" ? id : `${method} ${path}`, method, path });
    }
  }
  return { specVersion: String(spec.info?.version ?? "unknown"), operations: operations.sort(byPathThenMethod) };
}

/** `this._makeRequest('POST', '/v1/x')` or with a template path `\`/v1/x/${encodeURIComponent(id)}\``. */
const SDK_REQUEST = /_makeRequest\('(POST|PUT|PATCH|DELETE)',\s*(['`])(.+?)\2/g;
const SDK_METHOD_HEADER = /^ {4}(\w+)\([^)]*\)\s*\{$/gm;
const SDK_PATH_PARAM = /\$\{encodeURIComponent\((\w+)\)\}/g;

/** Every mutating operation stripe-node generated from the spec, from its `cjs/resources/**.js`. */
export function fromStripeNode(packageRoot: string): { specVersion: string; operations: SnapshotOperation[] } {
  const resources = join(packageRoot, "cjs", "resources");
  const apiVersion = /ApiVersion = '([^']+)'/.exec(readFileSync(join(packageRoot, "cjs", "apiVersion.js"), "utf8"));
  if (!apiVersion) throw new Error(`no ApiVersion in ${packageRoot}/cjs/apiVersion.js`);
  const operations: SnapshotOperation[] = [];
  for (const file of jsFiles(resources)) {
    const text = readFileSync(file, "utf8");
    // TestHelpers/Issuing/Cards.js -> testHelpers.issuing.cards, as the SDK names the resource.
    const resource = relative(resources, file)
      .replace(/\.js$/, "")
      .split(/[\\/]/)
      .map((part) => part[0]!.toLowerCase() + part.slice(1))
      .join(".");
    const headers = [...text.matchAll(SDK_METHOD_HEADER)].map((m) => ({ at: m.index, name: m[1]! }));
    for (const request of text.matchAll(SDK_REQUEST)) {
      const method = request[1] as MutatingMethod;
      const header = headers.filter((h) => h.at < request.index).at(-1);
      if (!header) throw new Error(`${file}: a request outside any method`);
      const path = request[3]!.replace(SDK_PATH_PARAM, "{$1}");
      operations.push({ operation: `${resource}.${header.name}`, method, path });
    }
  }
  return { specVersion: apiVersion[1]!, operations: operations.sort(byPathThenMethod) };
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return jsFiles(path);
      return name.endsWith(".js") ? [path] : [];
    });
}

/** One operation per line, so a refresh reads as a diff of operations; Biome then gives it the repo's layout. */
export function renderSnapshot(snapshot: OperationsSnapshot): string {
  const lines = snapshot.operations.map((op) => `    ${JSON.stringify(op)}`);
  return [
    "{",
    `  "source": ${JSON.stringify(snapshot.source)},`,
    `  "specVersion": ${JSON.stringify(snapshot.specVersion)},`,
    '  "operations": [',
    lines.join(",\n"),
    "  ]",
    "}",
    "",
  ].join("\n");
}

function biomeFormat(file: string): void {
  const biome = join(__dirname, "..", "node_modules", "@biomejs", "biome", "bin", "biome");
  const result = spawnSync(process.execPath, [biome, "format", "--write", file], { stdio: "inherit" });
  if (result.status !== 0) throw new Error(`biome could not format ${file}`);
}

function main(argv: readonly string[]): void {
  const [vendor, specPath, source, flag, outArg] = argv;
  if (!vendor || !specPath || !source || (flag !== undefined && (flag !== "--out" || !outArg))) {
    console.error(
      "usage: tsx scripts/extract-operations.ts <stripe|twilio|resend> <spec> <source-label> [--out <file>]",
    );
    process.exit(2);
  }
  if (!["stripe", "twilio", "resend"].includes(vendor)) throw new Error(`unknown vendor ${vendor}`);
  if (/\.ya?ml$/.test(specPath)) throw new Error("give the JSON form of the spec (resend-openapi commits resend.json)");
  const extracted = statSync(specPath).isDirectory()
    ? fromStripeNode(specPath)
    : fromOpenApi(JSON.parse(readFileSync(specPath, "utf8")));
  const out = outArg ?? join(__dirname, "..", "lambda", "vendors", "operations", `${vendor}.snapshot.json`);
  writeFileSync(out, renderSnapshot({ source, ...extracted }));
  biomeFormat(out);
  console.log(`${vendor}: ${extracted.operations.length} mutating operations (${extracted.specVersion}) -> ${out}`);
}

if (require.main === module) main(process.argv.slice(2));
