// Frame compression. Packs hold gzip (RFC 1952) frames; any gzip writer produces a valid frame, so
// each runtime plugs in its fastest one (node:zlib in the Node adapter, fflate everywhere else) and
// every reader can read every writer's packs.
import { gzipSync } from "fflate";
import { concatBytes } from "./bytes.ts";
import { gunzipExact } from "./inflate.ts";

export { crc32 } from "./inflate.ts";

/**
 * What a writer may assume about a frame's data. `entropyOnly`: it holds no repeats worth searching
 * for (byte-shuffled float32 embeddings), so a compressor may skip DEFLATE's match search and only
 * Huffman-code the bytes: on the generated embeddings node:zlib's Z_HUFFMAN_ONLY gives 83.5% of raw
 * at ~6 x the speed of level 4 (85.3%), and its frames inflate faster (docs/design.md).
 */
export interface GzipHint {
  entropyOnly?: boolean;
}

export interface Compressor {
  /** Any gzip member of `data`; the hint may pick a cheaper coding, never another format. */
  gzip(data: Uint8Array, hint?: GzipHint): Promise<Uint8Array>;
  /** rawLength comes from the pack header; a frame that inflates to another size is corrupt. */
  gunzip(data: Uint8Array, rawLength: number): Promise<Uint8Array>;
}

/**
 * Level 4: on packed notes it gives 91% of level 1's size at 1.35x its CPU; level 6 saves 2.5%
 * more for another 1.6x (docs/design.md, measured on the generated vault).
 */
export const GZIP_LEVEL = 4;

export const fflateCompressor: Compressor = {
  async gzip(data, hint) {
    // fflate has no Huffman-only strategy; its level 1 is its cheapest search (same ratio on shuffled floats).
    return gzipSync(data, { level: hint?.entropyOnly ? 1 : GZIP_LEVEL });
  },
  gunzip: gunzipCapped,
};

/**
 * Inflates a gzip frame that must come to exactly `rawLength` bytes, into one buffer of that length,
 * stopping at the first byte past it: a gzip bomb costs its declared length in memory and about as
 * much CPU, never its real length (engine/core/inflate.ts; bench/results/inflate-bomb.md). Each
 * member's CRC-32 and length are checked, as node:zlib and browsers do.
 */
export function inflateCapped(data: Uint8Array, rawLength: number): Uint8Array {
  return gunzipExact(data, rawLength);
}

/** inflateCapped as a Compressor's gunzip: every compressor here inflates this way. */
async function gunzipCapped(data: Uint8Array, rawLength: number): Promise<Uint8Array> {
  return inflateCapped(data, rawLength);
}

/**
 * Native streams (browsers, Workers, Node >= 18) for compressing. Inflating is inflateCapped's: a
 * native DecompressionStream inflates every written chunk whole, whatever its reader does (a 1 MB
 * gzip bomb declared as 4 MiB took workerd to 1.39 GiB even when fed in 4 KiB slices;
 * bench/results/inflate-bomb.md).
 */
export const streamCompressor: Compressor = {
  gzip: (data) => pipe(data, new CompressionStream("gzip")),
  gunzip: gunzipCapped,
};

async function pipe(data: Uint8Array, stream: { writable: WritableStream<BufferSource>; readable: ReadableStream<Uint8Array> }): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const written = writer.write(data as Uint8Array<ArrayBuffer>).then(() => writer.close());
  // A corrupt frame errors the readable side first; the write side's rejection must not go unhandled.
  written.catch(() => {});
  const chunks: Uint8Array[] = [];
  const reader = stream.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  await written;
  return chunks.length === 1 ? chunks[0] : concatBytes(chunks);
}
