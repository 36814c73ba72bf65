// The real vendor credentials in Secrets Manager: created from secret inputs, or an existing secret's ARN.
// Only ARNs leave this module; the values go into the secret versions and nowhere else.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Vendor } from "../lambda/core/vendors";
import type { VaultKeyProxyArgs } from "./args";

export function vendorSecretArns(
  name: string,
  args: VaultKeyProxyArgs,
  vendors: Vendor[],
  parent: pulumi.Resource,
): Partial<Record<Vendor, pulumi.Output<string>>> {
  const arns: Partial<Record<Vendor, pulumi.Output<string>>> = {};
  const create = (vendor: Vendor, value: pulumi.Input<string>) => {
    const secret = new aws.secretsmanager.Secret(
      `${name}-${vendor}`,
      { description: `keybrake: the real ${vendor} credential, read only by the proxy`, recoveryWindowInDays: 7 },
      { parent },
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-${vendor}`,
      { secretId: secret.id, secretString: pulumi.secret(value) },
      { parent },
    );
    return secret.arn;
  };
  for (const vendor of vendors) {
    if (vendor === "stripe")
      arns.stripe = args.stripeSecretArn
        ? pulumi.output(args.stripeSecretArn)
        : create("stripe", args.stripeSecretKey!);
    if (vendor === "resend")
      arns.resend = args.resendSecretArn ? pulumi.output(args.resendSecretArn) : create("resend", args.resendApiKey!);
    if (vendor === "twilio") {
      arns.twilio = args.twilioSecretArn
        ? pulumi.output(args.twilioSecretArn)
        : create(
            "twilio",
            pulumi
              .all([args.twilioAccountSid!, args.twilioAuthToken!])
              .apply(([accountSid, authToken]) => JSON.stringify({ accountSid, authToken })),
          );
    }
  }
  return arns;
}
