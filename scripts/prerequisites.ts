import { execFile } from "node:child_process";
import { promisify } from "node:util";

/**
 * The README's Python example runs in the suite with Debian's python3-stripe and python3-httpx. On a
 * Debian machine where we are root (CI, the project's dev machines) they are installed when missing;
 * anywhere else the suite says in one line what to install.
 */
const run = promisify(execFile);
const PACKAGES = ["python3-stripe", "python3-httpx"];

async function pythonHasDeps(): Promise<boolean> {
  return run("/usr/bin/python3", ["-c", "import stripe, httpx"]).then(
    () => true,
    () => false,
  );
}

export async function ensurePythonExampleDeps(): Promise<void> {
  if (await pythonHasDeps()) return;
  const canApt =
    process.getuid?.() === 0 &&
    (await run("apt-get", ["--version"]).then(
      () => true,
      () => false,
    ));
  if (!canApt)
    throw new Error(
      `the Python example test needs /usr/bin/python3 with stripe and httpx: apt-get install ${PACKAGES.join(" ")}`,
    );
  console.log(`keybrake tests: installing ${PACKAGES.join(" ")} for the Python example test`);
  await run("apt-get", ["update", "-qq"]);
  await run("apt-get", ["install", "-y", "-qq", ...PACKAGES], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (!(await pythonHasDeps()))
    throw new Error(`installed ${PACKAGES.join(" ")} but /usr/bin/python3 still cannot import them`);
}
