// Counterparty locks as the issuer parses them and the ledger stores them (docs/guarantees.md#counterparty-lock);
// the proxy checks them in vendors/counterparty.ts.
import { InvalidRequestError, KeybrakeError } from "./errors";
import type { Vendor } from "./vendors";

/**
 * A key's counterparty lock (docs/guarantees.md#counterparty-lock): whom its priced calls may act on. Set at issue,
 * immutable (so the key cache may hold it), stored on the key's item. Each field belongs to one vendor:
 *
 * - Stripe `stripe_customer` (`cus_…`): every priced call must act on this Customer; `stripe_account` (`acct_…`):
 *   every call, priced or not, must carry `Stripe-Account` (and any `Stripe-Context`) equal to it. A locked Stripe
 *   key without `stripe_account` acts on the platform account only: it refuses both headers.
 * - Twilio `to_prefixes` (`+` and 1–15 digits, 1–20 of them): a message's `To` must be `+` and digits and start
 *   with one of them.
 * - Resend `recipient_domains` (lower-case DNS names, 1–50): every `to`, `cc` and `bcc` recipient's domain must be
 *   one of them, exactly (a subdomain is another domain).
 */
export interface CounterpartyLock {
  stripeCustomer?: string;
  stripeAccount?: string;
  toPrefixes?: readonly string[];
  recipientDomains?: readonly string[];
}

/** The lock as the HTTP API, the audit trail and the ledger item spell it. */
export interface CounterpartyBody {
  stripe_customer?: string;
  stripe_account?: string;
  to_prefixes?: string[];
  recipient_domains?: string[];
}

export type CounterpartyField = keyof CounterpartyBody;

/** Which vendor's keys each field locks. */
export const COUNTERPARTY_FIELDS: { readonly [F in CounterpartyField]: Vendor } = {
  stripe_customer: "stripe",
  stripe_account: "stripe",
  to_prefixes: "twilio",
  recipient_domains: "resend",
};

export const COUNTERPARTY_LIMITS = { toPrefixes: 20, recipientDomains: 50 } as const;

/** Stripe ids are a prefix, an underscore and letters and digits (255 characters at most). */
const STRIPE_CUSTOMER = /^cus_[A-Za-z0-9]{1,251}$/;
const STRIPE_ACCOUNT = /^acct_[A-Za-z0-9]{1,250}$/;
/** E.164: `+` and at most 15 digits; a prefix may stop anywhere after the `+`. */
export const PHONE_PREFIX = /^\+[0-9]{1,15}$/;
/** A lower-case DNS name of two or more labels: letters, digits and inner hyphens, 63 per label, 253 in all. */
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function isDnsName(name: string): boolean {
  if (name.length > 253) return false;
  const labels = name.split(".");
  return labels.length >= 2 && labels.every((label) => DNS_LABEL.test(label));
}

/**
 * `POST /vault/keys`'s `counterparty`, checked strictly for a key of `vendor`: an object naming at least one field
 * of that vendor, no unknown field, no field of another vendor. Every 400 names the field (`counterparty.<name>`).
 */
export function parseCounterparty(value: unknown, vendor: Vendor): CounterpartyLock {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidRequestError(`counterparty must be an object of ${fieldsOf(vendor)}`, "counterparty");
  }
  const input = value as Record<string, unknown>;
  const names = Object.keys(input);
  for (const name of names) {
    // Own fields only: `constructor`, `toString` or `__proto__` are no lock field of any vendor.
    const owner = Object.hasOwn(COUNTERPARTY_FIELDS, name)
      ? (COUNTERPARTY_FIELDS as Record<string, Vendor>)[name]
      : undefined;
    const field = `counterparty.${name}`;
    if (owner === undefined) {
      throw new InvalidRequestError(`unknown field ${field} (a ${vendor} key takes ${fieldsOf(vendor)})`, field);
    }
    if (owner !== vendor) {
      throw new InvalidRequestError(`${field} locks ${owner} keys, not ${vendor} keys (${fieldsOf(vendor)})`, field);
    }
  }
  if (names.length === 0) {
    throw new InvalidRequestError(`counterparty must name at least one of ${fieldsOf(vendor)}`, "counterparty");
  }
  const lock: CounterpartyLock = {};
  if (input.stripe_customer !== undefined) {
    lock.stripeCustomer = stripeId(input.stripe_customer, STRIPE_CUSTOMER, "stripe_customer", "cus_");
  }
  if (input.stripe_account !== undefined) {
    lock.stripeAccount = stripeId(input.stripe_account, STRIPE_ACCOUNT, "stripe_account", "acct_");
  }
  if (input.to_prefixes !== undefined) {
    lock.toPrefixes = list(
      input.to_prefixes,
      "to_prefixes",
      COUNTERPARTY_LIMITS.toPrefixes,
      (s) => PHONE_PREFIX.test(s),
      `"+" and 1 to 15 digits, e.g. "+1415"`,
    );
  }
  if (input.recipient_domains !== undefined) {
    lock.recipientDomains = list(
      input.recipient_domains,
      "recipient_domains",
      COUNTERPARTY_LIMITS.recipientDomains,
      isDnsName,
      `a lower-case DNS name such as "example.com" (no wildcard, no trailing dot; an internationalised domain in its xn-- form)`,
    );
  }
  return lock;
}

