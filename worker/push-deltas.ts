// A pushed pack's delta frames resolved against tree nodes the vault holds (engine/core/delta-frame.ts).
//
// The bases are located in the index (visible objects only), read from R2 with every other object
// read (one ranged read per frame, neighbours coalesced, each base re-hashed), and the frames
// rewritten stored: what comes out is the client's own pack, which the push then checks and stores
// as if it had come whole. Any base that is not a stored tree node, cannot be read, or would take
// the request past its read budget is 400 `bad_delta`: the client sends the same pack whole.
import { FormatError } from "../engine/core/bytes.ts";
import { deltaBases, resolveWirePack } from "../engine/core/delta-frame.ts";
import { ObjectType } from "../engine/core/object.ts";
import { PACK_OBJECT_LIMIT, type PackHeader } from "../engine/core/pack.ts";
import type { VaultRequest } from "./context.ts";
import { ApiError } from "./http.ts";
import { readObjects } from "./object-reader.ts";

/**
 * What one push may read for bases: distinct stored frames (each one ranged read at most; the
 * platform allows 10,000 subrequests) and their bytes. A 100,000-note vault's whole tree is ~15 MB;
 * after many small syncs its nodes sit in many small frames. Past either, send whole nodes.
 */
export const MAX_BASE_FRAMES_PER_REQUEST = 1024;
export const MAX_BASE_BYTES_PER_REQUEST = 64 * 1024 * 1024;

export class DeltaResolver {
  private readonly frames = new Set<string>();
  private frameBytes = 0;

  constructor(private readonly req: VaultRequest) {}

  /** The pack with its delta frames resolved (the same bytes, stored frames, as the client's pack). */
  async resolve(pack: Uint8Array, header: PackHeader): Promise<Uint8Array> {
    let bases: string[];
    try {
      bases = deltaBases(pack, header);
    } catch (e) {
      throw deltaError(e);
    }
    if (bases.length > PACK_OBJECT_LIMIT) throw new ApiError(400, "bad_delta", `a pack's delta frames name ${bases.length} bases; at most ${PACK_OBJECT_LIMIT}`);
    const found = await this.req.stub.locate(bases);
    const locations = found?.locations ?? {};
    const absent = bases.filter((a) => !locations[a]);
    if (absent.length) throw new ApiError(400, "bad_delta", `${absent.length} delta base(s) are not stored in this vault (first ${absent[0]}); send the pack without deltas`, { missing: absent.slice(0, 20) });
    const notTree = bases.find((a) => locations[a].type !== ObjectType.Tree);
    if (notTree) throw new ApiError(400, "bad_delta", `delta base ${notTree} is not a tree node; only tree nodes are bases`);
    for (const a of bases) {
      const { pack, frame } = locations[a];
      const key = `${pack}:${frame.idx}`;
      if (this.frames.has(key)) continue;
      this.frames.add(key);
      this.frameBytes += frame.storedLength;
    }
    if (this.frames.size > MAX_BASE_FRAMES_PER_REQUEST || this.frameBytes > MAX_BASE_BYTES_PER_REQUEST)
      throw new ApiError(400, "bad_delta", `the request's deltas need more than ${MAX_BASE_FRAMES_PER_REQUEST} stored frames or ${MAX_BASE_BYTES_PER_REQUEST} bytes read; send the packs without deltas`);
    let bytes: Map<string, Uint8Array>;
    try {
      bytes = await readObjects(this.req.store, locations, true);
    } catch (e) {
      // A damaged base is the server's to repair; the push itself can still go through whole.
      if (e instanceof ApiError && e.code === "corrupt_object") throw new ApiError(400, "bad_delta", `a delta base cannot be read back intact (${e.message}); send the pack without deltas`);
      throw e;
    }
    try {
      return resolveWirePack(pack, header, bytes);
    } catch (e) {
      throw deltaError(e);
    }
  }
}

function deltaError(e: unknown): unknown {
  return e instanceof FormatError ? new ApiError(400, "bad_delta", `malformed delta frame: ${e.message}`) : e;
}
