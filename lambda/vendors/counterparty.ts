// The counterparty lock, checked (docs/guarantees.md#counterparty-lock). Two checks, both before the ledger:
//
// 1. `checkActingAccount`, on every call of a locked Stripe key, priced or not, before any pricing read: the
//    account the call acts as (`Stripe-Account`, `Stripe-Context`) must be the lock's `stripe_account`, or, without
//    one, the platform account (neither header). Customer ids are per account: `cus_123` on a connected account is
//    another customer than `cus_123` on the platform.
// 2. `checkCounterparty`, on every priced call, after its rule has run: the counterparty the rule reported, from
//    exactly the fields the vendor acts on (or from the object it read first), must be one the lock names. A
//    priced rule that reports none is refused under a lock: keybrake cannot tell whom it acts on.
//
// Free calls and reads are not counterparty-checked (they move no money and send nothing billable); the allowlist
// governs them.
import {
  type CounterpartyField,
  type CounterpartyLock,
  CounterpartyNotAllowedError,
  PHONE_PREFIX,
} from "../core/counterparty";
import type { Vendor } from "../core/vendors";
import type { ProxiedRequest, Quote } from "./adapter";

/** Whom a priced call acts on, as its rule read it. */
export type Counterparty =
  /** Stripe: every customer the call names or the object it acts on belongs to (a payout names none). */
  | { readonly kind: "stripe"; readonly customers: readonly StripeParty[] }
  /** Twilio: the message's `To`, as sent (undefined when absent). */
  | { readonly kind: "twilio"; readonly to: string | undefined }
  /** Resend: the domain of every `to`, `cc` and `bcc` recipient of every email, in lower case (ASCII letters). */
  | { readonly kind: "resend"; readonly domains: readonly string[] };

export interface StripeParty {
  /** A customer id, or null when the call or its object names none. */
  readonly customer: string | null;
  /** Where it was read: a form parameter (`customer`), or the object read first (`payment_intent`, `charge`…). */
  readonly param: string;
  /** Why there is none, for the refusal's message (a payout has no customer). */
  readonly why?: string;
  /** Read from the object the call acts on: a customer the caller did not name, so never echoed back to it. */
  readonly fromObject?: boolean;
}

/** The headers that select the Stripe account a call acts as. */
const ACCOUNT_HEADERS = ["stripe-account", "stripe-context"] as const;
/** A refusal echoes at most this much of a value the client sent. */
const ECHO = 64;

export function checkActingAccount(vendor: Vendor, lock: CounterpartyLock, req: ProxiedRequest): void {
  if (vendor !== "stripe") return;
  const allowed = lock.stripeAccount ?? null;
  let present = false;
  for (const name of ACCOUNT_HEADERS) {
    const value = req.headers.get(name);
    if (value === null) continue;
    present = true;
    if (value === allowed) continue;
    const attempted = value.slice(0, ECHO);
    throw new CounterpartyNotAllowedError(
      allowed === null
        ? `this vault key is locked to the platform account's customer and may not act on another account (${name}: ${attempted})`
        : `this vault key may act only as ${allowed}, not ${name}: ${attempted}`,
      { field: "stripe_account", attempted, allowed },
      name,
    );
  }
  if (allowed !== null && !present) {
    throw new CounterpartyNotAllowedError(
      `this vault key may act only as ${allowed}: send Stripe-Account: ${allowed}`,
      { field: "stripe_account", attempted: null, allowed },
      "stripe-account",
    );
  }
}

export function checkCounterparty(vendor: Vendor, lock: CounterpartyLock, quote: Quote): void {
  const observed = quote.counterparty;
  if (vendor === "stripe") {
    const allowed = lock.stripeCustomer;
    if (allowed === undefined) return; // locked to an account only: checkActingAccount did it
    const parties = observed?.kind === "stripe" ? observed.customers : [];
    if (parties.length === 0) throw unknown("stripe_customer", allowed);
    for (const party of parties) {
      if (party.customer === allowed) continue;
      const audited = { field: "stripe_customer" as const, attempted: party.customer?.slice(0, ECHO) ?? null, allowed };
      throw new CounterpartyNotAllowedError(
        party.customer === null
          ? `this vault key may act only on customer ${allowed}; ${party.why ?? `this call names no ${party.param}`}`
          : party.fromObject
            ? `this vault key may act only on customer ${allowed}, and the ${party.param} it acts on is another's`
            : `this vault key may act only on customer ${allowed}, not ${party.customer.slice(0, ECHO)} (${party.param})`,
        audited,
        party.param,
        party.fromObject ? { ...audited, attempted: null } : audited,
      );
    }
    return;
  }
  if (vendor === "twilio") {
    const allowed = lock.toPrefixes;
    if (allowed === undefined) return;
    if (observed?.kind !== "twilio") throw unknown("to_prefixes", [...allowed]);
    const to = observed.to;
    // Only `+` and digits: a channel address (`whatsapp:+1…`), spaces, dashes, letters or a national number could
    // be read by Twilio as something a prefix test did not see.
    if (to !== undefined && PHONE_PREFIX.test(to) && allowed.some((prefix) => to.startsWith(prefix))) return;
    const attempted = to === undefined ? null : phonePrefix(to);
    throw new CounterpartyNotAllowedError(
      to === undefined
        ? `this vault key may send only to numbers starting ${allowed.join(", ")}; this message has no To`
        : !PHONE_PREFIX.test(to)
          ? `this vault key may send only to numbers written as + and digits starting ${allowed.join(", ")}; To (${attempted}…) is not one`
          : `this vault key may send only to numbers starting ${allowed.join(", ")}, not To ${attempted}…`,
      { field: "to_prefixes", attempted, allowed: [...allowed] },
      "To",
    );
  }
  if (vendor === "resend") {
    const allowed = lock.recipientDomains;
    if (allowed === undefined) return;
    if (observed?.kind !== "resend" || observed.domains.length === 0) throw unknown("recipient_domains", [...allowed]);
    const outside = [...new Set(observed.domains.filter((d) => !allowed.includes(d)))];
    if (outside.length === 0) return;
    const attempted = outside.slice(0, 10).map((d) => d.slice(0, 253));
    throw new CounterpartyNotAllowedError(
      `this vault key may email only ${allowed.join(", ")} (exact domains), not ${attempted.join(", ")}`,
      { field: "recipient_domains", attempted, allowed: [...allowed] },
      "to",
    );
  }
}

/** A priced rule that reported no counterparty: under a lock it is refused, never guessed. */
function unknown(field: CounterpartyField, allowed: string | string[]): CounterpartyNotAllowedError {
  return new CounterpartyNotAllowedError(
    `keybrake cannot tell whom this call acts on, so a vault key with a counterparty lock may not make it`,
    { field, attempted: null, allowed },
  );
}

/**
 * What the audit trail and a refusal may show of a `To`: never the whole number. Its first five characters
 * (`+` and the country code and a few digits), and never more than half of it.
 */
export function phonePrefix(to: string): string {
  return to.slice(0, Math.min(5, Math.floor(to.length / 2)));
}
