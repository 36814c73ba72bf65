// A stand-in for Pulumi's Node.js language host, run by plain `node` (no tsx): it loads a Pulumi program exactly
// as `@pulumi/pulumi/cmd/run/run.js` does for a CommonJS TypeScript project (Pulumi.yaml `typescript: true`), that
// is through the project's typescript and the ts-node Pulumi vendors (7.0.1), with type checking on unless
// tsconfig says `noCheck`, one file at a time, with run.js's compilerOptions overrides. Pulumi's engine is replaced
// by runtime mocks, so no Pulumi CLI, AWS or network is needed. `npm test`'s `tsc --noEmit` checks the whole program
// at once and can miss errors this file-at-a-time load hits, which is why this exists.
//
// Usage: node pulumi-host.cjs <project dir> <scenarios.json>
//   scenarios.json: [{ "name": "…", "program"?: "<path, default Pulumi.yaml's main>", "config": { "keybrake:x": "…" },
//                      "secretKeys"?: ["keybrake:stripeSecretKey"] }, …]
// Scenarios run in order in this one process (ts-node compiles each file once); for each one it prints a line
// `PULUMI-HOST <json>`: { name, ok: true, resources: [{type, name}], outputs } or { name, ok: false, error }.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");
// The same answers as the unit tests' mocks; required by path, as this file is run from other projects' folders.
const engine = require("./pulumi-mock-engine.cjs");

const [projectDir, scenariosFile] = process.argv.slice(2);
process.chdir(projectDir);
const projectRequire = createRequire(path.join(process.cwd(), "package.json"));
const pulumiDir = path.dirname(projectRequire.resolve("@pulumi/pulumi"));
const runRequire = createRequire(path.join(pulumiDir, "cmd", "run", "run.js"));
const pulumi = projectRequire("@pulumi/pulumi");
const tsutils = runRequire("../../tsutils");
const semver = runRequire("semver");

/** What Pulumi.yaml says: the program's entry point, and whether it is TypeScript. */
function projectFile() {
  const text = fs.readFileSync("Pulumi.yaml", "utf8");
  const main = /^main:\s*(\S+)\s*$/m.exec(text)?.[1];
  const typescript = !/^\s+typescript:\s*false\s*$/m.test(text);
  const name = /^name:\s*(\S+)\s*$/m.exec(text)?.[1];
  return { main: path.join(process.cwd(), main ?? "."), typescript, name };
}

/** run.js, the `typeScript` branch, CommonJS project (no `"type": "module"` in package.json). */
function registerTypeScript() {
  const defaultTsConfigPath = "tsconfig.json";
  const tsConfigPath = process.env.PULUMI_NODEJS_TSCONFIG_PATH ?? defaultTsConfigPath;
  const skipProject = !fs.existsSync(tsConfigPath);
  const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsConfigPath);
  let transpileOnly;
  const transpileOnlyEnv = process.env.PULUMI_NODEJS_TRANSPILE_ONLY;
  if (transpileOnlyEnv) transpileOnly = transpileOnlyEnv === "true";
  else transpileOnly = compilerOptions.noCheck;
  const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
  const ts = runRequire(typescriptRequire);
  const tsVersion = semver.parse(ts.version);
  const useNodeNext = tsVersion && tsVersion.compare(new semver.SemVer("4.7.0")) >= 0;
  const tsn = runRequire(tsnodeRequire);
  tsn.register({
    compiler: typescriptRequire,
    transpileOnly,
    project: tsConfigPath,
    skipProject,
    compilerOptions: {
      target: "ES2020",
      module: useNodeNext ? "nodenext" : "commonjs",
      moduleResolution: useNodeNext ? "nodenext" : "node",
      sourceMap: "true",
      ...compilerOptions,
    },
  });
  return { typescript: ts.version, tsNode: tsn.VERSION, transpileOnly: Boolean(transpileOnly) };
}

function unwrap(value) {
  return new Promise((resolve) => pulumi.output(value).apply((v) => resolve(v)));
}

async function runScenario(scenario, project, loader) {
  const created = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        created.push({ type: args.type, name: args.name });
        return engine.newResource(args);
      },
      call: engine.call,
    },
    project.name,
    scenario.stack ?? "dev",
    false,
  );
  pulumi.runtime.setAllConfig(scenario.config ?? {}, scenario.secretKeys ?? []);
  // A fresh run of the program: its own modules again (ts-node keeps what it compiled), the libraries as they are.
  for (const file of Object.keys(require.cache)) {
    if (file.startsWith(process.cwd()) && !file.includes(`${path.sep}node_modules${path.sep}`))
      delete require.cache[file];
  }
  try {
    const program = path.resolve(scenario.program ?? project.main);
    const exported = require(program);
    const outputs = {};
    for (const [key, value] of Object.entries(exported)) outputs[key] = await unwrap(value);
    // Registrations are asynchronous: wait until no new resource has arrived for a few ticks.
    let seen = -1;
    for (let still = 0; still < 3; ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      still = created.length === seen ? still + 1 : 0;
      seen = created.length;
    }
    return { name: scenario.name, ok: true, loader, resources: created, outputs };
  } catch (error) {
    // What Pulumi prints: a TSError's message names file, line and code; otherwise the error's message.
    return { name: scenario.name, ok: false, loader, error: `${error.name}: ${error.message}` };
  }
}

async function main() {
  const project = projectFile();
  if (!project.typescript) throw new Error("Pulumi.yaml does not ask for TypeScript");
  const loader = registerTypeScript();
  const scenarios = JSON.parse(fs.readFileSync(scenariosFile, "utf8"));
  for (const scenario of scenarios) {
    const result = await runScenario(scenario, project, loader);
    process.stdout.write(`PULUMI-HOST ${JSON.stringify(result)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`pulumi-host: ${error.stack}\n`);
    process.exit(1);
  },
);
