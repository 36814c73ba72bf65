// The package is the product: this checkout packed as docs/cli.md says (`npm pack` builds first), installed into a
// fresh project outside the repository the way the docs say, first alone (the CLI and `keybrake local`, no dev
// dependency, no Pulumi), then with its peer dependencies (docs/deploy.md's component snippet, type-checked with the
// project's TypeScript and loaded as `pulumi up` loads a program). The npm cache is warm after `npm ci`; the Pulumi
// packages are pinned to this checkout's versions so the install stays offline-fast.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { bundleHandler, HANDLERS } from "../../components/bundle";
import { type FakeVendors, SECRETS, startFakeVendors } from "../support/fake-vendors";
import { ROOT, shellSteps, snippet } from "../support/markdown";
import { background, cleanEnv, killBackgrounds, portClosed, runSession } from "../support/sessions";

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
};
const versionOf = (name: string) => (createRequire(`${ROOT}/`)(`${name}/package.json`) as { version: string }).version;
const PEERS = ["@pulumi/pulumi", "@pulumi/aws", "@pulumi/random"];

describe("the packed package, installed in a fresh project", () => {
  let work: string;
  let project: string;
  let tarball: string;
  let files: string[];
  let env: Record<string, string>;
  let vendors: FakeVendors;
  const install = shellSteps(snippet("docs/cli.md", "install-tarball"));

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "keybrake-package-"));
    project = join(work, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), '{ "name": "kb-user", "version": "1.0.0", "private": true }\n');
    env = cleanEnv({
      npm_config_prefer_offline: "true",
      npm_config_audit: "false",
      npm_config_fund: "false",
      npm_config_update_notifier: "false",
      HOME: work, // no ~/.aws or ~/.cache of this machine's user leaks in
    });
    // docs/cli.md's commands, `/tmp` being this test's folder: pack in the checkout, install in the project.
    const [pack, ...inProject] = install;
    assert.match(pack!.command, /^npm pack /);
    const packed = await runSession([pack!], { cwd: ROOT, env, substitute: { "/tmp": work }, timeoutMs: 240_000 });
    assert.equal(packed[0]!.status, 0, packed[0]!.output);
    tarball = join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);
    files = (await run("tar", ["tzf", tarball])).stdout.split("\n").filter(Boolean);
    const ran = await runSession(inProject, { cwd: project, env, substitute: { "/tmp": work }, timeoutMs: 240_000 });
    for (const step of ran) assert.equal(step.status, 0, `${step.command}:\n${step.output}`);
    const [installed, version, help] = ran;
    assert.match(installed!.command, /^npm install \S+keybrake-[\d.]+\.tgz/);
    assert.equal(version!.output.trim(), pkg.version);
    assert.match(help!.output, /^Usage: keybrake /m);
    vendors = await startFakeVendors();
  });
  after(async () => {
    killBackgrounds();
    await vendors?.close();
    rmSync(work, { recursive: true, force: true }); // the project's node_modules: hundreds of MB a run
  });

  const inTarball = (path: string) => files.includes(`package/${path.replace(/^\.\//, "")}`);

  it("holds what main, types, exports and bin name, the prebuilt handlers and the docs, and no sources", () => {
    for (const path of [pkg.main, pkg.types, ...Object.values(pkg.bin), "dist/cli/main.js", "package.json"])
      assert.ok(inTarball(path), `${path} is in the tarball`);
    for (const target of Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e))))
      assert.ok(inTarball(target), `exports' ${target} is in the tarball`);
    for (const name of Object.keys(HANDLERS)) assert.ok(inTarball(`dist/handlers/${name}.js`));
    assert.ok(inTarball("README.md") && inTarball("docs/deploy.md") && inTarball("Pulumi.example.yaml"));
    const sources = files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
    assert.deepEqual(sources, [], "no TypeScript sources");
    assert.deepEqual(
      files.filter((f) => /^package\/(test|bench|scripts|\.cache|node_modules)\//.test(f)),
      [],
    );
  });

  it("ships handler bundles byte for byte the ones this checkout builds, tests and benchmarks", async () => {
    const { stdout } = await run("tar", ["xzOf", tarball, "package/dist/handlers/proxy.js"], { maxBuffer: 1 << 24 });
    assert.equal(stdout, bundleHandler(HANDLERS.proxy).code);
  });

  it("the CLI alone: no dev dependency, no Pulumi, and `keybrake --version` from package.json", () => {
    const installed = readdirSync(join(project, "node_modules"));
    for (const dev of ["tsx", "esbuild", "typescript", "@biomejs", "@pulumi"])
      assert.ok(!installed.includes(dev), `${dev} was installed with the CLI`);
  });

  it("keybrake local from the installed package: DynamoDB Local from the user cache, a capped call, its audit, and SIGTERM to npx stops it all", async () => {
    // The default cache, $XDG_CACHE_HOME/keybrake, holding the jar this checkout already fetched.
    const cache = join(work, "xdg-cache");
    mkdirSync(join(cache, "keybrake", "dynamodb-local"), { recursive: true });
    const jar = join(ROOT, ".cache", "dynamodb-local");
    for (const version of readdirSync(jar))
      symlinkSync(join(jar, version), join(cache, "keybrake", "dynamodb-local", version));
    const auditFile = join(work, "audit.jsonl");
    const local = background("npx", ["keybrake", "local"], {
      cwd: project,
      env: {
        ...env,
        XDG_CACHE_HOME: cache,
        KEYBRAKE_PORT: "0",
        KEYBRAKE_AUDIT_FILE: auditFile,
        STRIPE_SECRET_KEY: SECRETS.STRIPE_SECRET_KEY,
        KEYBRAKE_STRIPE_URL: vendors.stripe.url,
      },
    });
    try {
      const exported = await local.waitFor(
        /^In another terminal: export KEYBRAKE_URL=(\S+) KEYBRAKE_API_KEY=(\S+)$/m,
        90_000,
      );
      const [, url, token] = exported as unknown as [string, string, string];
      await local.waitFor(/^Ctrl-C stops it/m);
      const out = local.output();
      assert.ok(!out.includes("downloading"), "the jar came from $XDG_CACHE_HOME/keybrake");
      assert.ok(out.includes(`    stripe  ${vendors.stripe.url}  (KEYBRAKE_STRIPE_URL)`), out);
      assert.ok(!out.includes("NodeVersionSupportWarning"), out);

      const issued = await fetch(`${url}/vault/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({
          vendor: "stripe",
          daily_usd_cap: 10,
          allowed_endpoints: ["POST /v1/payment_intents"],
          expires_in: "5m",
          agent_run_label: "package/cus_1",
        }),
      });
      const key = (await issued.json()) as { vault_key: string; key_id: string };
      const pay = (amount: number) =>
        fetch(`${url}/stripe/v1/payment_intents`, {
          method: "POST",
          headers: { authorization: `Bearer ${key.vault_key}` },
          body: new URLSearchParams({ amount: String(amount), currency: "usd" }),
        });
      assert.equal((await pay(500)).status, 200);
      assert.equal((await pay(900)).status, 429, "the cap holds");
      assert.equal(vendors.stripe.received.length, 1);

      // The installed CLI: audit from local mode's file, and the key commands without the CloudWatch client.
      const probe = join(work, "probe.cjs");
      writeFileSync(
        probe,
        'process.on("exit", () => { if (Object.keys(require.cache).some((p) => p.includes("client-cloudwatch-logs"))) process.stderr.write("cloudwatch-logs was loaded\\n"); });\n',
      );
      const cli = (args: string[], extra: Record<string, string> = {}) =>
        run("npx", ["keybrake", ...args], {
          cwd: project,
          env: { ...env, KEYBRAKE_URL: url, KEYBRAKE_API_KEY: token, KEYBRAKE_AUDIT_FILE: auditFile, ...extra },
        });
      await new Promise((r) => setTimeout(r, 300)); // the audit file is appended after the answer
      const audit = JSON.parse((await cli(["audit", "--json"])).stdout) as { totals: unknown[] };
      assert.deepEqual(audit.totals, [
        { agent_run_label: "package/cus_1", calls: 2, refused: 1, spent_usd: 5, unsettled_usd: 0 },
      ]);
      const show = await cli(["keys", "show", key.key_id], { NODE_OPTIONS: `--require ${probe}` });
      assert.match(show.stdout, /^spent_today +5\.00$/m);
      assert.equal(show.stderr, "", "no CloudWatch Logs client, no SDK notice");

      const noUrl = await run("npx", ["keybrake", "spend"], { cwd: project, env }).then(
        () => assert.fail("expected a usage error"),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(noUrl.code, 2);
      assert.equal(
        noUrl.stderr,
        "keybrake: KEYBRAKE_URL is not set and there is no AWS region: for local mode, export " +
          "KEYBRAKE_URL=http://127.0.0.1:8787 (or pass --local); for CloudWatch Logs on AWS, set AWS_REGION (or pass --region)\n",
      );

      const ddbPort = Number(/DynamoDB {7}http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
      process.kill(local.child.pid!, "SIGTERM"); // npx alone, as a process manager would
      assert.ok(await local.groupGone(), `left running:\n${local.output()}`);
      assert.ok(await portClosed(Number(new URL(url).port)));
      assert.ok(await portClosed(ddbPort), "DynamoDB Local stopped");
    } finally {
      killBackgrounds();
    }
  });

  describe("with its peer dependencies: the Pulumi component", () => {
    before(async () => {
      const peers = [...PEERS, "typescript", "@types/node"].map((name) => `${name}@${versionOf(name)}`);
      await run("npm", ["install", tarball, ...peers], { cwd: project, env, timeout: 240_000 });
      writeFileSync(join(project, "index.ts"), snippet("docs/deploy.md", "component-snippet"));
      writeFileSync(
        join(project, "tsconfig.json"),
        `${JSON.stringify({
          compilerOptions: {
            strict: true,
            target: "es2022",
            module: "nodenext",
            moduleResolution: "nodenext",
            noUncheckedIndexedAccess: true,
            exactOptionalPropertyTypes: true,
            skipLibCheck: false,
            types: ["node"],
            outDir: "bin",
          },
          files: ["index.ts"],
        })}\n`,
      );
      writeFileSync(
        join(project, "Pulumi.yaml"),
        "name: kb-user\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nmain: index.ts\n",
      );
    });

    it("docs/deploy.md's snippet type-checks against the shipped types (skipLibCheck off)", async () => {
      const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
      await run(process.execPath, [tsc, "--noEmit", "-p", "."], { cwd: project });
      // A misspelled ceiling in a TypeScript program is caught before anything runs.
      writeFileSync(
        join(project, "typo.ts"),
        snippet("docs/deploy.md", "component-snippet").replace("max_daily_usd_cap", "max_daily_cap"),
      );
      const failed = await run(process.execPath, [tsc, "--noEmit", "--strict", "--module", "nodenext", "typo.ts"], {
        cwd: project,
      }).then(
        () => assert.fail("the typo type-checked"),
        (e: { stdout: string }) => e.stdout,
      );
      assert.match(
        failed,
        /typo\.ts\(\d+,\d+\): error TS2561: .*'max_daily_cap' does not exist.*Did you mean to write 'max_daily_usd_cap'/,
      );
    });

    it("docs/deploy.md's snippet deploys under mocks as `pulumi up` loads it, from the prebuilt handlers", async () => {
      const scenarios = join(work, "scenarios.json");
      writeFileSync(
        scenarios,
        JSON.stringify([
          { name: "user", config: { "kb-user:stripeSecretKey": "sk_test_x" }, secretKeys: ["kb-user:stripeSecretKey"] },
        ]),
      );
      const { stdout } = await run(
        process.execPath,
        [join(ROOT, "test", "support", "pulumi-host.cjs"), project, scenarios],
        {
          cwd: project,
          env: { ...env, TS_NODE_CACHE_DIRECTORY: join(work, "ts-node") },
          timeout: 240_000,
        },
      );
      const result = JSON.parse(
        stdout
          .split("\n")
          .find((l) => l.startsWith("PULUMI-HOST "))!
          .slice(12),
      ) as {
        ok: boolean;
        error?: string;
        resources: { type: string }[];
        outputs: Record<string, unknown>;
      };
      assert.equal(result.error, undefined);
      assert.equal(result.resources.filter((r) => r.type === "aws:lambda/function:Function").length, 3);
      assert.deepEqual(Object.keys(result.outputs.tokens as object), ["billing"]);
      assert.ok(
        !readdirSync(join(project, "node_modules")).includes("esbuild"),
        "no bundler: the bundles came prebuilt",
      );
    });

    it("imports from CommonJS and ES modules, and exposes its package.json", async () => {
      const cjs = await run(process.execPath, ["-e", 'console.log(typeof require("keybrake").VaultKeyProxy)'], {
        cwd: project,
      });
      assert.equal(cjs.stdout.trim(), "function");
      const esm = await run(
        process.execPath,
        ["--input-type=module", "-e", 'import { VaultKeyProxy } from "keybrake"; console.log(typeof VaultKeyProxy)'],
        { cwd: project },
      );
      assert.equal(esm.stdout.trim(), "function");
      const version = await run(process.execPath, ["-p", 'require("keybrake/package.json").version'], { cwd: project });
      assert.equal(version.stdout.trim(), pkg.version);
    });
  });
});
