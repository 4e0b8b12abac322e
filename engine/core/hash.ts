// SHA-256 addresses. The portable implementation is @noble/hashes; a runtime may register a native
// one (node:crypto in the Node adapter) that tests prove byte-identical. Addresses are 32 bytes on
// the wire and 64 lowercase hex characters in the API.
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { toHex } from "./bytes.ts";

export type Address = string;
export const ADDRESS_BYTES = 32;
export const ADDRESS_RE = /^[0-9a-f]{64}$/;

export type Sha256 = (data: Uint8Array) => Uint8Array;

let impl: Sha256 = nobleSha256;

/** Swap in a native SHA-256 (same output, faster). The Node adapter calls this once at start-up. */
export function useNativeSha256(fn: Sha256): void {
  impl = fn;
}

export function sha256(data: Uint8Array): Uint8Array {
  return impl(data);
}

export function addressOf(data: Uint8Array): Address {
  return toHex(impl(data));
}

export function portableSha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(nobleSha256, key, data);
}

export function isAddress(s: unknown): s is Address {
  return typeof s === "string" && ADDRESS_RE.test(s);
}
