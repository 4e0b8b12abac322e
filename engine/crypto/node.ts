// Node fast paths for engine/crypto (same bytes as the portable implementations, proven in
// test/crypto/primitives.test.ts):
//   - HMAC-SHA-256 through node:crypto (OpenSSL);
//   - XChaCha20-Poly1305 as its definition says: HChaCha20 (from @noble/ciphers, one block) derives
//     a subkey from the key and the first 16 nonce bytes, then OpenSSL's ChaCha20-Poly1305 (RFC
//     8439) runs with nonce 0x00000000 || the last 8 nonce bytes;
//   - raw DEFLATE through node:zlib, with the window sized to the object (smaller state to set up);
//   - scrypt through node:crypto (on libuv's thread pool).
import { createCipheriv, createDecipheriv, createHmac, scrypt as nodeScrypt } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { hchacha } from "@noble/ciphers/chacha.js";
import { AeadError, DEFLATE_LEVEL, portableCrypto, useCryptoImpl, type CryptoImpl } from "./primitives.ts";

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]); // "expand 32-byte k"
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// Scratch words, reused (HChaCha20 runs synchronously): no allocation per object.
const K32 = new Uint32Array(8);
const N32 = new Uint32Array(4);
const OUT32 = new Uint32Array(8);
const K8 = new Uint8Array(K32.buffer);
const N8 = new Uint8Array(N32.buffer);
const SUBKEY = new Uint8Array(OUT32.buffer);
const NONCE12 = new Uint8Array(12);

/** HChaCha20(key, nonce[0..16]) -> 32-byte subkey (draft-irtf-cfrg-xchacha, section 2.2), in scratch space. */
function hchachaInto(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  K8.set(key);
  N8.set(nonce.subarray(0, 16));
  hchacha(SIGMA, K32, N32, OUT32);
  return SUBKEY;
}

/** HChaCha20(key, nonce[0..16]): a fresh 32-byte subkey. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  if (key.length !== 32 || nonce16.length < 16) throw new RangeError("HChaCha20 needs a 32-byte key and a 16-byte nonce");
  return hchachaInto(key, nonce16).slice();
}

/** The RFC 8439 key and nonce of XChaCha20 (views of scratch space: OpenSSL copies them at init). */
function subkeyAndNonce(key: Uint8Array, nonce: Uint8Array): [Uint8Array, Uint8Array] {
  if (key.length !== 32 || nonce.length !== 24) throw new RangeError("XChaCha20-Poly1305 needs a 32-byte key and a 24-byte nonce");
  NONCE12.set(nonce.subarray(16, 24), 4);
  return [hchachaInto(key, nonce), NONCE12];
}

function windowBits(n: number): number {
  return Math.min(15, Math.max(9, 32 - Math.clz32(n)));
}

export const nodeCrypto: CryptoImpl = {
  name: "node (OpenSSL, zlib)",
  hmacSha256(key, ...parts) {
    const h = createHmac("sha256", key);
    for (const p of parts) h.update(p);
    const d = h.digest();
    return new Uint8Array(d.buffer, d.byteOffset, d.length);
  },
  xchachaSeal(key, nonce, ad, plaintext, into) {
    const [sub, n12] = subkeyAndNonce(key, nonce);
    const c = createCipheriv("chacha20-poly1305", sub, n12, { authTagLength: 16 });
    c.setAAD(ad, { plaintextLength: plaintext.length });
    const out = into ?? new Uint8Array(plaintext.length + 16);
    const body = c.update(plaintext);
    out.set(body, 0);
    const fin = c.final();
    out.set(fin, body.length);
    out.set(c.getAuthTag(), plaintext.length);
    return out;
  },
  xchachaOpen(key, nonce, ad, sealed) {
    if (sealed.length < 16) throw new AeadError();
    const [sub, n12] = subkeyAndNonce(key, nonce);
    const ctLen = sealed.length - 16;
    const d = createDecipheriv("chacha20-poly1305", sub, n12, { authTagLength: 16 });
    d.setAuthTag(sealed.subarray(ctLen));
    d.setAAD(ad, { plaintextLength: ctLen });
    const body = d.update(sealed.subarray(0, ctLen));
    let fin: Buffer;
    try {
      fin = d.final();
    } catch {
      throw new AeadError();
    }
    if (fin.length === 0 && body.length === ctLen) return new Uint8Array(body.buffer, body.byteOffset, body.length);
    const out = new Uint8Array(ctLen);
    out.set(body, 0);
    out.set(fin, body.length);
    return out;
  },
  deflateRaw(data) {
    // One output chunk the size of the input (+ slack): zlib then allocates and copies nothing more.
    const b = deflateRawSync(data, { level: DEFLATE_LEVEL, windowBits: windowBits(data.length), memLevel: 8, chunkSize: Math.max(64, data.length + 64) });
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  },
  inflateRaw(data, maxLength) {
    let b: Buffer;
    try {
      // Callers know the exact length: one output chunk of that size (3x faster than the default 16 KiB chunks).
      b = inflateRawSync(data, { maxOutputLength: Math.max(1, maxLength), chunkSize: Math.max(64, maxLength) });
    } catch (e) {
      throw new RangeError(`corrupt deflate stream: ${(e as Error).message}`);
    }
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  },
  scrypt(passphrase, salt, p) {
    return new Promise((resolve, reject) =>
      nodeScrypt(passphrase, salt, p.dkLen, { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r * p.p + (1 << 20) }, (err, key) =>
        err ? reject(err) : resolve(new Uint8Array(key.buffer, key.byteOffset, key.length)),
      ),
    );
  },
};

let installed = false;
/** Installs the Node implementations (idempotent). Big-endian hosts keep the portable ones. */
export function installNodeCrypto(): void {
  if (installed) return;
  installed = true;
  useCryptoImpl(LITTLE_ENDIAN ? nodeCrypto : portableCrypto);
}
