// Writes of the predecessor's API, through the content-addressed store exactly as an engine push
// would leave it: each item encoded as the engine encodes it (notes and positions as canonical
// JSON blobs, notes over 64 KiB as chunks + a chunk list, embeddings as raw little-endian float32
// blobs), the manifest tree updated along the changed paths only (engine/core/tree-update.ts), one
// snapshot (device "legacy-api", parent = the head), and the new objects in ONE pack, indexed and
// put to R2 like a pushed pack, then committed with the Durable Object's compare-and-swap on the
// head it read. A lost race releases the pack and starts over from the new head (a few times).
import { LARGE_BLOB, splitLargeBlob } from "../../engine/core/chunklist.ts";
import { streamCompressor } from "../../engine/core/compress.ts";
import { addressOf, type Address } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { Codec, decodePackHeader, PackBuilder } from "../../engine/core/pack.ts";
import { encodeSnapshot, type SnapshotStats } from "../../engine/core/snapshot.ts";
import { buildTree, entriesEqual, type Entry } from "../../engine/core/tree.ts";
import { lookupEntries, updateTree } from "../../engine/core/tree-update.ts";
import type { CountingBucket } from "../counting-bucket.ts";
import { ApiError, badRequest } from "../http.ts";
import type { PackStore } from "../pack-store.ts";
import { quotaError } from "../push.ts";
import type { VaultObject } from "../vault-object.ts";
import type { VaultConfig } from "../vault-types.ts";
import { encryptedVault, VaultReader, type VaultState } from "./reader.ts";

export const LEGACY_DEVICE = "legacy-api";
const PLAIN_CONFIG: VaultConfig = { format: 1, addressing: "sha256", encryption: null };
/** Compare-and-swap attempts before answering 503 busy (each lost race means another write landed). */
const MAX_ATTEMPTS = 10;
export const EMPTY_ROOT = buildTree([]).root;

/** One item's change. For a part: undefined keeps it, null removes it, bytes set it. */
export interface ItemWrite {
  id: string;
  note?: Uint8Array | null;
  embedding?: Uint8Array | null;
  position?: Uint8Array | null;
  /** Removes the whole item (every part). */
  remove?: boolean;
}

export interface WriteTarget {
  vault: string;
  stub: DurableObjectStub<VaultObject>;
  store: PackStore;
  bucket: CountingBucket;
  /** VAULT_LIMIT_BYTES; undefined = no quota check (clear: it must work on a full vault). */
  limitBytes?: number;
}

export interface WriteResult {
  /** The head after the write (the new snapshot, or the old head when nothing changed). */
  snapshot: Address | null;
  committed: boolean;
  stored: SnapshotStats;
  deleted: number;
  /** Ids whose removal found nothing to remove. */
  absent: string[];
  /** The counts of the head this write was made on (what a clear removed). */
  before: SnapshotStats;
}

interface Pending {
  type: ObjectType;
  bytes: Uint8Array;
  codec: boolean | Codec;
}

export interface WriteOptions {
  /** Replace the whole tree with the empty tree. */
  clear?: boolean;
  /** A vault without a head gets one even if nothing changed (the empty tree): the answer must name a snapshot. */
  ensureHead?: boolean;
}

export async function writeItems(t: WriteTarget, writes: readonly ItemWrite[], opts: WriteOptions = {}): Promise<WriteResult> {
  const reader = new VaultReader(t.vault, t.stub, t.store);
  for (let attempt = 1; ; attempt++) {
    const r = await attemptWrite(t, reader, writes, opts);
    if (r !== "retry") return r;
    if (attempt >= MAX_ATTEMPTS)
      throw new ApiError(503, "busy", `vault ${t.vault} changed ${MAX_ATTEMPTS} times while this write was being made; nothing was changed, retry`);
    // Jittered, growing back-off so that racing writers spread out.
    await new Promise((res) => setTimeout(res, Math.random() * Math.min(200, 10 * 2 ** attempt)));
  }
}

