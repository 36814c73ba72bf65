// What stderr shows while Logs Insights queries run. On a terminal: one line redrawn in place (spinner,
// elapsed seconds, records scanned so far). Anywhere else (a pipe, a CI log): a single plain line, so
// captured output holds no carriage returns or animation frames.

export interface Progress {
  /** The latest `statistics.recordsScanned` of one query. */
  scanned(queryId: string, records: number): void;
  /** Clears the line; call before printing results or an error. */
  done(): void;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

export function queryProgress(stream: ProgressStream, logGroups: number, now: () => number = Date.now): Progress {
  const what = `querying ${logGroups} log group${logGroups === 1 ? "" : "s"}…`;
  if (!stream.isTTY) {
    stream.write(`${what}\n`);
    return { scanned: () => {}, done: () => {} };
  }
  const started = now();
  const scanned = new Map<string, number>();
  let frame = 0;
  const draw = () => {
    // Concurrent queries scan the same events: show the furthest one, not a sum.
    const records = Math.max(0, ...scanned.values());
    const seconds = Math.floor((now() - started) / 1000);
    stream.write(
      `\r\x1b[K${FRAMES[frame++ % FRAMES.length]} ${what} ${seconds}s, ${records.toLocaleString("en-US")} records scanned`,
    );
  };
  draw();
  const timer = setInterval(draw, 100);
  timer.unref();
  let finished = false;
  return {
    scanned(queryId, records) {
      scanned.set(queryId, records);
      if (!finished) draw();
    },
    done() {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      stream.write("\r\x1b[K");
    },
  };
}
