// Where the handlers report what they did not expect (an error that is not a typed refusal): the Powertools
// Logger on Lambda, one JSON line on stderr in local mode. Expected refusals are audit records, not logs.
export interface Log {
  error(message: string, extra?: Record<string, unknown>): void;
}

/** An error as JSON can hold it: name, message, stack and its causes (JSON.stringify(error) gives `{}`). */
export function describeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  return { name: error.name, message: error.message, stack: error.stack, cause: describeError(error.cause) };
}

/** Local mode's log: one JSON line per error on stderr, errors with their stacks. */
export const stderrLog: Log = {
  error(message, extra = {}) {
    const fields = Object.fromEntries(Object.entries(extra).map(([name, value]) => [name, describeError(value)]));
    process.stderr.write(`${JSON.stringify({ level: "ERROR", time: new Date().toISOString(), message, ...fields })}\n`);
  },
};
