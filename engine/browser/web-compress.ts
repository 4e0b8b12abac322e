// Native gzip for browsers and Web Workers (CompressionStream, in every browser since 2023), and
// SHA-256 through WebCrypto, several times faster than @noble/hashes, which stays the fallback
// where WebCrypto is missing (it needs a secure context: https or localhost). Inflating goes through
// engine/core/inflate.ts into a buffer of the declared length (compress.ts streamCompressor):
// a hostile frame cannot make this side allocate more than its pack header declares. fflate's
// deflate is not part of the browser build (it was only a fallback for browsers without
// CompressionStream, and its ~2.5 KiB gzipped kept the engine over its 60 KiB budget).
import type { Compressor } from "../core/compress.ts";
import { streamCompressor } from "../core/compress.ts";
import { toHex } from "../core/bytes.ts";
import { addressOf, type Address } from "../core/hash.ts";

export const webCompressor: Compressor = streamCompressor;

const subtle = globalThis.crypto?.subtle;

/** SHA-256 address of `data`: WebCrypto when available (off-thread, native), else @noble/hashes. */
export async function addressAsync(data: Uint8Array): Promise<Address> {
  if (!subtle) return addressOf(data);
  return toHex(new Uint8Array(await subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)));
}
