// The page's side of the engine worker (worker.ts): a small promise RPC over postMessage, and the
// services built on it: a Compressor, a pack verifier, a pack digest and a note stager. Buffers go
// to the worker as copies that are transferred (never the caller's memory, never a whole buffer
// behind a small view).
import type { Compressor } from "../core/compress.ts";
import { yieldToEventLoop } from "../store/idb-store.ts";
import type { Address } from "../core/hash.ts";
import type { NoteInput, StageResult, WorkerRequest, WorkerResponse } from "./protocol.ts";

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type Body = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export interface EngineWorkerOptions {
  /** URL of the built worker module (default: worker.js beside this bundle). */
  url?: string | URL;
  /** How many workers share the work (default: cores - 1, 1 to 4). */
  size?: number;
}

/** An error the worker threw, with its original name (HashMismatchError, FormatError, ...). */
export class WorkerTaskError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

function copyForTransfer(a: Uint8Array): Uint8Array {
  return a.slice();
}

export class EngineWorker {
  private workers: Worker[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private turn = 0;
  private closed = false;

  constructor(opts: EngineWorkerOptions = {}) {
    const url = opts.url ?? new URL("./worker.js", import.meta.url);
    const cores = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency ?? 2;
    const size = Math.max(1, Math.min(4, opts.size ?? cores - 1));
    for (let i = 0; i < size; i++) {
      const w = new Worker(url, { type: "module", name: `penumbra-engine-${i}` });
      w.onmessage = (e: MessageEvent<WorkerResponse>) => this.settle(e.data);
      w.onerror = (e) => this.failAll(new Error(`the engine worker failed: ${e.message || "could not load " + String(url)}`));
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  private settle(m: WorkerResponse): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new WorkerTaskError(m.error.name, m.error.message));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  call<T>(body: Body, transfer: Transferable[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the engine worker is closed"));
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length];
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...body, id } as WorkerRequest, transfer);
    });
  }

  /**
   * Frames the worker already inflated while verifying a pack, by the pack's buffer and the frame's
   * offset: the engine's own readPack of that pack (sync.ts) then takes them instead of inflating
   * the same bytes again. Each is used once.
   */
  private inflated = new WeakMap<ArrayBufferLike, Map<number, Uint8Array>>();
  /** Ids of packs the worker hashed, by the very Uint8Array it handed back. */
  private packIds = new WeakMap<Uint8Array, Address>();
  /** Blobs of those packs, made in the worker (IdbStore's `packBlob`). */
  private packBlobs = new WeakMap<Uint8Array, Blob>();

  /** Frame compression in the worker: pass as `compressor` to Vault.open and IdbStore.open. */
  readonly compressor: Compressor = {
    gzip: (data) => {
      const d = copyForTransfer(data);
      return this.call<Uint8Array>({ op: "gzip", data: d }, [d.buffer]);
    },
    gunzip: (data, rawLength) => {
      const known = this.inflated.get(data.buffer)?.get(data.byteOffset);
      if (known && known.length === rawLength) {
        this.inflated.get(data.buffer)?.delete(data.byteOffset);
        // Answered in a later task: the caller's work on each frame (unshuffling) then runs in its
        // own task, not all frames of a pack in one.
        return yieldToEventLoop().then(() => known);
      }
      const d = copyForTransfer(data);
      return this.call<Uint8Array>({ op: "gunzip", data: d, rawLength }, [d.buffer]);
    },
  };

  /** SHA-256 of `data`, as an address (a pack verified here: known without hashing again). */
  digest(data: Uint8Array): Promise<Address> {
    const known = this.packIds.get(data);
    if (known) return Promise.resolve(known);
    const d = copyForTransfer(data);
    return this.call<Address>({ op: "digest", data: d }, [d.buffer]);
  }

  /** The id of a pack this worker verified (the same Uint8Array verifyPack returned), if any. */
  knownPackId(pack: Uint8Array): Address | undefined {
    return this.packIds.get(pack);
  }

  /** A Blob of a pack this worker verified, if any (for IdbStore's `packBlob`). */
  readonly packBlob = (pack: Uint8Array): Blob | undefined => this.packBlobs.get(pack);

  /**
   * Checks a downloaded pack in the worker: layout, every frame, every object's hash. `pack` is
   * moved to the worker and back (no copy) and must not be used afterwards: use the returned one.
   */
  async verifyPack(pack: Uint8Array): Promise<{ id: Address; objects: number; pack: Uint8Array }> {
    const own = pack.byteOffset === 0 && pack.byteLength === pack.buffer.byteLength ? pack : copyForTransfer(pack);
    const r = await this.call<{ id: Address; objects: number; pack: Uint8Array; inflated: { offset: number; data: Uint8Array }[]; blob?: Blob }>({ op: "verifyPack", pack: own }, [own.buffer]);
    if (r.inflated.length) this.inflated.set(r.pack.buffer, new Map(r.inflated.map((x) => [x.offset, x.data])));
    this.packIds.set(r.pack, r.id);
    if (r.blob) this.packBlobs.set(r.pack, r.blob);
    return { id: r.id, objects: r.objects, pack: r.pack };
  }

  /** Canonical JSON, embeddings, chunking, hashing and packing of notes (or of a JSON file of notes). */
  stage(input: { notes?: NoteInput[]; json?: Blob | string }, packTarget = 4 * 1024 * 1024): Promise<StageResult> {
    return this.call<StageResult>({ op: "stage", ...input, packTarget });
  }

  close(): void {
    this.closed = true;
    for (const w of this.workers) w.terminate();
    this.failAll(new Error("the engine worker was closed"));
  }
}
