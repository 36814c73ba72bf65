import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { LABEL_INDEX } from "../lambda/ledger/keys";

/**
 * The ledger table, in the exact shape the handlers use (see lambda/ledger/table.ts for the local twin):
 * hash key `pk`, GSI `by_label` for revoking a run label prefix, TTL on `ttl`, on-demand, PITR, encrypted.
 */
export function ledgerTable(
  name: string,
  args: { kmsKeyArn?: pulumi.Input<string>; deletionProtection?: pulumi.Input<boolean> },
  parent: pulumi.Resource,
): aws.dynamodb.Table {
  return new aws.dynamodb.Table(
    `${name}-ledger`,
    {
      billingMode: "PAY_PER_REQUEST",
      hashKey: "pk",
      attributes: [
        { name: "pk", type: "S" },
        { name: "gsi1pk", type: "S" },
        { name: "gsi1sk", type: "S" },
      ],
      globalSecondaryIndexes: [
        { name: LABEL_INDEX, hashKey: "gsi1pk", rangeKey: "gsi1sk", projectionType: "KEYS_ONLY" },
      ],
      ttl: { attributeName: "ttl", enabled: true },
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true, kmsKeyArn: args.kmsKeyArn },
      deletionProtectionEnabled: args.deletionProtection ?? true,
    },
    { parent },
  );
}
