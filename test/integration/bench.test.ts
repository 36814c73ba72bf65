// `npm run bench` with tiny counts, so the script cannot rot. It asserts presence, never a timing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const FIGURES = [
  "overhead_p50_ratio",
  "overhead_p99_ratio",
  "hot_key_ratio",
  "issuance_p99_ratio",
  "ledger_writes_per_call",
  "proxy_bundle_kb",
  "issuer_bundle_kb",
  "proxy_init_ms_ratio",
  "issuer_init_ms_ratio",
  "rss_growth_ratio",
  "budget_parts_ratio_4",
  "budget_parts_ratio_8",
  "proxy_cpu_per_call_ratio",
  "issuance_cpu_ratio",
  "lambda_cpu_per_call_ratio",
  "relay_overhead_p50_ratio",
  "relay_cpu_per_call_ratio",
  "hot_key_proxy_cpu_share",
  "hot_key_machine_cpu_share",
  "hot_key_reservation_write_ratio",
  "dynamodb_client_init_ms_ratio",
];

describe("benchmark smoke run", () => {
  it("prints every figure and writes them as one JSON object of finite numbers", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "keybrake-bench-")), "figures.json");
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", "--import", "tsx", join(__dirname, "..", "..", "bench", "run.ts"), "--smoke"],
      {
        env: { ...process.env, KEYBRAKE_BENCH_OUT: out },
        timeout: 240_000,
      },
    );
    const figures = JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(figures).sort(), [...FIGURES].sort());
    for (const name of FIGURES) {
      assert.equal(typeof figures[name], "number", name);
      assert.ok(Number.isFinite(figures[name]), `${name} is finite`);
      assert.match(stdout, new RegExp(`\\| \`${name}\` \\|`), `${name} is in the printed table`);
    }
    // Minutes at full size: a line on stderr as each phase starts, so it is never silent.
    const phases = [...stderr.matchAll(/^keybrake bench \[\d+ s\]: (\w[\w ]*)/gm)].map((m) => m[1]!.trim());
    for (const phase of [
      "warming up",
      "latency",
      "one hot key",
      "issuance",
      "ledger round trips",
      "memory",
      "bundles and cold start",
    ])
      assert.ok(phases.includes(phase), `the ${phase} phase is announced: ${stderr}`);
  });
});
