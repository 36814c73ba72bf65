import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Vendor } from "./vendors";

/** The real vendor credentials. They are read only by the proxy and never leave it. */
export interface VendorSecrets {
  stripe: string;
  twilio: { accountSid: string; authToken: string };
  resend: string;
}

export interface SecretSource {
  /** The secret for a vendor, or undefined when this deployment has none for it. */
  get<V extends Vendor>(vendor: V): Promise<VendorSecrets[V] | undefined>;
}

/** Local mode: secrets from the environment (docs/http-api.md, local mode). */
export function envSecretSource(env: NodeJS.ProcessEnv): SecretSource {
  const secrets: Partial<VendorSecrets> = {};
  if (env.STRIPE_SECRET_KEY) secrets.stripe = env.STRIPE_SECRET_KEY;
  if (env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN) {
    secrets.twilio = { accountSid: env.TWILIO_ACCOUNT_SID, authToken: env.TWILIO_AUTH_TOKEN };
  }
  if (env.RESEND_API_KEY) secrets.resend = env.RESEND_API_KEY;
  return { get: async (vendor) => secrets[vendor] };
}

/**
 * Lambda: secrets from Secrets Manager, cached in memory for `ttlMs` so a rotation reaches every instance
 * within that time without a Secrets Manager call per request. Concurrent misses share one fetch.
 */
export function secretsManagerSource(arns: Partial<Record<Vendor, string>>, ttlMs = 5 * 60_000): SecretSource {
  const cache = new Map<Vendor, { at: number; value: Promise<unknown> }>();
  // Loaded on the first secret read, not at cold start: the SDK client is a large module to evaluate.
  let client: SecretsManagerClient | undefined;
  const load = async (vendor: Vendor, arn: string) => {
    const sdk = await import("@aws-sdk/client-secrets-manager");
    client ??= new sdk.SecretsManagerClient({});
    const out = await client.send(new sdk.GetSecretValueCommand({ SecretId: arn }));
    const text = out.SecretString ?? "";
    return vendor === "twilio" ? (JSON.parse(text) as VendorSecrets["twilio"]) : text;
  };
  return {
    async get(vendor) {
      const arn = arns[vendor];
      if (!arn) return undefined;
      const hit = cache.get(vendor);
      if (hit && Date.now() - hit.at < ttlMs) return hit.value as never;
      const value = load(vendor, arn);
      cache.set(vendor, { at: Date.now(), value });
      value.catch(() => cache.delete(vendor));
      return value as never;
    },
  };
}
