// Pack checks in the thread that runs the sync (the device worker): verifyPack with WebCrypto, and
// what the check learned handed on, as EngineWorker does across threads: the frames it inflated
// (the engine's readPack of the pack takes them instead of inflating again), the pack's id (for
// the store) and a Blob of it (IdbStore stores it as is).
import type { Address } from "../core/hash.ts";
import type { Compressor } from "../core/compress.ts";
import { webCompressor } from "./web-compress.ts";
import { verifyPack } from "./verify-pack.ts";

export class LocalPackChecker {
  private inflated = new WeakMap<ArrayBufferLike, Map<number, Uint8Array>>();
  private ids = new WeakMap<Uint8Array, Address>();
  private blobs = new WeakMap<Uint8Array, Blob>();

  constructor(private readonly base: Compressor = webCompressor) {}

  readonly compressor: Compressor = {
    gzip: (data, hint) => this.base.gzip(data, hint),
    gunzip: async (data, rawLength) => {
      const frames = this.inflated.get(data.buffer);
      const known = frames?.get(data.byteOffset);
      if (known && known.length === rawLength) {
        frames?.delete(data.byteOffset);
        return known;
      }
      return this.base.gunzip(data, rawLength);
    },
  };

  async verifyPack(pack: Uint8Array): Promise<{ id: Address; objects: number; pack: Uint8Array }> {
    const r = await verifyPack(pack, this.base);
    if (r.inflated.length) this.inflated.set(pack.buffer, new Map(r.inflated.map((x) => [x.offset, x.data])));
    this.ids.set(pack, r.id);
    if (r.blob) this.blobs.set(pack, r.blob);
    return { id: r.id, objects: r.objects, pack };
  }

  knownPackId(pack: Uint8Array): Address | undefined {
    return this.ids.get(pack);
  }

  readonly packBlob = (pack: Uint8Array): Blob | undefined => this.blobs.get(pack);
}
