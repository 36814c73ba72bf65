// The benchmark's processes talk over Node's IPC channel: the parent sends `{id, command, args}`, the worker
// answers `{id, result}` or `{id, error}`. Each worker runs under tsx, with `--expose-gc` for its RSS figure.
import { type ChildProcess, fork } from "node:child_process";

type Handlers = Record<string, (args: never) => unknown>;

interface Message {
  id: number;
  command: string;
  args: unknown;
}

/** In a worker: answer the parent's commands with `handlers`, then say `ready` (with what `ready` carries). */
export function serveCommands(handlers: Handlers, ready: unknown = {}): void {
  process.on("message", async (message: Message) => {
    try {
      const handler = handlers[message.command];
      if (!handler) throw new Error(`unknown command ${message.command}`);
      process.send!({ id: message.id, result: await handler(message.args as never) });
    } catch (error) {
      process.send!({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  });
  process.send!({ id: 0, result: ready });
}

export interface Worker {
  /** What the worker said when it was ready. */
  ready: Record<string, unknown>;
  call<T>(command: string, args?: unknown): Promise<T>;
  /** Process id, for the CPU-time and profile notes. */
  pid: number;
  stop(): Promise<void>;
}

/** Starts `file` as a worker process and waits for it to be ready. */
export async function startWorker(
  file: string,
  env: NodeJS.ProcessEnv,
  execArgv: string[] = [],
  options: { quiet?: boolean; node?: string } = {},
): Promise<Worker> {
  const child: ChildProcess = fork(file, [], {
    env,
    execPath: options.node ?? process.execPath,
    execArgv: ["--expose-gc", "--import", "tsx", ...execArgv],
    // quiet: what the worker prints is dropped (a Lambda handler's log lines), though it still pays for writing it.
    stdio: ["ignore", options.quiet ? "ignore" : "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 1;
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    waiting.set(0, { resolve: resolve as (v: unknown) => void, reject });
  });
  child.on("message", (m: { id: number; result?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(`${file}: ${m.error}`));
    else w?.resolve(m.result);
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      for (const w of waiting.values()) w.reject(new Error(`${file} exited (${code ?? signal})`));
      waiting.clear();
      resolve();
    }),
  );
  return {
    ready: await ready,
    pid: child.pid!,
    call<T>(command: string, args?: unknown) {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, command, args } satisfies Message);
      });
    },
    /** Waits for the worker to exit after its `close` (a CPU profile is written then), or ends it after 10 s. */
    async stop() {
      const timer = setTimeout(() => child.kill("SIGTERM"), 10_000);
      if (child.exitCode === null && child.signalCode === null && !child.connected) child.kill("SIGTERM");
      await exited;
      clearTimeout(timer);
    },
  };
}

/** This process's CPU time in user mode and in the kernel, in microseconds. */
export function cpuSplit(): { user: number; system: number } {
  return process.cpuUsage();
}

/** This process's CPU time (user + system) in microseconds. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
