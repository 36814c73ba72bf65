// Settings declared as data (stack config, component args, KEYBRAKE_ISSUERS, KEYBRAKE_PRICING) are checked field
// by field: a misspelled field name is an error naming it, never a setting silently left at its default. A
// misspelled ceiling would otherwise deploy as no ceiling at all, which fails open.

/** True for a plain object (not null, not an array). */
export function isPlainObject(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Refuses any field of `raw` not in `known`, naming it (`at` is the path of `raw`, e.g. `issuers.billing`). */
export function refuseUnknownFields(raw: object, known: readonly string[], at: string): void {
  const unknown = Object.keys(raw).find((field) => !known.includes(field));
  if (unknown !== undefined) throw new Error(unknownFieldError(at, unknown, known));
}

/**
 * `issuers.billing.max_daily_cap is not a known field; did you mean max_daily_usd_cap? (known: vendors, …)`: the
 * path, the closest known name when one is close, and every known name.
 */
export function unknownFieldError(
  at: string,
  unknown: string,
  known: readonly string[],
  separator = ".",
  what = "field",
): string {
  const near = closest(unknown, known);
  const hint = near === undefined ? "" : `; did you mean ${at}${separator}${near}?`;
  return `${at}${separator}${unknown} is not a known ${what}${hint} (known: ${known.join(", ")})`;
}

/** The known name nearest to `name` by edit distance, if it is near enough to be a likely typo. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(best.name.length / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Every field name of `T`, checked by the compiler both ways: `fieldsOf<PricingInput>()(["fx_usd", …])` fails the
 * type check when the list names a field `T` lacks or leaves out one it has, so the runtime list cannot drift.
 */
export function fieldsOf<T>() {
  return <const L extends ReadonlyArray<keyof T & string>>(
    list: L & ([Exclude<keyof T, L[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, L[number]> }),
  ): L => list;
}
