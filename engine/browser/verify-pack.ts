// A downloaded pack checked whole, as readPack would (layout, every frame, every object's SHA-256),
// with the hashing through WebCrypto (native, asynchronous) and each gzip frame's inflated bytes
// (before unshuffling) kept, so the engine's own readPack of the same pack needs no second
// inflate. Runs in the engine worker (worker.ts) and in the device worker (pack-checker.ts).
import { type Address } from "../core/hash.ts";
import { Codec, HashMismatchError, decodeFrame, decodePackHeader, packLength, unshuffle4 } from "../core/pack.ts";
import { FormatError } from "../core/bytes.ts";
import type { Compressor } from "../core/compress.ts";
import { addressAsync } from "./web-compress.ts";

export interface VerifiedPack {
  id: Address;
  objects: number;
  /** Inflated bytes of each gzip frame, by the frame's offset in the pack. */
  inflated: { offset: number; data: Uint8Array }[];
  /** A Blob of the pack, for an IndexedDB store (IdbStore packBlob). */
  blob?: Blob;
}

export async function verifyPack(pack: Uint8Array, c: Compressor): Promise<VerifiedPack> {
  const h = decodePackHeader(pack);
  if (packLength(h) !== pack.length) throw new FormatError(`pack is ${pack.length} bytes, header says ${packLength(h)}`);
  const inflated: { offset: number; data: Uint8Array }[] = [];
  const raw = await Promise.all(
    h.frames.map(async (f) => {
      const stored = pack.subarray(f.offset, f.offset + f.storedLength);
      if (f.codec === Codec.Stored) return decodeFrame(f.codec, stored, f.rawLength, c);
      let gz: Uint8Array;
      try {
        gz = await c.gunzip(stored, f.rawLength);
      } catch (e) {
        throw new FormatError(`corrupt gzip frame: ${(e as Error).message}`);
      }
      inflated.push({ offset: f.offset, data: gz });
      return f.codec === Codec.Shuffle4Gzip ? unshuffle4(gz) : gz;
    }),
  );
  const bytes = h.objects.map((o) => raw[o.frame].subarray(o.offset, o.offset + o.length));
  const [id, ...addrs] = await Promise.all([addressAsync(pack), ...bytes.map((b) => addressAsync(b))]);
  h.objects.forEach((o, i) => {
    if (addrs[i] !== o.addr) throw new HashMismatchError(o.addr, addrs[i]);
  });
  const blob = typeof Blob === "function" ? new Blob([pack as Uint8Array<ArrayBuffer>]) : undefined;
  return { id, objects: h.objects.length, inflated, blob };
}
