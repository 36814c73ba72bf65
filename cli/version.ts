// `keybrake --version`, read from the package itself so a checkout and an installed package both tell the truth.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** keybrake's version, from its package.json: the one next to cli/ in a checkout, or above dist/ once installed. */
export function packageVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "keybrake" && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return "unknown";
  }
}
