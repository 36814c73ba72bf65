// Where the proxy gets the real vendor credentials: the environment in local mode, Secrets Manager (cached, with a
// deadline) on Lambda.
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SecretUnavailableError } from "./errors";
import type { Vendor } from "./vendors";

/** The real vendor credentials. They are read only by the proxy and never leave it. */
export interface VendorSecrets {
  stripe: string;
  twilio: { accountSid: string; authToken: string };
  resend: string;
}

export interface SecretSource {
  /**
   * The secret for a vendor, or undefined when this deployment has none for it. Throws SecretUnavailableError
   * when it cannot be read before `signal` aborts (the call's deadline).
   */
  get<V extends Vendor>(vendor: V, signal?: AbortSignal): Promise<VendorSecrets[V] | undefined>;
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
 * within that time without a Secrets Manager call per request. Concurrent misses share one fetch, which has
 * its own timeouts; each caller waits for it only until its own deadline.
 */
export function secretsManagerSource(arns: Partial<Record<Vendor, string>>, ttlMs = 5 * 60_000): SecretSource {
  const cache = new Map<Vendor, { at: number; value: Promise<unknown> }>();
  // Loaded on the first secret read, not at cold start: the SDK client is a large module to evaluate. A plain
  // `require` (esbuild keeps it one in the CommonJS bundle), so it resolves under any Node, not only through the
  // Lambda runtime's NODE_PATH lookup for ES modules that an `import()` would depend on.
  let client: SecretsManagerClient | undefined;
  const load = async (vendor: Vendor, arn: string) => {
    const sdk = require("@aws-sdk/client-secrets-manager") as typeof import("@aws-sdk/client-secrets-manager");
    client ??= new sdk.SecretsManagerClient({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true } as never,
    });
    const out = await client.send(new sdk.GetSecretValueCommand({ SecretId: arn }), {
      abortSignal: AbortSignal.timeout(SECRET_FETCH_TIMEOUT_MS),
    });
    const text = out.SecretString ?? "";
    return vendor === "twilio" ? (JSON.parse(text) as VendorSecrets["twilio"]) : text;
  };
  return {
    async get(vendor, signal) {
      const arn = arns[vendor];
      if (!arn) return undefined;
      const hit = cache.get(vendor);
      let value = hit && Date.now() - hit.at < ttlMs ? hit.value : undefined;
      if (!value) {
        value = load(vendor, arn);
        cache.set(vendor, { at: Date.now(), value });
        value.catch(() => cache.delete(vendor));
      }
      try {
        return (await untilAborted(value, signal)) as never;
      } catch (error) {
        throw new SecretUnavailableError(vendor, { cause: error });
      }
    },
  };
}

/** One Secrets Manager read, its retries included, takes at most this long. */
export const SECRET_FETCH_TIMEOUT_MS = 8_000;

function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
