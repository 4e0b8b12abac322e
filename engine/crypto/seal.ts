// Sealed objects: how every object of an encrypted vault (blob, chunk list, tree node, snapshot) is
// stored and sent. docs/security.md has the worked example; test/crypto/vectors.test.ts locks it.
//
//   address  = HMAC-SHA-256(addrKey, plaintext)                       (named like any object)
//   payload  = codec u8 | data | 0x80 | 0x00*                         (padded: paddedLength)
//              codec 0: data = plaintext
//              codec 1: data = plaintext length varint | raw DEFLATE of the plaintext
//   ad       = version u8 (=1) | type u8 | address [32]
//   nonce    = first 24 bytes of HMAC-SHA-256(nonceKey, ad | payload)  (synthetic: SIV-style)
//   sealed   = version u8 (=1) | type u8 | nonce [24] | XChaCha20-Poly1305(sealKey, nonce, ad, payload) (ciphertext | tag [16])
//
// The nonce is a PRF of everything sealed, so equal payloads give equal bytes (dedupe, reproducible
// packs) and two different payloads never share a nonce, whatever compressor each device ran. The
// address and the type are bound as associated data: an object cannot be served under another
// name or as another kind. Readers check the tag, the padding, the codec, the inflated length and
// finally that the plaintext's keyed hash is the address.
import { FormatError } from "../core/bytes.ts";
import type { Address } from "../core/hash.ts";
import { isObjectType, type ObjectType } from "../core/object.ts";
import { AeadError, cryptoImpl } from "./primitives.ts";

export const SEAL_VERSION = 1;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** version, type, nonce before the ciphertext; the tag after it. */
export const SEAL_OVERHEAD = 2 + NONCE_BYTES + TAG_BYTES;
/** The smallest payload (one padding bucket). */
export const MIN_PAYLOAD = 64;
export const MIN_SEALED = SEAL_OVERHEAD + MIN_PAYLOAD;
/** Objects never exceed a pack frame (engine/core/pack.ts MAX_FRAME_RAW): inflating stops there. */
export const MAX_PLAINTEXT = 4 * 1024 * 1024;
/** Below this, DEFLATE cannot win back its own block header. */
const MIN_COMPRESS = 64;

export const Codec = { Raw: 0, Deflate: 1 } as const;

/** An object that fails authentication or decoding: never used, never stored. */
export class TamperedObjectError extends Error {
  override name = "TamperedObjectError";
  constructor(readonly addr: Address, why: string) {
    super(`object ${addr} failed authentication (${why}): it was altered, is corrupt, or was sealed with another vault key; it was refused and nothing of it was used`);
  }
}

/**
 * Length a payload of `n` bytes is padded to: a multiple of 64 bytes up to 2 KiB, above that a
 * multiple of 1/32 of the largest power of two <= n (at most 3.1% added, ~1.6% on average). The
 * server then learns a size class, not a length: 64-byte steps for small notes (so "hi" and a
 * 60-character note look the same), 5 bits of mantissa for large ones.
 */
