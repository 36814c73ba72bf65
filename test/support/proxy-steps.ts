// The proxy's pure steps on one request, for the unit tests of classification, pricing and the counterparty lock
// (pricing-rules, counterparty): a request as the proxy parses it, its quote with a fake vendor answering the
// pricing reads, and the refusal a step throws.
import assert from "node:assert/strict";
import type { CounterpartyLock } from "../../lambda/core/counterparty";
import type { PricingConfig } from "../../lambda/core/pricing";
import type { Vendor } from "../../lambda/core/vendors";
import { parseTarget } from "../../lambda/proxy/request";
import { adapters } from "../../lambda/vendors";
import type { PricingContext, ProxiedRequest, Quote } from "../../lambda/vendors/adapter";
import { readBody } from "../../lambda/vendors/body";
import { classify, quoteCall } from "../../lambda/vendors/classify";

const FORM = "application/x-www-form-urlencoded";

/** `method target` as the proxy parses it, a body starting with `{` or `[` sent as JSON, any other as a form. */
export function proxiedRequest(
  method: string,
  target: string,
  body = "",
  headers: Record<string, string> = {},
): ProxiedRequest {
  const type = body.startsWith("{") || body.startsWith("[") ? "application/json" : FORM;
  return {
    ...parseTarget({ method, target }),
    headers: new Headers(body ? { "content-type": type, ...headers } : headers),
    body: new TextEncoder().encode(body),
  };
}

export interface QuoteOptions {
  pricing: PricingConfig;
  /** The key's counterparty lock, if it has one. */
  lock?: CounterpartyLock;
  /** What the vendor answers a pricing read of each path with (200); any other path is a 404 with `missing`. */
  objects?: Record<string, unknown>;
  missing?: unknown;
  /** When given, the vendor's guard runs first with this secret, as the proxy runs it before anything else. */
  secret?: unknown;
}

/** Classify, read the body and quote as the proxy does; `reads` are the pricing reads' paths, in order. */
export async function quoteAsProxy(
  vendor: Vendor,
  req: ProxiedRequest,
  { pricing, lock, objects = {}, missing = {}, secret }: QuoteOptions,
): Promise<{ quote: Quote; reads: string[] }> {
  const adapter = adapters[vendor] as (typeof adapters)[Vendor];
  const call = classify(vendor, req);
  if (secret !== undefined) (adapter.guard as ((r: ProxiedRequest, s: unknown) => void) | undefined)?.(req, secret);
  const body = readBody(req, call.kind === "priced" ? adapter.bodyType(req.segments) : undefined);
  const reads: string[] = [];
  const ctx: PricingContext = {
    pricing,
    async lookup(path) {
      reads.push(path);
      const object = objects[path];
      return { status: object ? 200 : 404, headers: {}, body: Buffer.from(JSON.stringify(object ?? missing)) };
    },
  };
  return { quote: await quoteCall(adapter as never, call as never, req, body, ctx, lock), reads };
}

/** The error of class `type` that `work` throws (or its promise rejects with); any other error is rethrown. */
export async function refusalOf<E extends Error>(
  type: new (...args: never[]) => E,
  work: Promise<unknown>,
): Promise<E> {
  try {
    await work;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  assert.fail(`expected a ${type.name}`);
}
