// Reads stored objects by their index locations: groups them by pack and frame, reads each needed
// frame once (neighbours coalesced into one ranged read), inflates it with the runtime's native
// DecompressionStream (worker/inflate.ts) and slices the objects out. In plain vaults every object is re-hashed before
// it is used or served: a bad index entry or a damaged pack must not pass as good data.
import { streamCompressor } from "../engine/core/compress.ts";
import { FormatError } from "../engine/core/bytes.ts";
import { decodeFrame } from "../engine/core/pack.ts";
import { sha256Hex } from "./crypto.ts";
import { ApiError } from "./http.ts";
import { mapLimit } from "./map-limit.ts";
import type { FrameRef, PackStore } from "./pack-store.ts";
import type { ObjectLocation } from "./vault-types.ts";

/** Parallel R2 reads per request (the platform runs at most 6 at once). */
const R2_CONCURRENCY = 6;

export async function readObjects(store: PackStore, locations: Record<string, ObjectLocation>, verify: boolean): Promise<Map<string, Uint8Array>> {
  const byPack = new Map<string, Map<number, { frame: FrameRef; objects: [string, ObjectLocation][] }>>();
  for (const [addr, loc] of Object.entries(locations)) {
    let frames = byPack.get(loc.pack);
    if (!frames) byPack.set(loc.pack, (frames = new Map()));
    let f = frames.get(loc.frame.idx);
    if (!f) frames.set(loc.frame.idx, (f = { frame: loc.frame, objects: [] }));
    f.objects.push([addr, loc]);
  }
  const out = new Map<string, Uint8Array>();
  await mapLimit([...byPack], R2_CONCURRENCY, async ([pack, frames]) => {
    await store.readFrames(
      pack,
      [...frames.values()].map((f) => f.frame),
      async (frame, stored) => {
        let raw: Uint8Array;
        try {
          raw = await decodeFrame(frame.codec, stored, frame.rawLength, streamCompressor);
        } catch (e) {
          if (e instanceof FormatError) throw new ApiError(500, "corrupt_object", `frame ${frame.idx} of stored pack ${pack} is corrupt: ${e.message}`);
          throw e;
        }
        await Promise.all(
          frames.get(frame.idx)!.objects.map(async ([addr, loc]) => {
            if (loc.off + loc.len > raw.length) throw new ApiError(500, "corrupt_object", `object ${addr} overruns frame ${frame.idx} of pack ${pack}`);
            const bytes = raw.slice(loc.off, loc.off + loc.len);
            if (verify && (await sha256Hex(bytes)) !== addr) throw new ApiError(500, "corrupt_object", `stored object ${addr} fails its hash check`);
            out.set(addr, bytes);
          }),
        );
      },
    );
  });
  return out;
}
