// One random token per declared issuer, stable across `pulumi up` (stored, secret, in the stack's state).
// The issuer Lambda receives only each token's SHA-256 with the issuer's ceilings (KEYBRAKE_ISSUERS).
// Rotate a token with `pulumi up --replace <its RandomPassword URN>`.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { IssuerCeilings } from "./args";

export interface IssuerTokens {
  /** issuer name → token (secret). */
  tokens: pulumi.Output<Record<string, string>>;
  /** The issuer Lambda's KEYBRAKE_ISSUERS value. */
  issuersEnv: pulumi.Output<string>;
}

export function issuerTokens(
  name: string,
  issuers: Record<string, IssuerCeilings>,
  parent: pulumi.Resource,
): IssuerTokens {
  const entries = Object.entries(issuers).map(([issuer, ceilings]) => {
    const password = new random.RandomPassword(`${name}-issuer-${issuer}`, { length: 48, special: false }, { parent });
    const token = pulumi.interpolate`kbt_${password.result}`;
    // A hash of a 280-bit random token reveals nothing: keep it readable in the function's configuration.
    const tokenSha256 = pulumi.unsecret(token.apply((t) => createHash("sha256").update(t).digest("hex")));
    return { issuer, ceilings, token, tokenSha256 };
  });
  return {
    tokens: pulumi.secret(
      pulumi
        .all(entries.map((e) => e.token))
        .apply((values) => Object.fromEntries(entries.map((e, i) => [e.issuer, values[i]!]))),
    ),
    issuersEnv: pulumi
      .all(entries.map((e) => e.tokenSha256))
      .apply((hashes) =>
        JSON.stringify(
          Object.fromEntries(entries.map((e, i) => [e.issuer, { token_sha256: hashes[i], ...e.ceilings }])),
        ),
      ),
  };
}
