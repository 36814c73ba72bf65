// The handler bundles as Lambda's nodejs22.x runs them: each alone in its own folder as `index.js`, nothing beside it
// (no node_modules, no NODE_PATH: the AWS SDK is inside the bundle), required by a Node 22 binary with Lambda's flags
// and invoked with API Gateway events, its AWS calls going to DynamoDB Local and a fake Secrets Manager through the
// standard endpoint variables and its credentials coming from the environment, as Lambda gives them.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { BUNDLE_OPTIONS, bundleHandler, HANDLERS } from "../../components/bundle";
import { sha256Hex } from "../../lambda/core/vault-key";
import { createDynamoClient, localDynamoConfig } from "../../lambda/ledger/dynamo";
import { ensureLedgerTable } from "../../lambda/ledger/table";
import { type FakeSecretsManager, startFakeSecretsManager } from "../support/fake-secrets-manager";
import { type FakeVendors, SECRETS, startFakeVendors } from "../support/fake-vendors";
import { apiGatewayEvent } from "../support/lambda-events";
import { ensureNode22, LAMBDA_NODE_FLAGS } from "../support/node22";
import { dynamoEndpoint } from "../support/stack";

const run = promisify(execFile);
const ISSUER_TOKEN = "kbt_bundles_0123456789abcdef";
const STRIPE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keybrake-stripe";

/** Requires the bundle, then invokes its handler with each event in turn (one warm instance); writes the results. */
const RUNNER = `
const [bundle, events, out] = process.argv.slice(2);
const { handler } = require(bundle);
(async () => {
  const results = [];
  for (const event of JSON.parse(require("node:fs").readFileSync(events, "utf8"))) {
    const context = { awsRequestId: String(results.length), getRemainingTimeInMillis: () => 30000 };
    results.push(await handler(event, context));
  }
  require("node:fs").writeFileSync(out, JSON.stringify(results));
})().catch((error) => { console.error(error); process.exit(1); });
`;

interface Result {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}

describe("handler bundles run alone under Node 22, as Lambda runs them", () => {
  let node: string;
  let dir: string;
  let vendors: FakeVendors;
  let secretsManager: FakeSecretsManager;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    node = (await ensureNode22()) ?? process.execPath;
    dir = mkdtempSync(join(tmpdir(), "keybrake-bundles-"));
    vendors = await startFakeVendors();
    secretsManager = await startFakeSecretsManager({ [STRIPE_ARN]: SECRETS.STRIPE_SECRET_KEY });
    const endpoint = await dynamoEndpoint();
    const table = `b_${randomBytes(6).toString("hex")}`;
    const db = createDynamoClient(localDynamoConfig(endpoint));
    await ensureLedgerTable(db, table);
    db.destroy();
    writeFileSync(join(dir, "runner.cjs"), RUNNER);
    // Only what Lambda and the component set: no NODE_PATH, a HOME that does not exist, credentials in the env.
    env = {
      PATH: process.env.PATH,
      HOME: join(dir, "no-home"),
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_SESSION_TOKEN: "session",
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.url,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      KEYBRAKE_TABLE: table,
      KEYBRAKE_ENABLED_VENDORS: "stripe",
      KEYBRAKE_STRIPE_SECRET_ARN: STRIPE_ARN,
      KEYBRAKE_STRIPE_URL: vendors.stripe.url,
      KEYBRAKE_ISSUERS: JSON.stringify({ billing: { token_sha256: sha256Hex(ISSUER_TOKEN) } }),
    };
  });
  after(async () => {
    await vendors.close();
    await secretsManager.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes the handler's bundle alone in its folder and invokes it with `events` in one fresh Node process. */
  async function invoke(name: "issuer" | "proxy", events: object[]): Promise<Result[]> {
    const folder = join(dir, name);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "index.js"), bundleHandler(HANDLERS[name]).code);
    writeFileSync(join(folder, "events.json"), JSON.stringify(events));
    const out = join(folder, "results.json");
    await run(
      node,
      [...LAMBDA_NODE_FLAGS, join(dir, "runner.cjs"), join(folder, "index.js"), join(folder, "events.json"), out],
      {
        cwd: folder,
        env,
        maxBuffer: 1 << 24,
      },
    );
    return JSON.parse(readFileSync(out, "utf8")) as Result[];
  }

  it("each bundle needs nothing but Node's built-in modules", () => {
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const { buildSync } = require("esbuild") as typeof import("esbuild");
    for (const name of ["issuer", "proxy", "sweep"] as const) {
      // What esbuild left outside the bundle (its metafile), not a scan of the code: an error message may quote
      // a require("…") it never runs.
      const { metafile } = buildSync({
        ...BUNDLE_OPTIONS,
        entryPoints: [HANDLERS[name]],
        absWorkingDir: join(__dirname, "..", ".."),
        metafile: true,
      });
      const external = Object.values(metafile.outputs).flatMap((output) =>
        output.imports.filter((i) => i.external).map((i) => i.path),
      );
      assert.deepEqual(
        external.filter((m) => !builtins.has(m)),
        [],
        `${name} requires only built-in modules`,
      );
      assert.ok(!existsSync(join(dir, "node_modules")));
    }
  });

  it("issues a key, forwards a priced call with the real secret read from Secrets Manager, and refuses over the cap", async () => {
    const [issued] = await invoke("issuer", [
      apiGatewayEvent(
        "POST",
        "/vault/keys",
        { authorization: `Bearer ${ISSUER_TOKEN}`, "content-type": "application/json" },
        JSON.stringify({
          vendor: "stripe",
          daily_usd_cap: 10,
          allowed_endpoints: ["POST /v1/payment_intents"],
          expires_in: "5m",
          agent_run_label: "bundles/run",
        }),
      ),
    ]);
    assert.equal(issued!.statusCode, 201, issued!.body);
    const vaultKey = (JSON.parse(issued!.body!) as { vault_key: string }).vault_key;
    const charge = (amount: number) =>
      apiGatewayEvent(
        "POST",
        "/stripe/v1/payment_intents",
        { authorization: `Bearer ${vaultKey}`, "content-type": "application/x-www-form-urlencoded" },
        `amount=${amount}&currency=usd`,
      );
    const [forwarded, refused] = await invoke("proxy", [charge(600), charge(600)]);
    assert.equal(forwarded!.statusCode, 200, forwarded!.body);
    assert.equal(refused!.statusCode, 429, refused!.body);
    assert.equal(refused!.headers?.["stripe-should-retry"], "false");
    assert.deepEqual(secretsManager.requests, [STRIPE_ARN], "one Secrets Manager read, cached after");
    const upstream = vendors.stripe.received;
    assert.equal(upstream.length, 1, "the refused call reached no vendor");
    assert.equal(upstream[0]!.headers.authorization, `Bearer ${SECRETS.STRIPE_SECRET_KEY}`);
  });
});
