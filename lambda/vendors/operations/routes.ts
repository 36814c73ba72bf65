// The closed-world route tables (docs/guarantees.md#8-closed-world): every mutating operation of a vendor's public
// API is classified priced (with the rule that prices it), free (moves no money, sends nothing billable, mints no
// credential, schedules no later charge) or refused. A mutating request whose route is in no table is refused.
// The tables are `<vendor>.routes.json`, hand-classified against `<vendor>.snapshot.json` (machine-extracted
// from the vendor's spec); this module types them and checks them when they are loaded.
import type { Vendor } from "../../core/vendors";

export const MUTATING_METHODS = ["POST", "PUT", "PATCH", "DELETE"] as const;
export type MutatingMethod = (typeof MUTATING_METHODS)[number];

export const ROUTE_CLASSES = ["priced", "free", "refused"] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];

/** The pricing rules each adapter implements today; a priced row names one of its vendor's. */
export const PRICING_RULES = {
  stripe: [
    "amount",
    "refund",
    "payment_intent_confirm",
    "payment_intent_capture",
    "payment_intent_increment",
    "charge_capture",
    "invoice_pay",
  ],
  twilio: ["message"],
  resend: ["email", "email_batch"],
} as const satisfies { [V in Vendor]: readonly string[] };
export type PricingRule<V extends Vendor = Vendor> = (typeof PRICING_RULES)[V][number];

/**
 * Final-segment forms a row answers in. Twilio's 2010 API serves each resource as `.json`, `.xml` and without
 * an extension: such a row keeps the spec's path (ending in `.json`) and lists all three.
 */
export const PATH_FORMATS = [".json", ".xml", ""] as const;
export type PathFormat = (typeof PATH_FORMATS)[number];

interface RouteRowFields {
  /** The spec's operationId (stripe-node rows: `<resource>.<method>`). */
  readonly operation: string;
  readonly method: MutatingMethod;
  /** Path template: literal segments and `{name}` parameters, each matching one whole segment. */
  readonly path: string;
  readonly formats?: readonly PathFormat[];
  /** One sentence: what the operation does with money, and so why it is in its class. */
  readonly why: string;
  /** Not in the current spec: an older spec listed it and it may still answer. */
  readonly legacy?: true;
  /** Not in the spec: the vendor's SDK calls it. */
  readonly sdkOnly?: true;
}

export type RouteRow<V extends Vendor = Vendor> =
  | (RouteRowFields & { readonly class: "priced"; readonly rule: PricingRule<V> })
  | (RouteRowFields & { readonly class: "free" | "refused"; readonly rule?: undefined });

export interface VendorRoutes<V extends Vendor = Vendor> {
  readonly vendor: V;
  /** The vendor's API or spec version the snapshot was taken from. */
  readonly specVersion: string;
  /** Where the snapshot was extracted from: repository@commit and file, or package@version. */
  readonly source: string;
  /** Where the rows that are not in the snapshot (legacy, sdkOnly) come from. */
  readonly extraSources: readonly string[];
  readonly routes: readonly RouteRow<V>[];
}

const PARAMETER = /^\{[A-Za-z_][A-Za-z0-9_]*\}$/;
const LITERAL = /^[A-Za-z0-9._~:@!$&'()+,;=-]+$/;

/**
 * The template's segments; each is a literal or a whole-segment `{name}` parameter. A formats row's path ends
 * `.json`, which is dropped here: the matcher appends each listed format to the last segment.
 */
export function templateSegments(route: { readonly path: string; readonly formats?: readonly string[] }): string[] {
  const segments = route.path.split("/").slice(1);
  if (route.formats && segments.length > 0) segments.push(segments.pop()!.replace(/\.json$/, ""));
  return segments;
}

export const isParameter = (segment: string) => PARAMETER.test(segment);

export function isMutatingMethod(method: string): method is MutatingMethod {
  return (MUTATING_METHODS as readonly string[]).includes(method);
}

/** Every reason a row is malformed (empty when it is well-formed). */
export function rowProblems(vendor: Vendor, row: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const rules: readonly string[] = PRICING_RULES[vendor];
  if (typeof row.operation !== "string" || row.operation === "") problems.push("no operation");
  if (typeof row.method !== "string" || !isMutatingMethod(row.method)) problems.push(`method ${String(row.method)}`);
  if (typeof row.path !== "string" || !row.path.startsWith("/")) problems.push("path must start with /");
  else {
    const formats = Array.isArray(row.formats) ? (row.formats as string[]) : undefined;
    const segments = templateSegments({ path: row.path, formats });
    const bad = segments.filter((s) => !PARAMETER.test(s) && !LITERAL.test(s));
    if (bad.length > 0) problems.push(`path segments ${bad.join(", ")} are neither literal nor {name}`);
    const names = segments.filter(isParameter);
    if (new Set(names).size !== names.length) problems.push("a parameter name repeats");
  }
  if (row.formats !== undefined) {
    const formats = row.formats;
    if (!Array.isArray(formats) || formats.length === 0 || formats.some((f) => !PATH_FORMATS.includes(f))) {
      problems.push("formats must list some of .json, .xml and the empty string");
    } else if (new Set(formats).size !== formats.length) problems.push("formats repeat");
    else if (typeof row.path === "string" && !row.path.endsWith(".json"))
      problems.push("a formats row's path ends .json");
  }
  if (!(ROUTE_CLASSES as readonly unknown[]).includes(row.class)) problems.push(`class ${String(row.class)}`);
  if (row.class === "priced" && !(typeof row.rule === "string" && rules.includes(row.rule))) {
    problems.push(`priced needs one of the ${vendor} rules ${rules.join(", ")}, not ${String(row.rule)}`);
  }
  if (row.class !== "priced" && row.rule !== undefined) problems.push("only a priced row names a rule");
  if (typeof row.why !== "string" || row.why.trim() === "") problems.push("no why");
  if (row.legacy !== undefined && row.legacy !== true) problems.push("legacy is true or absent");
  if (row.sdkOnly !== undefined && row.sdkOnly !== true) problems.push("sdkOnly is true or absent");
  if (row.legacy && row.sdkOnly) problems.push("a row is legacy or sdkOnly, not both");
  return problems;
}

/** Checks a parsed `<vendor>.routes.json` and types it; throws naming every malformed row. */
export function parseVendorRoutes<V extends Vendor>(vendor: V, json: unknown): VendorRoutes<V> {
  const table = json as Partial<Record<keyof VendorRoutes, unknown>>;
  if (table.vendor !== vendor) throw new Error(`${vendor} routes: the table says vendor ${String(table.vendor)}`);
  if (typeof table.specVersion !== "string" || typeof table.source !== "string") {
    throw new Error(`${vendor} routes: specVersion and source are required`);
  }
  if (!Array.isArray(table.extraSources) || !Array.isArray(table.routes)) {
    throw new Error(`${vendor} routes: extraSources and routes must be arrays`);
  }
  const problems = (table.routes as Record<string, unknown>[]).flatMap((row, i) =>
    rowProblems(vendor, row).map((p) => `row ${i} (${String(row.method)} ${String(row.path)}): ${p}`),
  );
  if (problems.length > 0) throw new Error(`${vendor} routes are malformed:\n${problems.join("\n")}`);
  return table as unknown as VendorRoutes<V>;
}
