import { UnpriceableRequestError } from "../core/errors";
import type { ProxiedRequest } from "./adapter";

/**
 * Form-encoded parameters as a vendor reads them: the query string and the body merged (Stripe honours
 * both, even on POST). A money field must appear exactly once across both, as a plain scalar; anything
 * else is ambiguous and refused (docs/guarantees.md#7-priced-as-the-vendor-reads-it).
 */
export interface FormParams {
  entries: Array<[string, string]>;
  /** The single value of a pricing field, undefined when absent; refuses duplicates and arrays. */
  single(name: string): string | undefined;
  /** Every value of a field (Twilio repeats MediaUrl legitimately). */
  all(name: string): string[];
}

const FORM_TYPE = "application/x-www-form-urlencoded";

export function formParams(req: ProxiedRequest): FormParams {
  const entries = [...new URLSearchParams(req.query)];
  if (req.body.byteLength > 0) {
    const type = req.headers.get("content-type") ?? "";
    if (!type.toLowerCase().startsWith(FORM_TYPE)) {
      throw new UnpriceableRequestError(`this call is priced from its parameters, which must be sent as ${FORM_TYPE}`);
    }
    entries.push(...new URLSearchParams(Buffer.from(req.body).toString("utf8")));
  }
  return {
    entries,
    single(name) {
      const matches = entries.filter(([k]) => k === name || k.startsWith(`${name}[`));
      if (matches.length > 1 || matches.some(([k]) => k !== name)) {
        throw new UnpriceableRequestError(`${name} must be given exactly once, as a single value`, name);
      }
      return matches[0]?.[1];
    },
    all: (name) => entries.filter(([k]) => k === name).map(([, v]) => v),
  };
}
