// `npm start` as real processes: what it prints, how it stops (SIGTERM to npm itself, which npm's `sh -c` does not pass
// on; SIGTERM to the server), and the one line it prints for each way it cannot start. The README's quick start test
// covers Ctrl-C.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { DynamoDbLocalError, ensureDynamoDbLocal } from "../../scripts/dynamodb-local";
import { ROOT } from "../support/markdown";
import { background, cleanEnv, killBackgrounds, portClosed } from "../support/sessions";
import { dynamoEndpoint } from "../support/stack";

const START = [join(ROOT, "scripts", "start.ts")];
const node = (env: Record<string, string>) =>
  background(process.execPath, ["--import", "tsx", ...START], {
    cwd: ROOT,
    env: { KEYBRAKE_AUDIT_FILE: join(mkdtempSync(join(tmpdir(), "kb-local-")), "audit.jsonl"), ...env },
  });

describe("npm start, as processes", () => {
  let endpoint: string;
  before(async () => {
    endpoint = await dynamoEndpoint();
  });
  after(killBackgrounds);

  it("SIGTERM to npm (as `timeout`, IDEs and process managers send it) stops the server and Java", async () => {
    const npm = background("npm", ["start"], { cwd: ROOT, env: cleanEnv({ KEYBRAKE_PORT: "0" }) });
    const url = (await npm.waitFor(/listening on (http:\/\/\S+)/, 90_000))[1]!;
    const ddbPort = Number((await npm.waitFor(/DynamoDB {7}http:\/\/127\.0\.0\.1:(\d+)/))[1]);
    process.kill(npm.child.pid!, "SIGTERM"); // npm alone: nothing reaches node but npm's going away
    assert.ok(await npm.groupGone(), `left running:\n${npm.output()}`);
    assert.ok(await portClosed(Number(new URL(url).port)), "the server stopped");
    assert.ok(await portClosed(ddbPort), "DynamoDB Local stopped");
    assert.match(npm.output(), /keybrake: npm went away: stopping\nkeybrake: stopped/);
  });

  it("SIGTERM to the server stops it, cleanly (exit 0); while it is still starting, at once (143)", async () => {
    const local = node(cleanEnv({ KEYBRAKE_PORT: "0", KEYBRAKE_DYNAMODB_ENDPOINT: endpoint }));
    const url = (await local.waitFor(/listening on (http:\/\/\S+)/))[1]!;
    await local.waitFor(/^Ctrl-C stops it/m); // serving: from here a stop is graceful
    const exited = new Promise<number | null>((resolve) => local.child.once("exit", resolve));
    local.child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.ok(await portClosed(Number(new URL(url).port)));
    assert.match(local.output(), /keybrake: SIGTERM: stopping\nkeybrake: stopped/);

    // While starting (here: waiting on a DynamoDB that accepts connections and never answers), at once.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const starting = node(
      cleanEnv({
        KEYBRAKE_PORT: "0",
        KEYBRAKE_DYNAMODB_ENDPOINT: `http://127.0.0.1:${(silent.address() as { port: number }).port}`,
      }),
    );
    await starting.waitFor(/^keybrake: using the DynamoDB at/m);
    const ended = new Promise<number | null>((resolve) => starting.child.once("exit", resolve));
    starting.child.kill("SIGTERM");
    assert.equal(await ended, 143);
    silent.close();
  });

  it("Java cannot outlive local mode, even when local mode is killed outright (SIGKILL)", async () => {
    const local = node(cleanEnv({ KEYBRAKE_PORT: "0" })); // starts its own DynamoDB Local
    const ddbPort = Number((await local.waitFor(/DynamoDB {7}http:\/\/127\.0\.0\.1:(\d+)/, 90_000))[1]);
    await local.waitFor(/^Ctrl-C stops it/m);
    local.child.kill("SIGKILL");
    assert.ok(await local.groupGone(), "Java is gone with it");
    assert.ok(await portClosed(ddbPort));
  });

  it("says loudly when a vendor's calls go to the real API, and prints a generated token to export", async () => {
    const local = node(
      cleanEnv({
        KEYBRAKE_PORT: "0",
        KEYBRAKE_DYNAMODB_ENDPOINT: endpoint,
        STRIPE_SECRET_KEY: "sk_live_not_a_real_key",
        RESEND_API_KEY: "re_x",
        KEYBRAKE_RESEND_URL: "http://127.0.0.1:9",
      }),
    );
    await local.waitFor(/^Ctrl-C stops it/m);
    local.child.kill("SIGTERM");
    await local.groupGone();
    const out = local.output();
    assert.match(out, /^ {4}stripe {2}https:\/\/api\.stripe\.com {2}\(the real API\)$/m);
    assert.match(out, /^ {4}resend {2}http:\/\/127\.0\.0\.1:9 {2}\(KEYBRAKE_RESEND_URL\)$/m);
    assert.match(out, /^ {4}twilio {2}off \(set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to enable it\)$/m);
    assert.match(
      out,
      /^!! Stripe calls go to the real Stripe API \(https:\/\/api\.stripe\.com\) with your STRIPE_SECRET_KEY, a live key: they move real money\. Set KEYBRAKE_STRIPE_URL to send them elsewhere\.$/m,
    );
    const token = /^ {2}issuer token {3}(kbt_\S+) \(generated; set KEYBRAKE_API_KEY to choose one\)$/m.exec(out)?.[1];
    assert.ok(token, out);
    assert.match(
      out,
      new RegExp(
        `^In another terminal: export KEYBRAKE_URL=http://127\\.0\\.0\\.1:\\d+ KEYBRAKE_API_KEY=${token}$`,
        "m",
      ),
    );
    assert.ok(!out.includes("NodeVersionSupportWarning"));
  });

  it("with no vendor secret, says no key can be issued", async () => {
    const local = node(cleanEnv({ KEYBRAKE_PORT: "0", KEYBRAKE_DYNAMODB_ENDPOINT: endpoint }));
    await local.waitFor(/^Ctrl-C stops it/m);
    local.child.kill("SIGTERM");
    await local.groupGone();
    assert.match(local.output(), /^!! no vendor is enabled, so no vault key can be issued: set STRIPE_SECRET_KEY/m);
  });

  describe("cannot start: one line on stderr saying what to do, no stack trace", () => {
    const blocker = createServer();
    let taken: number;
    let noJava: string;
    before(async () => {
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
      taken = (blocker.address() as { port: number }).port;
      // A PATH with node and npm but no java.
      noJava = mkdtempSync(join(tmpdir(), "kb-nojava-"));
      mkdirSync(join(noJava, "bin"));
      symlinkSync(process.execPath, join(noJava, "bin", "node"));
    });
    after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

    const cases: Array<[string, () => Record<string, string>, number, RegExp]> = [
      [
        "a DynamoDB endpoint nobody answers on",
        () => ({ KEYBRAKE_DYNAMODB_ENDPOINT: "http://127.0.0.1:1" }),
        3,
        /^keybrake: cannot reach DynamoDB at http:\/\/127\.0\.0\.1:1 \(KEYBRAKE_DYNAMODB_ENDPOINT\): ECONNREFUSED: start it, or unset KEYBRAKE_DYNAMODB_ENDPOINT/,
      ],
      [
        "the port is taken",
        () => ({ KEYBRAKE_PORT: String(taken), KEYBRAKE_DYNAMODB_ENDPOINT: endpoint }),
        2,
        /^keybrake: port \d+ is taken \(another keybrake\?\): set KEYBRAKE_PORT to a free port$/,
      ],
      [
        "a port that is not a number",
        () => ({ KEYBRAKE_PORT: "eighty" }),
        2,
        /^keybrake: KEYBRAKE_PORT must be a port number/,
      ],
      [
        "a misspelled pricing key",
        () => ({ KEYBRAKE_PRICING: '{"resend_email": "0.002"}' }),
        2,
        /^keybrake: KEYBRAKE_PRICING: pricing\.resend_email is not a known field; did you mean pricing\.resend_email_usd\?/,
      ],
      [
        "a misspelled spend cap",
        () => ({ KEYBRAKE_SPEND_CAPS: '{"deployment": {"stripe": {"daily_usd_caps": 100}}}' }),
        2,
        /^keybrake: KEYBRAKE_SPEND_CAPS\.deployment\.stripe\.daily_usd_caps is not a known field; did you mean KEYBRAKE_SPEND_CAPS\.deployment\.stripe\.daily_usd_cap\?/,
      ],
      [
        "no Java",
        () => ({ PATH: join(noJava, "bin") }),
        3,
        /^keybrake: DynamoDB Local needs Java 17\+ \(no java on PATH\): install a Java 17\+ runtime .* or set KEYBRAKE_DYNAMODB_ENDPOINT to a running DynamoDB$/,
      ],
    ];
    it("no Java, through `npx keybrake local`: the same line, exit 3, and the process ends", async () => {
      const failed = await promisify(execFile)(process.execPath, [join(ROOT, "bin", "keybrake.js"), "local"], {
        cwd: ROOT,
        env: cleanEnv({ PATH: join(noJava, "bin"), npm_lifecycle_event: "npx", KEYBRAKE_PORT: "0" }),
        timeout: 60_000,
      }).then(
        () => assert.fail("expected local mode not to start"),
        (e: { code: number; stderr: string; killed: boolean }) => e,
      );
      assert.equal(failed.killed, false, "it ended by itself");
      assert.equal(failed.code, 3);
      assert.match(failed.stderr, /^keybrake: DynamoDB Local needs Java 17\+ \(no java on PATH\)/);
      assert.equal(failed.stderr.trimEnd().split("\n").length, 1);
    });

    for (const [name, env, code, message] of cases) {
      it(name, async () => {
        const failed = await promisify(execFile)(process.execPath, ["--import", "tsx", ...START], {
          cwd: ROOT,
          env: cleanEnv({ KEYBRAKE_PORT: "0", ...env() }),
        }).then(
          () => assert.fail("expected local mode not to start"),
          (e: { code: number; stderr: string }) => e,
        );
        assert.equal(failed.code, code, failed.stderr);
        assert.equal(failed.stderr.trimEnd().split("\n").length, 1, `one line: ${failed.stderr}`);
        assert.match(failed.stderr.trimEnd(), message);
      });
    }
  });
});

