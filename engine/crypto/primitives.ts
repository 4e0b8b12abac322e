// The primitives encrypted vaults are built from, behind one small interface so that a runtime can
// plug in a faster implementation with the same bytes (the Node adapter, engine/crypto/node.ts;
// test/crypto/primitives.test.ts proves the two byte-identical):
//
//   HMAC-SHA-256                 keyed addresses, tree keys, synthetic nonces (@noble/hashes)
//   XChaCha20-Poly1305           sealing objects and wrapping the vault key (@noble/ciphers)
//   raw DEFLATE (RFC 1951)       compressing an object before it is sealed (fflate; inflating: engine/core/inflate.ts)
//   scrypt                       passphrase -> key-encryption key (@noble/hashes)
//
// The portable implementations use Web APIs and pure JS only: browsers, Workers and Node alike.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { scryptAsync } from "@noble/hashes/scrypt.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { deflateSync } from "fflate";
import { inflateRaw } from "../core/inflate.ts";

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  dkLen: number;
}

export interface CryptoImpl {
  readonly name: string;
  /** HMAC-SHA-256 of the concatenation of `parts` (no copy needed by the caller). */
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /** XChaCha20-Poly1305: ciphertext || 16-byte tag, written to `out` when given (plaintext.length + 16 bytes). */
  xchachaSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out?: Uint8Array): Uint8Array;
  /** Throws AeadError when the tag does not verify. */
  xchachaOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /** Raw DEFLATE; any valid stream will do (readers accept every writer's). */
  deflateRaw(data: Uint8Array): Uint8Array;
  /** Inflates raw DEFLATE; throws when the output would exceed `maxLength` (decompression bombs: callers pass the exact expected length). */
  inflateRaw(data: Uint8Array, maxLength: number): Uint8Array;
  scrypt(passphrase: Uint8Array, salt: Uint8Array, p: ScryptParams): Promise<Uint8Array>;
}

/** An authentication tag that does not verify: the bytes were changed, or the key is another. */
export class AeadError extends Error {
  override name = "AeadError";
  constructor() {
    super("authentication failed");
  }
}

/** Level 4, as the pack frames use (engine/core/compress.ts). */
export const DEFLATE_LEVEL = 4;

export const portableCrypto: CryptoImpl = {
  name: "portable (@noble, fflate)",
  hmacSha256(key, ...parts) {
    const h = hmac.create(sha256, key);
    for (const p of parts) h.update(p);
    return h.digest();
  },
  xchachaSeal(key, nonce, ad, plaintext, out) {
    return xchacha20poly1305(key, nonce, ad).encrypt(plaintext, out);
  },
  xchachaOpen(key, nonce, ad, sealed) {
    try {
      return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
    } catch {
      throw new AeadError();
    }
  },
  deflateRaw(data) {
    return deflateSync(data, { level: DEFLATE_LEVEL });
  },
  inflateRaw(data, maxLength) {
    // The packs' bounded decoder: it stops at the first byte past maxLength (fflate's one-shot
    // inflate stopped writing there but went on decoding).
    const out = new Uint8Array(maxLength);
    let n: number;
    try {
      n = inflateRaw(data, 0, out, 0, 16 * (maxLength + data.length) + (1 << 20))[1];
    } catch (e) {
      if (/past the/.test((e as Error).message)) throw new RangeError(`deflate stream inflates past ${maxLength} bytes`);
      throw new RangeError(`corrupt deflate stream: ${(e as Error).message}`);
    }
    return out.subarray(0, n);
  },
  scrypt(passphrase, salt, p) {
    return scryptAsync(passphrase, salt, { N: p.N, r: p.r, p: p.p, dkLen: p.dkLen, maxmem: 1 << 30 });
  },
};

let current: CryptoImpl = portableCrypto;

/** Swap in a faster implementation with the same bytes (the Node adapter calls this once). */
export function useCryptoImpl(impl: CryptoImpl): void {
  current = impl;
}

export function cryptoImpl(): CryptoImpl {
  return current;
}

/** Cryptographically strong random bytes (WebCrypto, available in every supported runtime). */
export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}
