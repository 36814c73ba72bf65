// Vault keys look like `vk_<key id: 16 hex>_<secret: 256 random bits, base64url>`. The key id is public
// (it names the key on the management routes); only the SHA-256 of the whole key is stored.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const VAULT_KEY = /^vk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

export interface NewVaultKey {
  keyId: string;
  vaultKey: string;
  hash: string;
}

export function generateVaultKey(): NewVaultKey {
  const keyId = randomBytes(8).toString("hex");
  const vaultKey = `vk_${keyId}_${randomBytes(32).toString("base64url")}`;
  return { keyId, vaultKey, hash: sha256Hex(vaultKey) };
}

/** The key id of a well-formed vault key, or undefined. */
export function vaultKeyId(candidate: string): string | undefined {
  return VAULT_KEY.exec(candidate)?.[1];
}

/** True for a key id as issued (16 hex digits); anything else names no key. */
export function isKeyId(text: string): boolean {
  return /^[0-9a-f]{16}$/.test(text);
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}
