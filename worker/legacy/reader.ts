// Reading a vault for the predecessor's API: its state (config, head, the head's tree root and
// counts) and its objects, through the same index (the vault's Durable Object) and packs (R2) as
// every other route. Tree nodes are read through a per-request cache, and the loads a tree walk
// issues together (one level of updateTree, lookupEntries, diffTrees) go out as one batch: one
// Durable Object lookup and one coalesced set of ranged R2 reads.
import { FormatError } from "../../engine/core/bytes.ts";
import { decodeChunkList, joinChunks } from "../../engine/core/chunklist.ts";
import type { Address } from "../../engine/core/hash.ts";
import { decodeSnapshot, type SnapshotStats } from "../../engine/core/snapshot.ts";
import { decodeNode, type Entry } from "../../engine/core/tree.ts";
import { ApiError } from "../http.ts";
import { readObjects } from "../object-reader.ts";
import type { PackStore } from "../pack-store.ts";
import type { Head, VaultApi } from "../vault-types.ts";

export interface VaultState {
  /** False when the vault was never created: it reads as an empty vault. */
  exists: boolean;
  head: Head | null;
  /** Root of the head's tree; null without a head. */
  root: Address | null;
  /** The head snapshot's counts. */
  stats: SnapshotStats;
  /** What the vault occupies in R2 (the Durable Object's counter of stored pack bytes). */
  bytes: number;
}

export function encryptedVault(vault: string): ApiError {
  return new ApiError(409, "encrypted_vault", `vault ${vault} is encrypted: the server cannot read or write its notes, so the predecessor's API does not serve it; use an engine client`);
}

/** Objects a batch reads at most (one Durable Object lookup, R2 reads coalesced per pack). */
export const READ_BATCH = 1000;

export class VaultReader {
  private readonly nodes = new Map<Address, Promise<Uint8Array>>();
  private queue = new Map<Address, { resolve(b: Uint8Array): void; reject(e: unknown): void }>();
  private scheduled = false;

  constructor(
    readonly vault: string,
    readonly stub: DurableObjectStub<VaultApi>,
    readonly store: PackStore,
  ) {}

  /** The vault's state; 409 encrypted_vault for an encrypted vault. */
  async state(): Promise<VaultState> {
    const info = await this.stub.info();
    const empty: VaultState = { exists: false, head: null, root: null, stats: { notes: 0, embeddings: 0, positions: 0 }, bytes: 0 };
    if (!info) return empty;
    if (info.config.addressing !== "sha256") throw encryptedVault(this.vault);
    const state: VaultState = { ...empty, exists: true, head: info.head, bytes: info.stats.bytes };
    if (!info.head) return state;
    const snap = await this.snapshotInfo(info.head.snapshot);
    if (!snap) throw new ApiError(500, "internal", `the head ${info.head.snapshot} is not in the log`);
    return { ...state, root: snap.root, stats: snap.stats };
  }

  /** Root and counts of a snapshot in the log (null when it is not in the log). */
  async snapshotInfo(id: Address): Promise<{ root: Address; stats: SnapshotStats } | null> {
    const [e] = await this.stub.logEntries([id]);
    if (!e) return null;
    const s = e.stats;
    if (e.root && s && [s.notes, s.embeddings, s.positions].every((n) => Number.isSafeInteger(n)))
      return { root: e.root, stats: { notes: s.notes, embeddings: s.embeddings, positions: s.positions } };
    // Plain vaults log root and stats with every commit; read the snapshot object if one lacks them.
    const bytes = (await this.readMany([id])).get(id) as Uint8Array;
    try {
      const snap = decodeSnapshot(bytes);
      return { root: snap.root, stats: snap.stats };
    } catch (err) {
      throw new ApiError(500, "corrupt_object", `snapshot ${id} cannot be read: ${(err as Error).message}`);
    }
  }

  /** Objects by address, each re-hashed; an address the vault does not hold is a fault (500). */
  async readMany(addrs: readonly Address[]): Promise<Map<Address, Uint8Array>> {
    const out = new Map<Address, Uint8Array>();
    for (let i = 0; i < addrs.length; i += READ_BATCH) {
      const batch = [...new Set(addrs.slice(i, i + READ_BATCH))];
      const found = await this.stub.locate(batch);
      if (!found) throw new ApiError(500, "internal", `vault ${this.vault} vanished during the request`);
      const lost = batch.filter((a) => !found.locations[a]);
      if (lost.length) throw new ApiError(500, "internal", `object ${lost[0]} is referenced by the vault's tree but not stored`);
      for (const [a, b] of await readObjects(this.store, found.locations, true)) out.set(a, b);
    }
    return out;
  }

  /** A NodeLoader for the core tree code: cached, and the loads issued in one turn are batched. */
  readonly load = (addr: Address): Promise<Uint8Array> => {
    let p = this.nodes.get(addr);
    if (!p) {
      p = new Promise<Uint8Array>((resolve, reject) => this.queue.set(addr, { resolve, reject }));
      this.nodes.set(addr, p);
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => void this.flush());
      }
    }
    return p;
  };

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = new Map();
    this.scheduled = false;
    try {
      const got = await this.readMany([...batch.keys()]);
      for (const [a, w] of batch) w.resolve(got.get(a) as Uint8Array);
    } catch (e) {
      for (const [a, w] of batch) {
        this.nodes.delete(a);
        w.reject(e);
      }
    }
  }

  /** The bytes of a note part (a chunked note reassembled), or of an embedding or position. */
  async partBytes(addr: Address, chunked = false): Promise<Uint8Array> {
    const first = (await this.readMany([addr])).get(addr) as Uint8Array;
    return chunked ? this.joined(first) : first;
  }

  async joined(listBytes: Uint8Array): Promise<Uint8Array> {
    try {
      const list = decodeChunkList(listBytes);
      const parts = await this.readMany(list.chunks.map((c) => c.addr));
      return joinChunks(
        list,
        list.chunks.map((c) => parts.get(c.addr) as Uint8Array),
      );
    } catch (e) {
      if (e instanceof FormatError) throw new ApiError(500, "corrupt_object", `a chunked note cannot be read: ${e.message}`);
      throw e;
    }
  }

  /**
   * The size in bytes of the vault's embeddings: that of the first embedding in id order (the
   * leftmost leaves; usually the first one has it). Null when the head has no embedding.
   */
  async embeddingBytes(state: VaultState): Promise<number | null> {
    if (!state.root || state.stats.embeddings === 0) return null;
    const visit = async (addr: Address): Promise<number | null> => {
      const n = decodeNode(await this.load(addr));
      if (n.level === 0) {
        const e = (n as { entries: Entry[] }).entries.find((x) => x.embedding);
        return e ? (e.dims as number) * 4 : null;
      }
      for (const c of (n as { children: { addr: Address }[] }).children) {
        const r = await visit(c.addr);
        if (r !== null) return r;
      }
      return null;
    };
    return visit(state.root);
  }
}
