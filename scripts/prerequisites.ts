// What the integration tier needs beyond Node and Java: Debian's python3-stripe and python3-httpx for the README's
// Python example, and curl and jq for the README's curl session, run as written. On a Debian machine where we are
// root (CI, the project's dev machines) they are installed when missing; anywhere else the suite says in one line
// what to install.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const works = (file: string, args: string[]) =>
  run(file, args).then(
    () => true,
    () => false,
  );

const NEEDS: Array<{ packages: string[]; why: string; present: () => Promise<boolean> }> = [
  {
    packages: ["python3-stripe", "python3-httpx"],
    why: "the Python example test needs /usr/bin/python3 with stripe and httpx",
    present: () => works("/usr/bin/python3", ["-c", "import stripe, httpx"]),
  },
  {
    packages: ["curl", "jq"],
    why: "the README's curl session test needs curl and jq",
    present: async () => (await works("curl", ["--version"])) && (await works("jq", ["--version"])),
  },
];

export async function ensureTestPrerequisites(say: (line: string) => void): Promise<void> {
  const missing = [];
  for (const need of NEEDS) if (!(await need.present())) missing.push(need);
  if (!missing.length) return;
  const packages = missing.flatMap((m) => m.packages);
  const canApt = process.getuid?.() === 0 && (await works("apt-get", ["--version"]));
  if (!canApt) throw new Error(`${missing.map((m) => m.why).join("; ")}: apt-get install ${packages.join(" ")}`);
  say(`installing ${packages.join(" ")} (apt-get)`);
  await run("apt-get", ["update", "-qq"]);
  await run("apt-get", ["install", "-y", "-qq", ...packages], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  for (const need of missing)
    if (!(await need.present())) throw new Error(`installed ${need.packages.join(" ")} but ${need.why}`);
}
