// Packs in R2, one object per pack under a content-addressed key. Packs are immutable: written
// once (R2 checks the SHA-256 we pass, which is also the name), read whole or by byte range.
import type { Codec } from "../engine/core/pack.ts";
import { ApiError } from "./http.ts";
import type { PackBucket } from "./counting-bucket.ts";

export function packKey(vault: string, id: string): string {
  return `vaults/${vault}/packs/${id.slice(0, 2)}/${id}`;
}

/** Where a frame's stored bytes are in its pack (from the vault index). */
export interface FrameRef {
  idx: number;
  offset: number;
  storedLength: number;
  rawLength: number;
  codec: Codec;
}

/**
 * Two needed frames closer than this are read with one ranged read, gap included: a class B
 * operation costs more than the few KiB of free egress it saves to skip the gap.
 */
const MAX_GAP = 64 * 1024;
/** ...but one read stays bounded, so a reader never holds more than about one pack. */
const MAX_RUN = 8 * 1024 * 1024;

function storageError(what: string, e: unknown): ApiError {
  return new ApiError(503, "storage_unavailable", `${what} failed (${(e as Error)?.message ?? e}); nothing was changed, retry`);
}

export class PackStore {
  constructor(
    readonly bucket: PackBucket,
    readonly vault: string,
  ) {}

  key(id: string): string {
    return packKey(this.vault, id);
  }

  async put(id: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.bucket.put(this.key(id), bytes, { sha256: id, httpMetadata: { contentType: "application/vnd.penumbra.pack" } });
    } catch (e) {
      throw storageError(`storing pack ${id}`, e);
    }
  }

  /**
   * Deletes packs from R2 in one call (at most 1,000 ids). Only for packs that left the index (a
   * rollback, a GC sweep or repack): the vault's Durable Object is the one caller.
   */
  delete(ids: string[]): Promise<void> {
    return this.bucket.delete(ids.map((id) => this.key(id)));
  }

  /** The whole stored pack, checked to have the length the index says. */
  async getWhole(id: string, expectedBytes: number): Promise<R2ObjectBody> {
    let obj: R2ObjectBody | null;
    try {
      obj = await this.bucket.get(this.key(id));
    } catch (e) {
      throw storageError(`reading pack ${id}`, e);
    }
    if (!obj) throw new ApiError(500, "corrupt_object", `pack ${id} is indexed but missing from storage: its objects are lost here; repair from a device that has them (verify --repair)`);
    if (obj.size !== expectedBytes) throw new ApiError(500, "corrupt_object", `stored pack ${id} is ${obj.size} bytes, the index says ${expectedBytes} (truncated or damaged); repair with verify --repair`);
    return obj;
  }

  async getRange(id: string, offset: number, length: number): Promise<Uint8Array> {
    let obj: R2ObjectBody | null;
    try {
      obj = await this.bucket.get(this.key(id), { range: { offset, length } });
    } catch (e) {
      throw storageError(`reading pack ${id}`, e);
    }
    if (!obj) throw new ApiError(500, "corrupt_object", `pack ${id} is indexed but missing from storage: its objects are lost here; repair from a device that has them (verify --repair)`);
    const bytes = new Uint8Array(await obj.arrayBuffer());
    if (bytes.length !== length) throw new ApiError(500, "corrupt_object", `short read of stored pack ${id}: ${bytes.length} of ${length} bytes (truncated); repair with verify --repair`);
    return bytes;
  }

  /**
   * Reads the stored bytes of some frames of one pack, neighbours coalesced into one ranged read,
   * and hands each frame to `onFrame` in offset order. Holds one run (<= MAX_RUN) at a time.
   */
  async readFrames(id: string, frames: readonly FrameRef[], onFrame: (f: FrameRef, stored: Uint8Array) => void | Promise<void>): Promise<void> {
    for (const run of coalesce(frames)) {
      const start = run[0].offset;
      const last = run[run.length - 1];
      const bytes = await this.getRange(id, start, last.offset + last.storedLength - start);
      for (const f of run) await onFrame(f, bytes.subarray(f.offset - start, f.offset - start + f.storedLength));
    }
  }
}

/** Groups frames (sorted by offset) into runs worth one ranged read each. */
export function coalesce(frames: readonly FrameRef[]): FrameRef[][] {
  const sorted = [...frames].sort((a, b) => a.offset - b.offset);
  const runs: FrameRef[][] = [];
  let run: FrameRef[] = [];
  let runStart = 0;
  let runEnd = 0;
  for (const f of sorted) {
    const end = f.offset + f.storedLength;
    if (run.length && f.offset - runEnd <= MAX_GAP && end - runStart <= MAX_RUN) {
      run.push(f);
      runEnd = end;
    } else {
      if (run.length) runs.push(run);
      run = [f];
      runStart = f.offset;
      runEnd = end;
    }
  }
  if (run.length) runs.push(run);
  return runs;
}
