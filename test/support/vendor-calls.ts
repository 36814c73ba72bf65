// How the tests call a vendor through keybrake as a client would: stripe-node pointed at the proxy, and the raw
// requests (a PaymentIntent form, a Twilio message, a permissive Resend batch) any HTTP client sends.
import Stripe from "stripe";
import { SECRETS } from "./fake-vendors";

/** stripe-node pointed at a keybrake, changing only host, port and protocol (it cannot add a path prefix). */
export function stripeVia(baseUrl: string, vaultKey: string, options: { maxNetworkRetries?: number } = {}): Stripe {
  const url = new URL(baseUrl);
  return new Stripe(vaultKey, { host: url.hostname, port: Number(url.port), protocol: "http", ...options });
}

/** A raw form POST to the bare PaymentIntents path, as any HTTP client would send it. */
export function postPaymentIntent(
  baseUrl: string,
  vaultKey: string,
  body: string,
  idempotencyKey?: string,
): Promise<Response> {
  return fetch(`${baseUrl}/v1/payment_intents`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${vaultKey}`,
      "content-type": "application/x-www-form-urlencoded",
      ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
    },
    body,
  });
}

/** Twilio's Messages resource path for the fake account, as a key's allowlist and the proxy's /twilio prefix name it. */
export const TWILIO_MESSAGES = `/2010-04-01/Accounts/${SECRETS.TWILIO_ACCOUNT_SID}/Messages.json`;

/** A raw form POST to Twilio's Messages resource through keybrake's /twilio prefix, the vault key as the auth token. */
export function postTwilioMessage(
  baseUrl: string,
  vaultKey: string,
  body = "To=%2B15005550006&From=%2B15005550001&Body=hi",
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${baseUrl}/twilio${TWILIO_MESSAGES}`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${SECRETS.TWILIO_ACCOUNT_SID}:${vaultKey}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body,
    signal,
  });
}

/** A Resend batch with `x-batch-validation: permissive` (some emails may fail alone) through keybrake's /resend prefix. */
export function postPermissiveResendBatch(baseUrl: string, vaultKey: string, emails: unknown[]): Promise<Response> {
  return fetch(`${baseUrl}/resend/emails/batch`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${vaultKey}`,
      "content-type": "application/json",
      "x-batch-validation": "permissive",
    },
    body: JSON.stringify(emails),
  });
}
