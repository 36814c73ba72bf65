// Resend. Which operations are priced, free or refused is `operations/resend.routes.json`; its priced rows run
// `email` and `email_batch` below: one unit per `to`, `cc` and `bcc` recipient, as Resend counts them. Every
// recipient must be countable one way only, or the call is refused; amounts are integer micro-USD throughout.
import type { Ending } from "../core/ending";
import { type KeybrakeError, UnpriceableRequestError } from "../core/errors";
import {
  type PricedCall,
  type PricingRuleFn,
  parseJsonBody,
  requestHeaderAllowlist,
  type UpstreamReply,
  type VendorAdapter,
} from "./adapter";
import type { Counterparty } from "./counterparty";
import type { JsonObject, JsonValue } from "./json";
import type { PricingRule } from "./operations";

const BATCH_LIMIT = 100;
/** Resend's documented maximum for `to`. */
const TO_LIMIT = 50;
const RECIPIENT_FIELDS = ["to", "cc", "bcc"] as const;
/**
 * Custom header names that address recipients. Whether Resend delivers to them is not documented; keybrake counts
 * and locks only `to`, `cc` and `bcc`, so an email naming recipients anywhere else is refused, never guessed.
 */
const ADDRESSING_HEADERS = new Set(["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]);
/** A longer recipient string is not an address anyone sends to; refusing it also bounds the patterns below. */
const MAX_RECIPIENT_LENGTH = 512;

// One address: `local@domain`, or `Display Name <local@domain>` with the name plain or quoted. No commas or
// semicolons outside a quoted name: a list in one string could be split by Resend and counted as several.
const ADDRESS = String.raw`[^\s@<>",;()\[\]\\]+@[^\s@<>",;()\[\]\\]+`;
const PLAIN = new RegExp(`^${ADDRESS}$`);
const NAMED = new RegExp(String.raw`^(?:"(?:[^"\\\r\n]|\\[^\r\n])*"|[^"<>@,;\r\n]*)[ \t]*<${ADDRESS}>$`);

/** One recipient string, validated: exactly one address, else a refusal naming the field. */
function checkRecipient(value: string, field: string): void {
  const address = value.trim();
  if (address === "") throw new UnpriceableRequestError(`${field} has an empty recipient`, field);
  if (address.length > MAX_RECIPIENT_LENGTH || !(PLAIN.test(address) || NAMED.test(address))) {
    throw new UnpriceableRequestError(
      `${field} must hold one address per string (a@b.com or Name <a@b.com>); keybrake cannot count ${JSON.stringify(address.slice(0, 80))} unambiguously`,
      field,
    );
  }
}

/** How many emails one recipient field costs. */
function countField(email: JsonObject, field: (typeof RECIPIENT_FIELDS)[number]): number {
  const value = email[field];
  if (value === undefined || (value === null && field !== "to")) return 0;
  if (typeof value === "string") {
    checkRecipient(value, field);
    return 1;
  }
  if (Array.isArray(value)) {
    for (const entry of value) {
      if (typeof entry !== "string") throw new UnpriceableRequestError(`${field} must list strings only`, field);
      checkRecipient(entry, field);
    }
    if (field === "to" && value.length > TO_LIMIT) {
      throw new UnpriceableRequestError(`to lists more than ${TO_LIMIT} recipients`, field);
    }
    return value.length;
  }
  throw new UnpriceableRequestError(`${field} must be a string or an array of strings`, field);
}

/** The emails a body holds: one object, or a batch array of 1 to 100; each checked for keys that differ only in case. */
function emailsOf(value: JsonValue, batch: boolean): JsonObject[] {
  const emails = batch ? value : [value];
  if (!Array.isArray(emails) || emails.length === 0 || emails.length > BATCH_LIMIT) {
    throw new UnpriceableRequestError(
      batch ? `a batch must be a JSON array of 1 to ${BATCH_LIMIT} emails` : "the body must be a JSON object",
    );
  }
  for (const email of emails) {
    if (typeof email !== "object" || email === null || Array.isArray(email)) {
      throw new UnpriceableRequestError("each email must be a JSON object");
    }
    // A struct-binding JSON decoder (Go's, for one) matches keys in any case: `To` would be read as `to`.
    const seen = new Set<string>();
    for (const key of Object.keys(email)) {
      const folded = key.toLowerCase();
      if (seen.has(folded)) {
        throw new UnpriceableRequestError(`an email gives ${JSON.stringify(key)} twice, in different cases`, key);
      }
      seen.add(folded);
      if (folded !== key && (RECIPIENT_FIELDS as readonly string[]).includes(folded)) {
        throw new UnpriceableRequestError(
          `write ${folded} in lower case: keybrake cannot tell how ${key} is read`,
          key,
        );
      }
      if (folded === "headers") checkCustomHeaders(email[key], key);
    }
  }
  return emails as JsonObject[];
}

/** Refuses custom headers that would name recipients besides the `to`, `cc` and `bcc` keybrake counts. */
function checkCustomHeaders(headers: JsonValue | undefined, field: string): void {
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) return; // Resend refuses it
  for (const name of Object.keys(headers)) {
    if (ADDRESSING_HEADERS.has(name.trim().toLowerCase())) {
      throw new UnpriceableRequestError(
        `${field} may not set ${JSON.stringify(name)}: name recipients in to, cc or bcc, which keybrake counts`,
        field,
      );
    }
  }
}

/** The emails one email object costs: its `to`, `cc` and `bcc` recipients (`to` must name at least one). */
function unitsOf(email: JsonObject): number {
  if (email.to === undefined || email.to === null) throw new UnpriceableRequestError("to is required", "to");
  const to = countField(email, "to");
  if (to === 0) throw new UnpriceableRequestError("to must name at least one recipient", "to");
  return to + countField(email, "cc") + countField(email, "bcc");
}

/**
 * The domain a recipient (already checked by `checkRecipient`) is delivered to: the part after the last `@` of its
 * address (the one inside `<…>` in the named form, whatever the name says), ASCII letters in lower case. Anything
 * else is left as it is, so a domain with other characters never equals a locked (ASCII) one.
 */
export function recipientDomain(value: string): string {
  const text = value.trim();
  const address = text.endsWith(">") ? text.slice(text.lastIndexOf("<") + 1, -1) : text;
  return address.slice(address.lastIndexOf("@") + 1).replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Whom emails go to, for the key's counterparty lock: the domain of every `to`, `cc` and `bcc` recipient. */
function recipientDomains(emails: readonly JsonObject[]): Counterparty {
  const domains: string[] = [];
  for (const email of emails) {
    for (const field of RECIPIENT_FIELDS) {
      const value = email[field];
      for (const entry of typeof value === "string" ? [value] : Array.isArray(value) ? value : []) {
        if (typeof entry === "string") domains.push(recipientDomain(entry));
      }
    }
  }
  return { kind: "resend", domains };
}

const jsonOf = (call: PricedCall): JsonValue => {
  if (call.body.kind !== "json") throw new UnpriceableRequestError("this call is priced from its JSON body");
  return call.body.value;
};

const email: PricingRuleFn = (call, ctx) => {
  const emails = emailsOf(jsonOf(call), false);
  const units = unitsOf(emails[0]!);
  return {
    amountMicro: units * ctx.pricing.resendEmailMicro,
    settlesFromReply: false,
    basis: { emails: 1, recipients: units },
    counterparty: recipientDomains(emails),
  };
};

/**
 * A batch costs the sum of its emails. In permissive mode (`x-batch-validation: permissive`) Resend may send only
 * some: the reservation settles to the recipients of the emails its answer does not list in `errors`.
 */
const emailBatch: PricingRuleFn = (call, ctx) => {
  const emails = emailsOf(jsonOf(call), true);
  const perEmail = emails.map(unitsOf);
  const units = perEmail.reduce((a, b) => a + b, 0);
  const unitMicro = ctx.pricing.resendEmailMicro;
  const permissive = call.req.headers.get("x-batch-validation")?.trim().toLowerCase() === "permissive";
  return {
    amountMicro: units * unitMicro,
    settlesFromReply: permissive,
    basis: { emails: emails.length, recipients: units },
    counterparty: recipientDomains(emails),
    ...(permissive ? { settle: (reply: UpstreamReply) => settlePermissive(reply, perEmail, unitMicro) } : {}),
  };
};

/**
 * Integer math only: the accepted emails' recipients times the unit price (no division, so never NaN). An answer
 * that does not say which emails failed (not JSON, or `errors` not a list of indexes) leaves it unknown: every
 * email is kept, as unsettled.
 */
function settlePermissive(reply: UpstreamReply, perEmail: readonly number[], unitMicro: number): Ending {
  const body = parseJsonBody(reply) as { errors?: unknown } | undefined;
  if (typeof body !== "object" || body === null) return { kind: "unsettled" };
  const errors = body.errors ?? [];
  if (!Array.isArray(errors)) return { kind: "unsettled" };
  const failed = new Set<number>();
  for (const error of errors as Array<{ index?: unknown } | null>) {
    const index = error?.index;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= perEmail.length) {
      return { kind: "unsettled" };
    }
    failed.add(index);
  }
  let sent = 0;
  for (let i = 0; i < perEmail.length; i++) if (!failed.has(i)) sent += perEmail[i]!;
  return { kind: "settled", actualMicro: sent * unitMicro };
}

const rules: { readonly [R in PricingRule<"resend">]: PricingRuleFn } = { email, email_batch: emailBatch };

const NAMES: Record<number, string> = {
  400: "validation_error",
  401: "missing_api_key",
  403: "invalid_access",
  404: "not_found",
  413: "validation_error",
  429: "daily_quota_exceeded",
  502: "application_error",
  503: "service_unavailable",
  504: "application_error",
};

export const resend: VendorAdapter<"resend"> = {
  vendor: "resend",
  // Resend keeps an Idempotency-Key 24 hours on POST /emails and /emails/batch (the fingerprint has the path).
  idempotency: { windowMs: 24 * 3_600_000, scopeHeaders: [] },
  forwardsHeader: requestHeaderAllowlist(["idempotency-key", "x-batch-validation"]),
  authorization: (secret) => `Bearer ${secret}`,
  bodyType: () => "json",
  rules,
  settleSuccess: (_req, q, reply) => q.settle?.(reply) ?? { kind: "settled", actualMicro: q.amountMicro },
  replyIds(reply) {
    const body = parseJsonBody(reply) as { id?: unknown; data?: Array<{ id?: unknown }> } | undefined;
    const ids =
      typeof body?.id === "string"
        ? [body.id]
        : (Array.isArray(body?.data) ? body.data : []).map((d) => d?.id).filter((id) => typeof id === "string");
    return { objectId: ids.length ? ids.join(",") : undefined, requestId: reply.headers["x-request-id"] };
  },
  refusal(error: KeybrakeError) {
    const name = error.code === "missing_key" || error.status !== 401 ? NAMES[error.status] : "restricted_api_key";
    return {
      status: error.status,
      headers: { "content-type": "application/json" },
      body: {
        statusCode: error.status,
        name: name ?? "application_error",
        message: error.message,
        keybrake_code: error.code,
        ...error.details,
      },
    };
  },
};
