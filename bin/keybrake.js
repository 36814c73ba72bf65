#!/usr/bin/env node

// The `keybrake` command. An installed (built) package runs the compiled CLI; a checkout runs the
// TypeScript sources through tsx, so `npx keybrake` works in both without a build step.
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const built = join(__dirname, "..", "dist", "cli", "main.js");
if (existsSync(built)) {
  require(built);
} else {
  require("tsx/cjs");
  require(join(__dirname, "..", "cli", "main.ts"));
}
