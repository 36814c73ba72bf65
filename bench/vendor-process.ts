// The fake Stripe in its own process, as the real one is on another machine, with a Secrets Manager stand-in
// beside it for the Lambda handler (it reads the Stripe secret once, then caches it).
import { startFakeSecretsManager } from "../test/support/fake-secrets-manager";
import { startFakeStripe } from "./fake-stripe";
import { serveCommands } from "./worker";

export const STRIPE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keybrake-bench-stripe";

async function main(): Promise<void> {
  const stripe = await startFakeStripe();
  const secrets = await startFakeSecretsManager({ [STRIPE_ARN]: "sk_test_bench" });
  serveCommands(
    {
      close: async () => {
        await Promise.all([stripe.close(), secrets.close()]);
        setImmediate(() => process.exit(0));
      },
    },
    { url: stripe.url, secretsManagerUrl: secrets.url },
  );
}

if (require.main === module) void main();
