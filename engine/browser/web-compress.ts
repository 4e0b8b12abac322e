// Native gzip for browsers and Web Workers (CompressionStream / DecompressionStream), and SHA-256
// through WebCrypto: several times faster than the portable fflate and @noble/hashes, which stay
// the fallback where these are missing (WebCrypto needs a secure context: https or localhost).
// Inflating is bounded: reading stops as soon as a frame inflates past the length its pack header
// declares, so a hostile frame cannot make this side allocate more than that.
import type { Compressor } from "../core/compress.ts";
import { fflateCompressor } from "../core/compress.ts";
import { concatBytes, toHex } from "../core/bytes.ts";
import { addressOf, type Address } from "../core/hash.ts";

async function readAll(readable: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new RangeError(`frame inflates past the ${limit} bytes its header declares`);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0] : concatBytes(chunks);
}

function through(data: Uint8Array, stream: { writable: WritableStream<BufferSource>; readable: ReadableStream<Uint8Array> }, limit: number): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const written = writer.write(data as Uint8Array<ArrayBuffer>).then(() => writer.close());
  written.catch(() => {}); // a corrupt frame errors the readable side; that error is the one reported
  return readAll(stream.readable, limit).then(async (out) => {
    await written;
    return out;
  });
}

export const hasNativeStreams = typeof CompressionStream === "function" && typeof DecompressionStream === "function";

export const webCompressor: Compressor = hasNativeStreams
  ? {
      gzip: (data) => through(data, new CompressionStream("gzip"), Number.MAX_SAFE_INTEGER),
      async gunzip(data, rawLength) {
        const out = await through(data, new DecompressionStream("gzip"), rawLength);
        if (out.length !== rawLength) throw new RangeError(`frame inflated to ${out.length} bytes, header says ${rawLength}`);
        return out;
      },
    }
  : fflateCompressor;

const subtle = globalThis.crypto?.subtle;

/** SHA-256 address of `data`: WebCrypto when available (off-thread, native), else @noble/hashes. */
export async function addressAsync(data: Uint8Array): Promise<Address> {
  if (!subtle) return addressOf(data);
  return toHex(new Uint8Array(await subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)));
}