const fieldsOf = (vendor: Vendor) =>
  Object.entries(COUNTERPARTY_FIELDS)
    .filter(([, owner]) => owner === vendor)
    .map(([name]) => name)
    .join(" and/or ");

function stripeId(value: unknown, pattern: RegExp, name: CounterpartyField, prefix: string): string {
  if (typeof value !== "string" || !pattern.test(value)) {
    throw new InvalidRequestError(
      `counterparty.${name} must be a Stripe id: ${prefix} followed by letters and digits`,
      `counterparty.${name}`,
    );
  }
  return value;
}

function list(
  value: unknown,
  name: CounterpartyField,
  max: number,
  valid: (entry: string) => boolean,
  shape: string,
): string[] {
  const field = `counterparty.${name}`;
  if (!Array.isArray(value) || value.length === 0 || value.length > max) {
    throw new InvalidRequestError(`${field} must be a list of 1 to ${max} entries`, field);
  }
  const seen = new Set<string>();
  value.forEach((entry, i) => {
    if (typeof entry !== "string" || !valid(entry)) {
      const got = typeof entry === "string" ? JSON.stringify(entry.slice(0, 80)) : typeof entry;
      throw new InvalidRequestError(`${field}[${i}] must be ${shape}, got ${got}`, field);
    }
    if (seen.has(entry)) throw new InvalidRequestError(`${field}[${i}] repeats ${entry}`, field);
    seen.add(entry);
  });
  return [...seen];
}

/** The lock in the API's spelling (the 201 body, `GET /vault/keys/{id}`, the `key_issued` record, the ledger). */
export function counterpartyBody(lock: CounterpartyLock): CounterpartyBody {
  const body: CounterpartyBody = {};
  if (lock.stripeCustomer !== undefined) body.stripe_customer = lock.stripeCustomer;
  if (lock.stripeAccount !== undefined) body.stripe_account = lock.stripeAccount;
  if (lock.toPrefixes !== undefined) body.to_prefixes = [...lock.toPrefixes];
  if (lock.recipientDomains !== undefined) body.recipient_domains = [...lock.recipientDomains];
  return body;
}

/**
 * What a refusal says about the counterparty, in the answer and in the call's audit record: the lock field that
 * refused it, what the call would have acted on and what the key allows. Never a whole phone number or email
 * address: a `To` is cut to a prefix, recipients are reduced to their domains.
 */
export interface CounterpartyRefusal {
  field: CounterpartyField;
  /**
   * A Stripe customer or account id; a `To` prefix; the recipient domains outside the lock. `null` when the call
   * names none (no customer, no `Stripe-Account`, no `To`).
   */
  attempted: string | string[] | null;
  /** The lock's value; `null` for a Stripe key locked to the platform account (no `stripe_account`). */
  allowed: string | string[] | null;
}

/** 403 `counterparty_not_allowed`: the call would act on someone the key's lock does not name. */
export class CounterpartyNotAllowedError extends KeybrakeError {
  override name = "CounterpartyNotAllowedError";
  /**
   * `counterparty` goes to the audit record; `shown` (the same unless given) to the caller, who must not learn
   * what the key may not see, such as the customer of an object it does not own.
   */
  constructor(
    message: string,
    readonly counterparty: CounterpartyRefusal,
    param?: string,
    shown: CounterpartyRefusal = counterparty,
  ) {
    super(403, "counterparty_not_allowed", message, { ...(param ? { param } : {}), counterparty: shown });
  }
}