export function paddedLength(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad length ${n}`);
  const bits = 31 - Math.clz32(Math.max(1, n));
  const g = n <= 2048 ? 64 : 2 ** (bits - 5);
  return Math.max(MIN_PAYLOAD, Math.ceil(n / g) * g);
}

const HEX_VALUE = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 16; i++) t["0123456789abcdef".charCodeAt(i)] = i;
  return t;
})();

/** Writes ad = version | type | address into `ad` (34 bytes): no allocation per object. */
function fillAd(ad: Uint8Array, type: ObjectType, addr: Address): void {
  if (addr.length !== 64) throw new RangeError(`not an address: ${addr}`);
  ad[0] = SEAL_VERSION;
  ad[1] = type;
  for (let i = 0; i < 32; i++) {
    const hi = HEX_VALUE[addr.charCodeAt(2 * i) & 127];
    const lo = HEX_VALUE[addr.charCodeAt(2 * i + 1) & 127];
    if (hi < 0 || lo < 0) throw new RangeError(`not an address: ${addr}`);
    ad[2 + i] = (hi << 4) | lo;
  }
}

// Scratch space, reused: sealing and opening run synchronously, one object at a time.
const AD = new Uint8Array(34);
let scratch = new Uint8Array(4096);

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

export interface SealKeys {
  addrKey: Uint8Array;
  nonceKey: Uint8Array;
  sealKey: Uint8Array;
}

/** Seals `plaintext` (whose address is `addr`); `compress` tries DEFLATE and keeps it when smaller. */
export function sealObject(k: SealKeys, type: ObjectType, addr: Address, plaintext: Uint8Array, compress: boolean): Uint8Array {
  if (plaintext.length > MAX_PLAINTEXT) throw new RangeError(`object of ${plaintext.length} bytes exceeds ${MAX_PLAINTEXT}`);
  const c = cryptoImpl();
  let z: Uint8Array | null = null;
  if (compress && plaintext.length >= MIN_COMPRESS) {
    z = c.deflateRaw(plaintext);
    if (z.length + varintLength(plaintext.length) >= plaintext.length) z = null;
  }
  const dataLength = z ? varintLength(plaintext.length) + z.length : plaintext.length;
  const padded = paddedLength(dataLength + 2);
  if (scratch.length < padded) scratch = new Uint8Array(Math.max(padded, scratch.length * 2));
  const payload = scratch.subarray(0, padded);
  payload[0] = z ? Codec.Deflate : Codec.Raw;
  let at = 1;
  if (z) {
    at = writeVarint(payload, at, plaintext.length);
    payload.set(z, at);
    at += z.length;
  } else {
    payload.set(plaintext, at);
    at += plaintext.length;
  }
  payload[at++] = 0x80;
  payload.fill(0, at);
  fillAd(AD, type, addr);
  const out = new Uint8Array(2 + NONCE_BYTES + padded + TAG_BYTES);
  out[0] = SEAL_VERSION;
  out[1] = type;
  const nonce = out.subarray(2, 2 + NONCE_BYTES);
  nonce.set(c.hmacSha256(k.nonceKey, AD, payload).subarray(0, NONCE_BYTES));
  c.xchachaSeal(k.sealKey, nonce, AD, payload, out.subarray(2 + NONCE_BYTES));
  return out;
}

/** Cheap shape check for stores (version byte, minimum length); the real check is openObject. */
export function looksSealed(bytes: Uint8Array): boolean {
  return bytes.length >= MIN_SEALED && bytes[0] === SEAL_VERSION && isObjectType(bytes[1]);
}

/** Authenticates and opens a sealed object. Throws TamperedObjectError on any mismatch. */
export function openObject(k: SealKeys, addr: Address, sealed: Uint8Array, expectType?: ObjectType): { type: ObjectType; bytes: Uint8Array } {
  if (sealed.length < MIN_SEALED) throw new TamperedObjectError(addr, `${sealed.length} bytes is shorter than any sealed object`);
  if (sealed[0] !== SEAL_VERSION) throw new TamperedObjectError(addr, `unknown sealed-object version ${sealed[0]}`);
  const type = sealed[1];
  if (!isObjectType(type)) throw new TamperedObjectError(addr, `unknown object type ${type}`);
  if (expectType !== undefined && type !== expectType) throw new TamperedObjectError(addr, `sealed as type ${type}, listed as type ${expectType}`);
  const c = cryptoImpl();
  fillAd(AD, type, addr);
  let payload: Uint8Array;
  try {
    payload = c.xchachaOpen(k.sealKey, sealed.subarray(2, 2 + NONCE_BYTES), AD, sealed.subarray(2 + NONCE_BYTES));
  } catch (e) {
    if (e instanceof AeadError) throw new TamperedObjectError(addr, "the AEAD tag does not verify");
    throw e;
  }
  let end = payload.length - 1;
  while (end > 0 && payload[end] === 0) end--;
  if (end < 1 || payload[end] !== 0x80) throw new TamperedObjectError(addr, "bad padding");
  let bytes: Uint8Array;
  if (payload[0] === Codec.Raw) bytes = payload.subarray(1, end);
  else if (payload[0] === Codec.Deflate) {
    let length = 0;
    let at = 1;
    for (let shift = 1; ; shift *= 0x80) {
      if (at >= end || shift > 2 ** 28) throw new TamperedObjectError(addr, "bad length");
      const b = payload[at++];
      length += (b & 0x7f) * shift;
      if (!(b & 0x80)) break;
    }
    if (length > MAX_PLAINTEXT) throw new TamperedObjectError(addr, `claims ${length} bytes`);
    try {
      bytes = c.inflateRaw(payload.subarray(at, end), length);
    } catch (e) {
      throw new TamperedObjectError(addr, (e as Error).message);
    }
    if (bytes.length !== length) throw new TamperedObjectError(addr, `inflates to ${bytes.length} bytes, not ${length}`);
  } else throw new TamperedObjectError(addr, `unknown codec ${payload[0]}`);
  const digest = c.hmacSha256(k.addrKey, bytes);
  for (let i = 0; i < 32; i++) if (digest[i] !== AD[2 + i]) throw new TamperedObjectError(addr, "its plaintext does not hash to its address");
  return { type, bytes };
}

/** For tests and docs: the parts of a sealed object. */
export function parseSealed(sealed: Uint8Array): { version: number; type: number; nonce: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array } {
  if (sealed.length < MIN_SEALED) throw new FormatError("too short for a sealed object");
  return {
    version: sealed[0],
    type: sealed[1],
    nonce: sealed.subarray(2, 2 + NONCE_BYTES),
    ciphertext: sealed.subarray(2 + NONCE_BYTES, sealed.length - TAG_BYTES),
    tag: sealed.subarray(sealed.length - TAG_BYTES),
  };
}
