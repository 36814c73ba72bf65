// Small statistics helpers for the benchmark: percentiles of samples, timing of async work, and how busy the
// whole machine was meanwhile (a shared machine's load is part of every figure).
import { readFileSync } from "node:fs";

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `fn` `count` times one after another; returns each run's latency in ms. */
export async function sequentialLatencies(count: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** Runs `total` calls of `fn` from `concurrency` callers at once; returns completed calls per second. */
export async function throughput(
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await fn(next++);
    }),
  );
  return total / ((performance.now() - t) / 1000);
}

/** The whole machine's CPU time so far (all cores, every process, ours and others'), from /proc/stat; Linux only. */
export function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** The share of all cores that was busy between two `machineCpu` readings (1: every core, all the time). */
export function busyShare(from: ReturnType<typeof machineCpu>, to: ReturnType<typeof machineCpu>): number {
  if (!from || !to || to.total === from.total) return Number.NaN;
  return (to.busy - from.busy) / (to.total - from.total);
}
