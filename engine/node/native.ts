// Node fast paths for the portable core: native SHA-256 (same bytes as @noble/hashes, proven in
// test/core/hash.test.ts) and node:zlib for gzip frames (any gzip is a valid frame).
import { hash as nodeHash } from "node:crypto";
import { gunzipSync, gzip, constants } from "node:zlib";
import { promisify } from "node:util";
import { useNativeSha256 } from "../core/hash.ts";
import { GZIP_LEVEL, type Compressor } from "../core/compress.ts";

const gzipAsync = promisify(gzip);

export function nodeSha256(data: Uint8Array): Uint8Array {
  return nodeHash("sha256", data, "buffer") as unknown as Uint8Array;
}

/**
 * gzips under way at once (libuv runs four). Each holds a zlib stream's state (~400 KiB) from its
 * start, and a pack's frames (~30-60) were all started together.
 */
const GZIPS_AT_ONCE = 4;
let gzipsRunning = 0;
const gzipsWaiting: (() => void)[] = [];

/** gzip runs on libuv's thread pool, so compressing frames overlaps with hashing on the main thread. */
export const nodeCompressor: Compressor = {
  async gzip(data, hint) {
    if (gzipsRunning < GZIPS_AT_ONCE) gzipsRunning++;
    else await new Promise<void>((go) => gzipsWaiting.push(go)); // handed the slot of one that ends
    try {
      const strategy = hint?.entropyOnly ? constants.Z_HUFFMAN_ONLY : constants.Z_DEFAULT_STRATEGY;
      // A view, not a copy: the Buffer zlib joined its output into is already the frame's own.
      const out = await gzipAsync(data, { level: GZIP_LEVEL, memLevel: 9, strategy });
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    } finally {
      const next = gzipsWaiting.shift();
      if (next) next();
      else gzipsRunning--;
    }
  },
  async gunzip(data, rawLength) {
    // One output chunk of the declared size: with the default 16 KiB chunks zlib inflates into many
    // buffers and concatenates them (a clone spent ~0.4 s of 9 CPU-s at 10,000 notes in that copy).
    const out = gunzipSync(data, { maxOutputLength: Math.max(rawLength, 1), chunkSize: Math.max(64, rawLength) });
    if (out.length !== rawLength) throw new RangeError(`frame inflated to ${out.length} bytes, header says ${rawLength}`);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  },
};

let installed = false;
export function installNodeFastPaths(): void {
  if (installed) return;
  installed = true;
  useNativeSha256(nodeSha256);
}
