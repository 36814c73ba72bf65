/** The `npm test` reporter (scripts/test-reporter.mjs, plain JavaScript: node --test loads reporters before tsx). */
export default function reporter(
  source: AsyncIterable<{ type: string; data: Record<string, unknown> }>,
): AsyncGenerator<string, void, unknown>;
