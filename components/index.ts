export type { IssuerCeilings, VaultKeyProxyArgs, VpcArgs } from "./args";
export { bundleHandler, HANDLERS } from "./bundle";
export { VaultKeyProxy } from "./vault-key-proxy";
