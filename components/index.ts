// The package's Pulumi surface: the VaultKeyProxy component and the types of its args.
export type { IssuerCeilings, VaultKeyProxyArgs, VpcArgs } from "./args";
export { VaultKeyProxy } from "./vault-key-proxy";
