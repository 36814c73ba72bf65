// Runs documented examples for real: a session of shell commands in one bash (state such as exported variables carries
// from one command to the next, as in a reader's terminal), each command's output and exit status captured on its own;
// and long-running commands (`npm start`) in their own process group.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, type Step } from "./markdown";

export interface RanStep extends Step {
  output: string;
  status: number;
}

/** The environment a reader's fresh terminal has: no KEYBRAKE_, AWS_ or npm_ variables inherited from the suite. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const keep = Object.entries(process.env).filter(
    ([name, value]) =>
      value !== undefined && !/^(KEYBRAKE_|AWS_|PULUMI_|TS_NODE_|npm_|NODE_OPTIONS|NODE_TEST)/.test(name),
  ) as [string, string][];
  return { ...Object.fromEntries(keep), ...extra };
}

/** A folder where `npx keybrake` is this checkout's CLI, as it is in the checkout, without writing into it. */
export function checkoutCliDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "keybrake-docs-"));
  mkdirSync(join(dir, "node_modules", ".bin"), { recursive: true });
  symlinkSync(join(ROOT, "bin", "keybrake.js"), join(dir, "node_modules", ".bin", "keybrake"));
  return dir;
}

/** Replaces each key of `substitute` by its value in every command (e.g. the documented port by the real one). */
function substituted(command: string, substitute: Record<string, string>): string {
  let text = command;
  for (const [from, to] of Object.entries(substitute)) text = text.split(from).join(to);
  return text;
}

export async function runSession(
  steps: Step[],
  options: { cwd: string; env: Record<string, string>; substitute?: Record<string, string>; timeoutMs?: number },
): Promise<RanStep[]> {
  const marker = (i: number) => `@@keybrake-step ${i}@@`;
  const script = [
    "exec 2>&1",
    ...steps.flatMap((step, i) => [
      `printf '\\n${marker(i)}\\n'`,
      substituted(step.command, options.substitute ?? {}),
      `printf '\\n@@status %d@@\\n' "$?"`,
    ]),
  ].join("\n");
  const child = spawn("bash", ["-c", script], {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
  await new Promise((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  return steps.map((step, i) => {
    const start = output.indexOf(`${marker(i)}\n`);
    if (start < 0) throw new Error(`the session stopped before step ${i} (${step.command}):\n${output}`);
    const rest = output.slice(start + marker(i).length + 1);
    const end = /\n@@status (\d+)@@\n/.exec(rest);
    if (!end) throw new Error(`step ${i} (${step.command}) did not finish:\n${rest}`);
    return { ...step, output: rest.slice(0, end.index), status: Number(end[1]) };
  });
}

/** A long-running command (local mode), started in its own process group so a Ctrl-C can reach all of it. */
export interface Background {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in the output so far or to come; rejects if the process ends first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** True while any process of its group lives (Java included: it runs in the same group). */
  groupAlive(): boolean;
  /** Waits until every process of the group is gone; false if some are left after `timeoutMs`. */
  groupGone(timeoutMs?: number): Promise<boolean>;
}

const started = new Set<Background>();

/**
 * Kills (SIGKILL) every process group `background` started that is still alive: call it in `after`, so a test that
 * failed half-way leaves nothing running, and nothing holding this file's pipes open (which would hang the run).
 */
export function killBackgrounds(): void {
  for (const bg of started) if (bg.groupAlive()) process.kill(-bg.child.pid!, "SIGKILL");
  started.clear();
}

export function background(command: string, args: string[], options: { cwd: string; env: Record<string, string> }) {
  const child = spawn(command, args, { ...options, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  const waiters = new Set<() => void>();
  const onData = (c: Buffer) => {
    text += c.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const groupAlive = () => {
    try {
      process.kill(-child.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  const bg: Background = {
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(text);
          if (m) {
            done();
            resolve(m);
          }
        };
        const onExit = () => {
          done();
          reject(new Error(`${command} exited before printing ${pattern}:\n${text}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${command} did not print ${pattern} within ${timeoutMs} ms:\n${text}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.removeListener("exit", onExit);
        };
        waiters.add(check);
        child.once("exit", onExit);
        check();
      });
    },
    groupAlive,
    async groupGone(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (groupAlive()) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 100));
      }
      return true;
    },
  };
  started.add(bg);
  return bg;
}

/** Nothing accepts connections on this port now, or within `withinMs` (a process still dying may hold it briefly). */
export async function portClosed(port: number, withinMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (!(await accepts(port))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