describe("fetching DynamoDB Local the first time", () => {
  /** An `npm` whose `pack` takes `seconds`, then writes a small tarball shaped like amplify-dynamodb-simulator's. */
  function fakeNpm(seconds: number, fail = false): string {
    const bin = mkdtempSync(join(tmpdir(), "kb-fake-npm-"));
    const script = fail
      ? "#!/bin/sh\necho 'npm error 404 Not Found - GET https://registry.example/amplify-dynamodb-simulator' >&2\nexit 1\n"
      : [
          "#!/bin/sh",
          `sleep ${seconds}`,
          'dest="$4"; tmp=$(mktemp -d)',
          'mkdir -p "$tmp/package/emulator/DynamoDBLocal_lib" && echo jar > "$tmp/package/emulator/DynamoDBLocal.jar"',
          'tar czf "$dest/amplify-dynamodb-simulator-2.9.30.tgz" -C "$tmp" package && rm -rf "$tmp"',
          "echo amplify-dynamodb-simulator-2.9.30.tgz",
          "",
        ].join("\n");
    writeFileSync(join(bin, "npm"), script);
    chmodSync(join(bin, "npm"), 0o755);
    return bin;
  }

  it("says what it downloads, how big, where to, and that it is still at it every few seconds", async () => {
    const cache = mkdtempSync(join(tmpdir(), "kb-cache-"));
    const lines: string[] = [];
    const env = { ...process.env, KEYBRAKE_CACHE_DIR: cache, PATH: `${fakeNpm(6)}:${process.env.PATH}` };
    const dir = await ensureDynamoDbLocal((line) => lines.push(line), env);
    assert.equal(dir, join(cache, "dynamodb-local", "2.9.30"));
    assert.ok(existsSync(join(dir, "DynamoDBLocal.jar")));
    assert.match(
      lines[0]!,
      /^downloading DynamoDB Local 2\.9\.30 \(npm package amplify-dynamodb-simulator, about \d+ MB, \d+ MB unpacked; once\) into .*kb-cache-/,
    );
    assert.ok(
      lines.some((l) => /^still downloading DynamoDB Local \(\d+ s\)$/.test(l)),
      lines.join("\n"),
    );
    assert.match(lines.at(-1)!, /^DynamoDB Local 2\.9\.30 is in .* \(\d+ s\)$/);
    const again: string[] = [];
    await ensureDynamoDbLocal((line) => again.push(line), env);
    assert.deepEqual(again, [], "once fetched, silent and instant");
  });

  it("a failed download is one line saying what to do", async () => {
    const env = {
      ...process.env,
      KEYBRAKE_CACHE_DIR: mkdtempSync(join(tmpdir(), "kb-cache-")),
      PATH: `${fakeNpm(0, true)}:${process.env.PATH}`,
    };
    const error = await ensureDynamoDbLocal(() => {}, env).then(
      () => assert.fail("expected the download to fail"),
      (e: Error) => e,
    );
    assert.ok(error instanceof DynamoDbLocalError);
    assert.equal(
      error.message,
      "could not download DynamoDB Local with npm (npm error 404 Not Found - GET https://registry.example/amplify-dynamodb-simulator): " +
        "check the network and npm registry settings, or set KEYBRAKE_DYNAMODB_ENDPOINT to a running DynamoDB",
    );
  });
});
