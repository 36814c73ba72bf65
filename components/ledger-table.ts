// The ledger table, in the shape lambda/ledger/schema.ts defines (local mode creates the same one): on-demand,
// point-in-time recovery, encrypted, deletion-protected by default.
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { LEDGER_KEY_ATTRIBUTES, LEDGER_SCHEMA } from "../lambda/ledger/schema";

export function ledgerTable(
  name: string,
  args: { kmsKeyArn?: pulumi.Input<string>; deletionProtection?: pulumi.Input<boolean> },
  parent: pulumi.Resource,
): aws.dynamodb.Table {
  const index = LEDGER_SCHEMA.labelIndex;
  return new aws.dynamodb.Table(
    `${name}-ledger`,
    {
      billingMode: "PAY_PER_REQUEST",
      hashKey: LEDGER_SCHEMA.hashKey,
      attributes: LEDGER_KEY_ATTRIBUTES.map((attribute) => ({ name: attribute, type: "S" })),
      globalSecondaryIndexes: [
        { name: index.name, hashKey: index.hashKey, rangeKey: index.rangeKey, projectionType: "KEYS_ONLY" },
      ],
      ttl: { attributeName: LEDGER_SCHEMA.ttlAttribute, enabled: true },
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true, kmsKeyArn: args.kmsKeyArn },
      deletionProtectionEnabled: args.deletionProtection ?? true,
    },
    { parent },
  );
}
