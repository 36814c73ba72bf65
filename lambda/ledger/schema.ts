// The ledger table's shape, defined once: local mode and the tests create it from this (ledger/table.ts), the
// Pulumi component declares it from this (components/ledger-table.ts). One item per key (and, for budgets, per
// budget part), a label index for revoking a run-label prefix, and a TTL so expired keys clean themselves up.
export const LEDGER_SCHEMA = {
  hashKey: "pk",
  /** issuer → label + key id, keys only: `POST /vault/revoke` queries it by label prefix. */
  labelIndex: { name: "by_label", hashKey: "gsi1pk", rangeKey: "gsi1sk" },
  ttlAttribute: "ttl",
} as const;

/** Every key attribute is a string. */
export const LEDGER_KEY_ATTRIBUTES = [
  LEDGER_SCHEMA.hashKey,
  LEDGER_SCHEMA.labelIndex.hashKey,
  LEDGER_SCHEMA.labelIndex.rangeKey,
] as const;
