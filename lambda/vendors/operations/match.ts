// Route matching for the proxy's hot path. A table is compiled once, at module load, into one trie per method:
// each node maps literal segments to children and has at most one parameter child. Matching walks the request's
// segments once, literal first: when a segment equals a literal child the walk takes it and never falls back to
// the parameter (so `/v1/invoices/create_preview` is never `{invoice}`, and a path that fails down the literal
// branch is unmatched, i.e. refused, rather than retried as a parameter). `{name}` matches one non-empty segment.
// Matching is exact and case-sensitive; no regex runs and nothing is allocated but the result.
//
// Rows with `formats` (Twilio) also end in a parameter or literal carrying the format: `Messages.json`,
// `Messages.xml` and `Messages` are three literals; `{Sid}.json` and `{Sid}.xml` are suffixed parameters tried
// after the literals and before the bare `{Sid}`. The parameter of such a last segment never contains a dot, so
// `SM1.csv` or `SM1.json.xml` match nothing.
import type { Vendor } from "../../core/vendors";
import { isParameter, type PathFormat, type RouteRow, templateSegments, type VendorRoutes } from "./routes";

export interface MatchedRoute<V extends Vendor = Vendor> {
  readonly route: RouteRow<V>;
  /** The template's parameters by name, e.g. `{ id: "pi_123" }` (a format suffix is not part of the value). */
  readonly params: Readonly<Record<string, string>>;
  /** For rows with formats: the form the request used (`.json`, `.xml` or `""`). */
  readonly format?: PathFormat;
}

interface Leaf<V extends Vendor> {
  readonly route: RouteRow<V>;
  readonly format: PathFormat | undefined;
  /** Where each parameter sits in the path, and how many format characters end its segment. */
  readonly slots: readonly { readonly name: string; readonly index: number; readonly suffixLength: number }[];
}

interface TrieNode<V extends Vendor> {
  literals: Map<string, TrieNode<V>> | undefined;
  parameter: TrieNode<V> | undefined;
  /** The leaf of a path that ends at this node. */
  leaf: Leaf<V> | undefined;
  /** Leaves of a last segment `{name}<suffix>` (suffix `.json` or `.xml`), longest suffix first. */
  suffixed: { readonly suffix: string; readonly leaf: Leaf<V> }[] | undefined;
}

export interface CompiledRoutes<V extends Vendor = Vendor> {
  readonly vendor: V;
  readonly byMethod: ReadonlyMap<string, TrieNode<V>>;
}

const newNode = <V extends Vendor>(): TrieNode<V> => ({
  literals: undefined,
  parameter: undefined,
  leaf: undefined,
  suffixed: undefined,
});

const label = (route: RouteRow) => `${route.method} ${route.path} (${route.operation})`;

/** Builds the lookup; throws when two rows match the same requests (same method and shape). */
export function compileRoutes<V extends Vendor>(table: VendorRoutes<V>): CompiledRoutes<V> {
  const byMethod = new Map<string, TrieNode<V>>();
  for (const route of table.routes) {
    const root = byMethod.get(route.method) ?? newNode<V>();
    byMethod.set(route.method, root);
    const segments = templateSegments(route);
    for (const format of route.formats ?? [undefined]) insert(root, route, segments, format);
  }
  return { vendor: table.vendor, byMethod };
}

function insert<V extends Vendor>(
  root: TrieNode<V>,
  route: RouteRow<V>,
  segments: readonly string[],
  format: PathFormat | undefined,
): void {
  const slots: { name: string; index: number; suffixLength: number }[] = [];
  let node = root;
  const last = segments.length - 1;
  for (let i = 0; i < last; i++) node = step(node, segments[i]!, i, slots);
  // A formats row's last segment comes without its `.json`; each listed format is appended to it here.
  const final = segments[last]!;
  const collision = (other: Leaf<V> | undefined) => {
    if (other) throw new Error(`${label(route)} matches the same requests as ${label(other.route)}`);
  };
  if (isParameter(final)) {
    const name = final.slice(1, -1);
    if (format) {
      node.suffixed ??= [];
      collision(node.suffixed.find((s) => s.suffix === format)?.leaf);
      slots.push({ name, index: last, suffixLength: format.length });
      node.suffixed.push({ suffix: format, leaf: { route, format, slots } });
      node.suffixed.sort((a, b) => b.suffix.length - a.suffix.length);
      return;
    }
    node.parameter ??= newNode();
    slots.push({ name, index: last, suffixLength: 0 });
    node = node.parameter;
  } else {
    node = literalChild(node, `${final}${format ?? ""}`);
  }
  collision(node.leaf);
  node.leaf = { route, format, slots };
}

function step<V extends Vendor>(
  node: TrieNode<V>,
  segment: string,
  index: number,
  slots: { name: string; index: number; suffixLength: number }[],
): TrieNode<V> {
  if (isParameter(segment)) {
    slots.push({ name: segment.slice(1, -1), index, suffixLength: 0 });
    node.parameter ??= newNode();
    return node.parameter;
  }
  return literalChild(node, segment);
}

function literalChild<V extends Vendor>(node: TrieNode<V>, segment: string): TrieNode<V> {
  node.literals ??= new Map();
  const existing = node.literals.get(segment);
  if (existing) return existing;
  const child = newNode<V>();
  node.literals.set(segment, child);
  return child;
}

/**
 * The row a request matches, with its parameters; undefined when the route is not in the table (or the method
 * is not mutating), which the proxy answers with a refusal. `segments` are decoded and validated already.
 */
export function matchRoute<V extends Vendor>(
  table: CompiledRoutes<V>,
  method: string,
  segments: readonly string[],
): MatchedRoute<V> | undefined {
  const root = table.byMethod.get(method);
  if (!root || segments.length === 0) return undefined;
  let node: TrieNode<V> = root;
  const last = segments.length - 1;
  let leaf: Leaf<V> | undefined;
  for (let i = 0; i <= last; i++) {
    const segment = segments[i]!;
    if (segment === "") return undefined;
    const literal: TrieNode<V> | undefined = node.literals?.get(segment);
    if (literal) {
      node = literal;
      continue;
    }
    if (i === last && node.suffixed) leaf = suffixedLeaf(node.suffixed, segment);
    if (leaf) break;
    if (!node.parameter) return undefined;
    node = node.parameter;
  }
  leaf ??= node.leaf;
  if (!leaf) return undefined;
  // The bare form of a formats row: a dot in its last parameter would be a format the row does not list.
  const final = leaf.slots[leaf.slots.length - 1];
  if (leaf.format === "" && final?.index === last && segments[last]!.includes(".")) return undefined;
  const params: Record<string, string> = Object.create(null);
  for (let i = 0; i < leaf.slots.length; i++) {
    const slot = leaf.slots[i]!;
    const segment = segments[slot.index]!;
    params[slot.name] = slot.suffixLength ? segment.slice(0, segment.length - slot.suffixLength) : segment;
  }
  return leaf.format === undefined ? { route: leaf.route, params } : { route: leaf.route, params, format: leaf.format };
}

/** The leaf whose suffix ends the segment, provided the value before it is non-empty and has no dot of its own. */
function suffixedLeaf<V extends Vendor>(
  suffixed: readonly { readonly suffix: string; readonly leaf: Leaf<V> }[],
  segment: string,
): Leaf<V> | undefined {
  const dot = segment.indexOf(".");
  for (let i = 0; i < suffixed.length; i++) {
    const { suffix, leaf } = suffixed[i]!;
    if (dot > 0 && dot === segment.length - suffix.length && segment.endsWith(suffix)) return leaf;
  }
  return undefined;
}