async function attemptWrite(t: WriteTarget, reader: VaultReader, writes: readonly ItemWrite[], opts: WriteOptions): Promise<WriteResult | "retry"> {
  const clear = !!opts.clear;
  const gcEpoch = await t.stub.gcEpoch(); // a GC removing objects before our commit makes it retry
  const state = await reader.state();
  const old = clear ? new Map<string, Entry>() : await lookupEntries(state.root, new Set(writes.map((w) => w.id)), reader.load);
  const objects = new Map<Address, Pending>();
  const put = (type: ObjectType, bytes: Uint8Array, codec: boolean | Codec): Address => {
    const addr = addressOf(bytes);
    if (!objects.has(addr)) objects.set(addr, { type, bytes, codec });
    return addr;
  };
  const stored = { notes: 0, embeddings: 0, positions: 0 };
  const changes = new Map<string, Entry | null>();
  const absent: string[] = [];
  let deleted = 0;
  let embeddingSize: number | null | undefined;

  for (const w of writes) {
    const before = old.get(w.id);
    if (w.remove) {
      if (before) {
        changes.set(w.id, null);
        deleted++;
      } else absent.push(w.id);
      continue;
    }
    const e: Entry = before ? { ...before } : { id: w.id };
    let removedNothing = false;
    if (w.note === null) {
      if (!e.note) removedNothing = true;
      delete e.note;
      delete e.chunked;
    } else if (w.note) {
      // As the engine stages it: one blob, or (over 64 KiB) content-defined chunks and their list.
      const split = w.note.length > LARGE_BLOB ? splitLargeBlob(w.note) : null;
      const addr = split ? split.listAddr : addressOf(w.note);
      const chunked = !!split;
      if (addr !== e.note || chunked !== !!e.chunked) {
        if (split) {
          for (const c of split.chunks) put(ObjectType.Blob, c.bytes, true);
          put(ObjectType.ChunkList, split.list, false);
        } else put(ObjectType.Blob, w.note, true);
        e.note = addr;
        if (chunked) e.chunked = true;
        else delete e.chunked;
        stored.notes++;
      }
    }
    if (w.embedding === null) {
      if (!e.embedding) removedNothing = true;
      delete e.embedding;
      delete e.dims;
    } else if (w.embedding) {
      const addr = addressOf(w.embedding);
      const dims = w.embedding.length / 4;
      if (addr !== e.embedding || dims !== e.dims) {
        if (embeddingSize === undefined) embeddingSize = await reader.embeddingBytes(state);
        if (embeddingSize === null) embeddingSize = w.embedding.length;
        if (w.embedding.length !== embeddingSize)
          throw badRequest(`the embedding of ${w.id} is ${w.embedding.length} bytes; this vault's embeddings are ${embeddingSize} bytes (${embeddingSize / 4} float32 values)`);
        put(ObjectType.Blob, w.embedding, Codec.Shuffle4Gzip);
        e.embedding = addr;
        e.dims = dims;
        stored.embeddings++;
      }
    }
    if (w.position === null) {
      if (!e.position) removedNothing = true;
      delete e.position;
    } else if (w.position) {
      const addr = addressOf(w.position);
      if (addr !== e.position) {
        put(ObjectType.Blob, w.position, true);
        e.position = addr;
        stored.positions++;
      }
    }
    if (removedNothing) absent.push(w.id);
    const after = e.note || e.embedding || e.position ? e : null;
    if (after ? !entriesEqual(before, after) : before) changes.set(w.id, after);
  }

  const needsEmptySnapshot = (clear && state.root !== EMPTY_ROOT) || (!!opts.ensureHead && !state.head);
  if (!changes.size && !needsEmptySnapshot) return { snapshot: state.head?.snapshot ?? null, committed: false, stored, deleted, absent, before: state.stats };

  let current: VaultState = state;
  if (!state.exists) {
    // First write to this vault: create it as a plain vault (a concurrent create is fine if plain).
    const c = await t.stub.create(t.vault, PLAIN_CONFIG);
    if (c.info.config.addressing !== "sha256") throw encryptedVault(t.vault);
    if (c.info.head) return "retry"; // someone committed in between: start from their head
    current = { ...state, exists: true };
  }

  const tree = clear ? { ...buildTree([]), loaded: 0 } : await updateTree(current.root, changes, reader.load);
  const stats = clear ? { notes: 0, embeddings: 0, positions: 0 } : { ...current.stats };
  if (!clear) {
    for (const [id, after] of changes) {
      const before = old.get(id);
      stats.notes += (after?.note ? 1 : 0) - (before?.note ? 1 : 0);
      stats.embeddings += (after?.embedding ? 1 : 0) - (before?.embedding ? 1 : 0);
      stats.positions += (after?.position ? 1 : 0) - (before?.position ? 1 : 0);
    }
  }
  for (const [addr, bytes] of tree.nodes) if (!objects.has(addr)) objects.set(addr, { type: ObjectType.Tree, bytes, codec: false });
  const head = current.head?.snapshot ?? null;
  const time = new Date().toISOString();
  const snap = encodeSnapshot({ parents: head ? [head] : [], root: tree.root, device: LEGACY_DEVICE, time, stats });

  // Dedupe by address against the whole vault: only what it does not hold goes into the pack;
  // what it holds in packs no commit stamped yet is stamped by this one.
  const found = objects.size ? await t.stub.lookup({ nodes: [], leaves: [...objects.keys()], own: [] }) : { missing: [], pendingPacks: [] as string[] };
  const missing = new Set(found.missing);
  const builder = new PackBuilder();
  for (const [addr, o] of objects) if (missing.has(addr)) builder.add(o.type, addr, o.bytes, o.codec);
  builder.add(ObjectType.Snapshot, snap.addr, snap.bytes, true);
  const pack = await builder.finish(streamCompressor);
  const header = pack.bytes.slice(0, decodePackHeader(pack.bytes).headerEnd);

  const reg = await t.stub.registerPack(pack.id, pack.bytes.length, header, t.limitBytes);
  if (reg.quotaExceeded) throw quotaError(reg.quotaExceeded.used, pack.bytes.length, reg.quotaExceeded.limit);
  const own = reg.stored ? [] : [pack.id];
  const release = async () => {
    if (!own.length) return;
    const { deleted: gone } = await t.stub.releasePacks(own);
    if (gone.length) t.bucket.addClassA(1);
  };
  let result;
  try {
    if (own.length) await t.store.put(pack.id, pack.bytes);
    result = await t.stub.commit({
      snapshot: snap.addr,
      parents: head ? [head] : [],
      expect: head,
      packs: [pack.id, ...found.pendingPacks],
      own,
      // Every node below these is stored: new ones in this pack or the vault, old ones committed.
      completeNodes: [...objects].filter(([, o]) => o.type === ObjectType.Tree || o.type === ObjectType.ChunkList).map(([a]) => a),
      root: tree.root,
      device: LEGACY_DEVICE,
      time,
      stats: { ...stats },
      gcEpoch,
    });
  } catch (e) {
    await release().catch((err) => console.error("legacy write rollback failed", err));
    throw e;
  }
  if (!result.ok) {
    await release();
    if (result.reason === "head_moved" || result.reason === "gc_raced") return "retry";
    throw new ApiError(500, "internal", `commit of a legacy write failed: ${result.reason}`);
  }
  return { snapshot: snap.addr, committed: true, stored, deleted, absent, before: current.stats };
}
