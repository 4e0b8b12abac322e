// Frame compression. Packs hold gzip (RFC 1952) frames; any gzip writer produces a valid frame, so
// each runtime plugs in its fastest one (node:zlib in the Node adapter, fflate everywhere else) and
// every reader can read every writer's packs.
import { gzipSync, Gunzip } from "fflate";
import { concatBytes } from "./bytes.ts";

export interface Compressor {
  gzip(data: Uint8Array): Promise<Uint8Array>;
  /** rawLength comes from the pack header; a frame that inflates to another size is corrupt. */
  gunzip(data: Uint8Array, rawLength: number): Promise<Uint8Array>;
}

/**
 * Level 4: on packed notes it gives 91% of level 1's size at 1.35x its CPU; level 6 saves 2.5%
 * more for another 1.6x (docs/design.md, measured on the generated vault).
 */
export const GZIP_LEVEL = 4;

export const fflateCompressor: Compressor = {
  async gzip(data) {
    return gzipSync(data, { level: GZIP_LEVEL });
  },
  gunzip: gunzipCapped,
};

/**
 * Compressed bytes inflated at a time. DEFLATE expands at most ~1032:1, so one slice produces at
 * most ~4 MiB before the count below can stop the inflater.
 */
const INFLATE_SLICE = 4096;

/**
 * Inflates a gzip frame that must come to exactly `rawLength` bytes, slice by slice, and stops as
 * soon as it passes that: a gzip bomb costs its declared length in memory (plus one slice's output)
 * and about as much CPU, never its real length. (fflate's one-shot gunzip into a full buffer stops
 * writing but goes on decoding: 10 s for a 1 GiB bomb in workerd; bench/results/inflate-bomb.md.)
 */
export function inflateCapped(data: Uint8Array, rawLength: number): Uint8Array {
  const out = new Uint8Array(rawLength);
  let n = 0;
  let over = false;
  const inflater = new Gunzip((chunk) => {
    if (over || n + chunk.length > rawLength) {
      over = true;
      return;
    }
    out.set(chunk, n);
    n += chunk.length;
  });
  for (let off = 0; off < data.length && !over; off += INFLATE_SLICE) inflater.push(data.subarray(off, off + INFLATE_SLICE), off + INFLATE_SLICE >= data.length);
  if (over) throw new RangeError(`frame inflates past the ${rawLength} bytes its header declares`);
  if (n !== rawLength) throw new RangeError(`frame inflated to ${n} bytes, header says ${rawLength}`);
  checkGzipTrailer(data, out);
  return out;
}

/** inflateCapped as a Compressor's gunzip: every compressor here inflates this way. */
async function gunzipCapped(data: Uint8Array, rawLength: number): Promise<Uint8Array> {
  return inflateCapped(data, rawLength);
}

/** fflate does not check the gzip trailer (CRC-32 and length of the data); node and browsers do. */
export function checkGzipTrailer(gz: Uint8Array, raw: Uint8Array): void {
  if (gz.length < 18) throw new RangeError("gzip frame too short");
  const dv = new DataView(gz.buffer, gz.byteOffset + gz.length - 8, 8);
  if (dv.getUint32(4, true) !== raw.length >>> 0) throw new RangeError("gzip length field does not match the data");
  if (dv.getUint32(0, true) !== crc32(raw)) throw new RangeError("gzip CRC-32 does not match the data");
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * Native streams (browsers, Workers, Node >= 18) for compressing. Inflating is inflateCapped's: a
 * native DecompressionStream inflates every written chunk whole, whatever its reader does (a 1 MB
 * gzip bomb declared as 4 MiB took workerd to 1.39 GiB even when fed in 4 KiB slices;
 * bench/results/inflate-bomb.md), and fflate is as fast on 256 KiB frames (measured in Node).
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
