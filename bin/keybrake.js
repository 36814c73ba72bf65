#!/usr/bin/env node

// The `keybrake` command. An installed package runs the compiled CLI in dist/ (it never needs tsx, a dev
// dependency); a checkout, which has the TypeScript sources, runs them through tsx so `npx keybrake` always runs
// the code in front of you, never a stale build.
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
const source = join(root, "cli", "main.ts");
const built = join(root, "dist", "cli", "main.js");

function hasTsx() {
  try {
    require.resolve("tsx/cjs", { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

if (existsSync(source) && hasTsx()) {
  require("tsx/cjs");
  require(source);
} else if (existsSync(built)) {
  require(built);
} else {
  console.error("keybrake: this checkout is neither built nor installed: run `npm install` (or `npm run build`)");
  process.exit(3);
}
