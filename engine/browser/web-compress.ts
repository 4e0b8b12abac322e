// Native gzip for browsers and Web Workers (CompressionStream), and SHA-256 through WebCrypto:
// several times faster than the portable fflate and @noble/hashes, which stay the fallback where
// these are missing (WebCrypto needs a secure context: https or localhost). Inflating goes through
// fflate into a buffer of the declared length (compress.ts streamCompressor): a hostile frame cannot
// make this side allocate more than its pack header declares.
import type { Compressor } from "../core/compress.ts";
import { fflateCompressor, streamCompressor } from "../core/compress.ts";
import { toHex } from "../core/bytes.ts";
import { addressOf, type Address } from "../core/hash.ts";

export const hasNativeStreams = typeof CompressionStream === "function" && typeof DecompressionStream === "function";

export const webCompressor: Compressor = hasNativeStreams ? streamCompressor : fflateCompressor;

const subtle = globalThis.crypto?.subtle;

/** SHA-256 address of `data`: WebCrypto when available (off-thread, native), else @noble/hashes. */
export async function addressAsync(data: Uint8Array): Promise<Address> {
  if (!subtle) return addressOf(data);
  return toHex(new Uint8Array(await subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)));
}
