// A vault on one device: the working state (note id -> part addresses), the objects it stages, and
// local snapshots. Sync lives in engine/sync/; this file knows nothing about the network.
import { fromUtf8 } from "../core/bytes.ts";
import { addressOf, type Address } from "../core/hash.ts";
import { ObjectType, type StoredObject } from "../core/object.ts";
import { Codec, PackBuilder, readPack } from "../core/pack.ts";
import { streamCompressor, type Compressor } from "../core/compress.ts";
import { buildTree, decodeNode, iterateTree, entryRefs, lookup, plainKeying, type Entry, type KeyHashCache, type TreeChange, type TreeKeying } from "../core/tree.ts";
import { walkTreeDiff } from "../core/tree-walk.ts";
import { updateTree } from "../core/tree-update.ts";
import { countParts, encodeSnapshot, decodeSnapshot, type Snapshot } from "../core/snapshot.ts";
import { LARGE_BLOB, splitLargeBlob, decodeChunkList, joinChunks } from "../core/chunklist.ts";
import { assertNoteId, decodeEmbedding, decodeJsonPart, encodeEmbedding, encodeJsonPart, type PartName } from "../core/parts.ts";
import type { JsonObject } from "../core/canonical.ts";
import type { LocalStore } from "../store/store.ts";
import { VaultKeys } from "../crypto/keys.ts";

/** Refs, written together in one atomic meta write. */
export interface Refs {
  /** This device's newest snapshot (may not be pushed yet). */
  head: Address | null;
  /** The newest remote head this device has all objects of and has merged. */
  base: Address | null;
  /** Local packs written since `base` that the remote may lack: a push uploads them as they are. */
  unpushed: Address[];
  /** Total size of the unpushed packs. */
  unpushedBytes?: number;
}

export interface VaultOptions {
  store: LocalStore;
  device?: string;
  compressor?: Compressor;
  clock?: () => Date;
  /** Upload packs are cut at about this many bytes (estimated after compression). */
  packTarget?: number;
  /**
   * An encrypted vault's keys (engine/crypto: unlockEncryption, or VaultKeys.fromVaultKey of the
   * device's stored key). Objects are then named by keyed hashes and sealed before they reach the
   * store; every read authenticates them. A store that held this vault encrypted refuses to open
   * without them, and with another vault's keys.
   */
  keys?: VaultKeys;
  /**
   * Open without reading the head's tree: the working state is then the head tree plus the changes
   * given (putEntry, removeEntry, updateEntries), and a commit rewrites only the nodes they touch,
   * so opening and a no-op cost O(1) and an edit O(change), whatever the vault's size (the CLI).
   * `ids()`, `entry()`, `size` and `setEntry` need the whole state: call `loadEntries()` first.
   */
  lazyWorking?: boolean;
  /**
   * Called after each pack the vault writes to its store (a flush's or a commit's): the CLI
   * collects its heap there when it grew (cli/heap-mode.ts).
   */
  onPackStored?: () => void;
}

/** The store and the keys given do not belong together. */
export class VaultKeyError extends Error {
  override name = "VaultKeyError";
}

interface Staged {
  obj: StoredObject;
  /** Frame codec for packing: true = gzip, false = stored, or an explicit codec. */
  compressible: boolean | Codec;
}

const EMPTY_REFS: Refs = { head: null, base: null, unpushed: [] };
const DEFAULT_PACK_TARGET = 4 * 1024 * 1024;

export class MissingObjectError extends Error {
  override name = "MissingObjectError";
  constructor(readonly addr: Address) {
    super(`object ${addr} is not in the local store`);
  }
}

export class Vault {
  readonly store: LocalStore;
  private readonly onPackStored: (() => void) | undefined;
  /** Encrypted vaults: the keys (null for plain vaults). */
  readonly keys: VaultKeys | null;
  /** How the manifest is keyed and its nodes named (plain: ids and SHA-256; encrypted: keyed hashes). */
  readonly keying: TreeKeying;
  /** Names an object by its (plaintext) bytes: SHA-256, or the vault's keyed hash. */
  readonly addressOf: (bytes: Uint8Array) => Address;
  readonly device: string;
  readonly compressor: Compressor;
  readonly clock: () => Date;
  readonly packTarget: number;
  refs: Refs = { ...EMPTY_REFS };
  /** Root of the head snapshot's tree (the empty tree's root when there is no head). */
  headRoot: Address | null = null;
  /** Every working entry, or null in lazy mode until loadEntries (the working state is then headRoot + overlay). */
  private entries: Map<string, Entry> | null = new Map();
  /** Lazy mode: working entries that differ from the head's tree (null: deleted). */
  private overlay = new Map<string, Entry | null>();
  private readonly lazy: boolean;
  private staged = new Map<Address, Staged>();
  /** Objects a background flush is packing (readable until they are stored). */
  private flushingObjects: Map<Address, Staged> | null = null;
  /** The background flush running (it never rejects: its error waits in flushFailure). */
  private flushing: Promise<void> | null = null;
  private flushFailure: unknown = null;
  private stagedByteCount = 0;
  private dirty = false;
  private snapshots = new Map<Address, Snapshot>();
  readonly keyHashCache: KeyHashCache = new Map();

  private constructor(opts: VaultOptions, device: string) {
    this.store = opts.store;
    this.onPackStored = opts.onPackStored;
    this.keys = opts.keys ?? null;
    this.keying = this.keys ? this.keys.keying : plainKeying;
    this.addressOf = this.keys ? this.keys.addressOf : addressOf;
    this.device = device;
    this.compressor = opts.compressor ?? streamCompressor;
    this.clock = opts.clock ?? (() => new Date());
    this.packTarget = opts.packTarget ?? DEFAULT_PACK_TARGET;
    this.lazy = opts.lazyWorking ?? false;
  }

  static async open(opts: VaultOptions): Promise<Vault> {
    await checkStoreKeys(opts.store, opts.keys);
    let device = opts.device ?? (await opts.store.getMeta<string>("device"));
    if (!device) {
      const b = crypto.getRandomValues(new Uint8Array(8));
      device = `dev-${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
    }
    await opts.store.setMeta("device", device);
    const v = new Vault(opts, device);
    v.refs = { ...EMPTY_REFS, ...((await opts.store.getMeta<Refs>("refs")) ?? {}) };
    await v.loadWorking(v.refs.head);
    return v;
  }

  // ---- reading objects ----

  readonly load = async (addr: Address): Promise<Uint8Array> => {
    const s = this.staged.get(addr) ?? this.flushingObjects?.get(addr);
    if (s) return s.obj.bytes;
    const b = await this.readStored(addr);
    if (!b) throw new MissingObjectError(addr);
    return b;
  };

  get encrypted(): boolean {
    return this.keys !== null;
  }

  /** An object from the store (not the staging area), authenticated and opened in encrypted vaults; undefined if not stored. */
  async readStored(addr: Address): Promise<Uint8Array | undefined> {
    const b = await this.store.getObject(addr);
    if (!b || !this.keys) return b;
    return this.keys.openObject(addr, b).bytes;
  }

  /**
   * The objects of a downloaded pack, checked as this vault stores them: plain vaults by SHA-256,
   * encrypted vaults by authenticating (opening) every sealed object, whose listed type must be
   * the sealed one. `verify` false skips the per-object check (a caller that checked elsewhere).
   * The objects come back as stored (sealed, in encrypted vaults).
   */
  async readPack(pack: Uint8Array, verify = true): Promise<StoredObject[]> {
    const objects = await readPack(pack, this.compressor, { verifyAddresses: verify && !this.keys });
    if (verify && this.keys) for (const o of objects) this.keys.openObject(o.addr, o.bytes, o.type);
    return objects;
  }

  async snapshot(addr: Address): Promise<Snapshot> {
    let s = this.snapshots.get(addr);
    if (!s) {
      s = decodeSnapshot(await this.load(addr));
      this.snapshots.set(addr, s);
    }
    return s;
  }

  async rootOf(snapshot: Address | null): Promise<Address | null> {
    return snapshot ? (await this.snapshot(snapshot)).root : null;
  }

  /** A part's bytes, reassembling chunked notes. */
  async readPart(addr: Address, chunked = false): Promise<Uint8Array> {
    if (!chunked) return this.load(addr);
    const list = decodeChunkList(await this.load(addr));
    return joinChunks(list, await Promise.all(list.chunks.map((c) => this.load(c.addr))));
  }

  // ---- the working state ----

  /** Makes the head's tree the working state (lazy mode: without reading it). */
  async loadWorking(head: Address | null): Promise<void> {
    this.headRoot = await this.rootOf(head);
    this.overlay.clear();
    this.entries = null;
    if (!this.lazy) await this.loadEntries();
    this.dirty = false;
  }

  /** Reads the whole working state into memory (lazy mode; a no-op otherwise). */
  async loadEntries(): Promise<void> {
    if (this.entries) return;
    const all = new Map<string, Entry>();
    if (this.headRoot) for await (const e of iterateTree(this.headRoot, this.load)) all.set(e.id, e);
    for (const [id, e] of this.overlay) {
      if (e) all.set(id, e);
      else all.delete(id);
    }
    this.overlay.clear();
    this.entries = all;
  }

  private all(): Map<string, Entry> {
    if (!this.entries) throw new Error("working state not loaded (lazyWorking): await loadEntries() first");
    return this.entries;
  }

  ids(): string[] {
    return [...this.all().keys()].sort();
  }

  entry(id: string): Entry | undefined {
    return this.all().get(id);
  }

  /** An entry of the working state, in either mode (lazy: from the changes, else from the head's tree). */
  async entryOf(id: string): Promise<Entry | undefined> {
    if (this.entries) return this.entries.get(id);
    if (this.overlay.has(id)) return this.overlay.get(id) ?? undefined;
    return this.headRoot ? lookup(this.headRoot, this.keying.keyOf(id), this.load) : undefined;
  }

  get size(): number {
    return this.all().size;
  }

  get hasUncommittedChanges(): boolean {
    return this.dirty;
  }

  /** Stages any object (merge writes virtual ancestors this way: staged, never stored unless referenced). */
  stageObject(type: ObjectType, bytes: Uint8Array): Address {
    return this.stage(type, bytes, type === ObjectType.Snapshot);
  }

  private stage(type: ObjectType, bytes: Uint8Array, compressible: boolean | Codec): Address {
    const addr = this.addressOf(bytes);
    // An object a background flush is packing is stored by it (or staged again if it fails).
    if (!this.flushingObjects?.has(addr)) this.addStaged({ obj: { type, addr, bytes }, compressible });
    return addr;
  }

  private addStaged(s: Staged): void {
    if (this.staged.has(s.obj.addr)) return;
    this.staged.set(s.obj.addr, s);
    this.stagedByteCount += s.obj.bytes.length;
  }

  /** Bytes staged and not yet packed. */
  get stagedBytes(): number {
    return this.stagedByteCount;
  }

  /** Objects staged and not yet packed. */
  get stagedCount(): number {
    return this.staged.size;
  }

  /**
   * Packs every staged object the store lacks into the store now, as unpushed packs, so that staging
   * a whole folder (an initial push of 100,000 notes is ~460 MB) never holds it all in memory. Only
   * for content about to be committed: packs written here are uploaded by the next push even if no
   * snapshot ends up referencing them (the server's GC then removes them).
   *
   * `background`: start packing and return at once, so that staging goes on while other threads
   * seal (encrypted vaults with a seal pool). One flush runs at a time; the next flush, commit and
   * settleFlush wait for it and report its error. Objects being flushed stay readable meanwhile.
   */
  async flushStaged(opts: { background?: boolean } = {}): Promise<void> {
    await this.settleFlush();
    if (this.staged.size === 0) return;
    const flushing = this.staged;
    this.flushingObjects = flushing;
    this.staged = new Map();
    this.stagedByteCount = 0;
    const run = async () => {
      // No list of them kept here: writePacks lets go of each object once its pack is stored.
      const have = await this.store.hasObjects([...flushing.keys()]);
      const packs = await this.writePacks([...flushing.values()].filter((s) => !have.has(s.obj.addr)));
      if (packs.length) await this.setRefs(this.withUnpushed(packs));
    };
    this.flushing = run().then(
      () => {
        this.flushing = this.flushingObjects = null;
      },
      (error: unknown) => {
        // Nothing is lost: the objects are staged again (a later flush or commit stores them).
        for (const s of flushing.values()) this.addStaged(s);
        this.flushing = this.flushingObjects = null;
        this.flushFailure = error;
      },
    );
    if (!opts.background) await this.settleFlush();
  }

  /** Waits for a background flush to end; throws its error, once. */
  async settleFlush(): Promise<void> {
    if (this.flushing) await this.flushing;
    const error = this.flushFailure;
    if (error === null) return;
    this.flushFailure = null;
    throw error;
  }

  /** Whether a background flush is packing (a busy staging loop should then yield now and then, so that it can go on). */
  get flushInProgress(): boolean {
    return this.flushing !== null;
  }

  /** Refs with these packs added to the ones waiting for a push. */
  private withUnpushed(packs: { id: Address; bytes: number }[]): Partial<Refs> {
    return { unpushed: [...this.refs.unpushed, ...packs.map((p) => p.id)], unpushedBytes: (this.refs.unpushedBytes ?? 0) + packs.reduce((n, p) => n + p.bytes, 0) };
  }

  /** Stages a note's bytes: small notes as one blob, large ones as chunks + a chunk list. */
  stageNoteBytes(bytes: Uint8Array): { note: Address; chunked?: true } {
    if (bytes.length <= LARGE_BLOB) return { note: this.stage(ObjectType.Blob, bytes, true) };
    const split = splitLargeBlob(bytes, this.addressOf);
    for (const c of split.chunks) this.stage(ObjectType.Blob, c.bytes, true);
    return { note: this.stage(ObjectType.ChunkList, split.list, false), chunked: true };
  }

  stageJsonBlob(bytes: Uint8Array): Address {
    return this.stage(ObjectType.Blob, bytes, true);
  }

  stageEmbeddingBytes(bytes: Uint8Array): Address {
    if (bytes.length === 0 || bytes.length % 4 !== 0) throw new RangeError(`embedding of ${bytes.length} bytes: must be a positive multiple of 4`);
    return this.stage(ObjectType.Blob, bytes, Codec.Shuffle4Gzip);
  }

  /** Sets an entry's parts as given (undefined removes a part); an entry with no parts is deleted. */
  setEntry(id: string, parts: Partial<Omit<Entry, "id">>): void {
    assertNoteId(id);
    const entries = this.all();
    const e: Entry = { id, ...(entries.get(id) ?? {}), ...parts };
    for (const k of Object.keys(e) as (keyof Entry)[]) if (e[k] === undefined) delete e[k];
    if (!e.note) delete e.chunked;
    if (!e.embedding) delete e.dims;
    if (!e.note && !e.embedding && !e.position) entries.delete(id);
    else entries.set(id, e);
    this.dirty = true;
  }

  putEntry(e: Entry): void {
    if (this.entries) this.entries.set(e.id, { ...e });
    else this.overlay.set(e.id, { ...e });
    this.dirty = true;
  }

  removeEntry(id: string): void {
    if (!this.entries) {
      this.overlay.set(id, null);
      this.dirty = true;
    } else if (this.entries.delete(id)) this.dirty = true;
  }

  /** Applies a scan's changes (entry, or null: deleted) to the working state. */
  updateEntries(changes: ReadonlyMap<string, Entry | null>): void {
    for (const [id, e] of changes) {
      if (e) this.putEntry(e);
      else this.removeEntry(id);
    }
  }

  async putNote(id: string, note: JsonObject): Promise<void> {
    const r = this.stageNoteBytes(encodeJsonPart(note));
    this.setEntry(id, { note: r.note, chunked: r.chunked });
  }

  async putEmbedding(id: string, values: Float32Array | readonly number[]): Promise<void> {
    const bytes = encodeEmbedding(values);
    this.setEntry(id, { embedding: this.stageEmbeddingBytes(bytes), dims: bytes.length / 4 });
  }

  async putPosition(id: string, position: JsonObject): Promise<void> {
    this.setEntry(id, { position: this.stageJsonBlob(encodeJsonPart(position)) });
  }

  /** Deletes a whole note (all parts), or one part of it. */
  async delete(id: string, part?: PartName): Promise<void> {
    if (!part) return this.removeEntry(id);
    if (part === "note") this.setEntry(id, { note: undefined, chunked: undefined });
    else if (part === "embedding") this.setEntry(id, { embedding: undefined, dims: undefined });
    else this.setEntry(id, { position: undefined });
  }

  async getNote(id: string): Promise<JsonObject | undefined> {
    const e = await this.entryOf(id);
    return e?.note ? decodeJsonPart(await this.readPart(e.note, e.chunked), "note") : undefined;
  }

  async getNoteText(id: string): Promise<string | undefined> {
    const e = await this.entryOf(id);
    return e?.note ? fromUtf8(await this.readPart(e.note, e.chunked)) : undefined;
  }

  async getEmbedding(id: string): Promise<Float32Array | undefined> {
    const e = await this.entryOf(id);
    return e?.embedding ? decodeEmbedding(await this.load(e.embedding)) : undefined;
  }

  async getPosition(id: string): Promise<JsonObject | undefined> {
    const e = await this.entryOf(id);
    return e?.position ? decodeJsonPart(await this.load(e.position), "position") : undefined;
  }

  // ---- local snapshots ----

  async setRefs(refs: Partial<Refs>): Promise<void> {
    this.refs = { ...this.refs, ...refs };
    await this.store.setMeta("refs", this.refs);
  }

  /**
   * Records the working state as a local snapshot if it differs from the head. An unpushed head is
   * replaced (its parents kept), so at most one local snapshot ever waits for a push.
   */
  async commit(message?: string): Promise<{ snapshot: Address | null; changes: TreeChange[] }> {
    await this.settleFlush();
    if (!this.dirty && this.refs.head) return { snapshot: this.refs.head, changes: [] };
    // An empty vault that never had a snapshot has nothing to record (a new device joining).
    const empty = this.entries ? this.entries.size === 0 : ![...this.overlay.values()].some((e) => e);
    if (!this.refs.head && empty) return { snapshot: null, changes: [] };
    // Lazy mode: only the nodes the changes touch are read and rewritten.
    const tree = this.entries ? buildTree(this.entries.values(), this.keying, this.keyHashCache) : await updateTree(this.headRoot, this.overlay, this.load, this.keying, this.keyHashCache);
    if (tree.root === this.headRoot && this.refs.head) {
      this.overlay.clear();
      this.dirty = false;
      return { snapshot: this.refs.head, changes: [] };
    }
    const parents = this.refs.head && this.refs.head !== this.refs.base ? (await this.snapshot(this.refs.head)).parents : this.refs.base ? [this.refs.base] : [];
    const r = await this.writeSnapshot(tree, parents, message);
    this.overlay.clear();
    this.dirty = false;
    return r;
  }

  /**
   * Writes a snapshot of `tree` with these parents: new objects in packs, then refs (head last).
   * `tree.changes`, if given, are its changes against the working head's tree (headRoot).
   * `tree.stats`, if given, are its counts: a first tree whose changes are not listed (commit-first.ts),
   * which then takes every staged object.
   * `alsoRefs` are written in the same atomic refs write as the new head: a merge moves `base` to the
   * remote head it merged only together with the head that has it as a parent (a crash between the
   * two writes would leave a head whose push the server refuses forever).
   */
  async writeSnapshot(tree: { root: Address; nodes: Map<Address, Uint8Array>; changes?: TreeChange[]; stats?: Snapshot["stats"] }, parents: Address[], message?: string, setWorking = false, alsoRefs: Partial<Refs> = {}): Promise<{ snapshot: Address; changes: TreeChange[] }> {
    await this.settleFlush(); // the entries' objects must be stored or staged, never half-way
    const nodeLoad = async (a: Address) => tree.nodes.get(a) ?? this.load(a);
    // An update of the head's tree knows its changes (updateTree); other trees are walked against
    // the head (tree-walk.ts) rather than diffTrees, which decoded and kept every new leaf twice
    // (~60 MiB for an initial push of 100,000 notes). The walk re-decodes every rewritten leaf of
    // both trees: ~20 MiB of garbage for 1,000 scattered edits at 100,000 notes.
    const diff = { changes: tree.changes ?? [], newNodes: newNodesOf(tree) };
    if (!tree.changes) for await (const c of walkTreeDiff(this.headRoot, tree.root, nodeLoad)) diff.changes.push(c);
    diff.changes.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    let stats = { notes: 0, embeddings: 0, positions: 0 };
    const count = (e: Entry | undefined, by = 1) => countParts(stats, e, by);
    const entries = setWorking ? null : this.entries;
    const head = this.refs.head ? await this.snapshot(this.refs.head) : null;
    // The head's counts (none before a first snapshot) plus the diff's: no walk of the whole tree.
    const base = head ? head.root === this.headRoot && head.stats : !this.headRoot && stats;
    if (tree.stats) stats = tree.stats;
    else if (!entries && base) {
      stats = { ...base };
      for (const c of diff.changes) {
        count(c.before, -1);
        count(c.after);
      }
    } else if (entries) for (const e of entries.values()) count(e);
    else for await (const e of iterateTree(tree.root, nodeLoad)) count(e);
    const encoded = encodeSnapshot({ parents, root: tree.root, device: this.device, time: this.clock().toISOString(), stats, message });
    const snap = { addr: this.addressOf(encoded.bytes), bytes: encoded.bytes };
    const objects: Staged[] = [];
    const have = await this.store.hasObjects(diff.newNodes);
    for (const a of diff.newNodes) if (!have.has(a)) objects.push({ obj: { type: ObjectType.Tree, addr: a, bytes: tree.nodes.get(a) as Uint8Array }, compressible: false });
    // A first tree built without a change list (commitFirst): everything staged is its own.
    if (tree.stats) for (const s of this.staged.values()) objects.push(s);
    else for (const c of diff.changes) {
      if (!c.after) continue;
      for (const ref of entryRefs(c.after)) {
        const s = this.staged.get(ref);
        if (!s) continue;
        objects.push(s);
        if (s.obj.type === ObjectType.ChunkList) for (const ch of decodeChunkList(s.obj.bytes).chunks) {
          const cs = this.staged.get(ch.addr);
          if (cs) objects.push(cs);
        }
      }
    }
    objects.push({ obj: { type: ObjectType.Snapshot, addr: snap.addr, bytes: snap.bytes }, compressible: true });
    const packs = await this.writePacks(objects);
    this.staged.clear();
    this.stagedByteCount = 0;
    await this.setRefs({ ...alsoRefs, head: snap.addr, ...this.withUnpushed(packs) });
    this.headRoot = tree.root;
    if (setWorking) await this.loadWorking(snap.addr);
    return { snapshot: snap.addr, changes: diff.changes };
  }

  /**
   * Packs objects (about packTarget bytes each after compression) into the store; returns pack ids.
   * In plain vaults it takes the objects out of `objects` as it packs them, and lets go of each
   * once its pack is stored (it is then read from the store, also while a background flush goes
   * on): a flush held all of its own (16 MiB of a scan's file bytes) to its end, beside the next 16
   * being staged. (An encrypted vault's are listed in seal windows up front.)
   */
  async writePacks(objects: Staged[]): Promise<{ id: Address; bytes: number }[]> {
    const ids: { id: Address; bytes: number }[] = [];
    let b = new PackBuilder();
    let inPack: StoredObject[] = [];
    let est = 0;
    const flush = async () => {
      if (b.objectCount === 0) return;
      const built = await b.finish(this.compressor);
      await this.store.putObjects(inPack, built.bytes);
      for (const o of inPack) this.flushingObjects?.delete(o.addr);
      ids.push({ id: built.id, bytes: built.bytes.length });
      this.onPackStored?.();
      b = new PackBuilder();
      inPack = [];
      est = 0;
    };
    const add = async (obj: StoredObject, compressible: boolean | Codec, estimate: number) => {
      if (b.has(obj.addr)) return;
      b.add(obj.type, obj.addr, obj.bytes, compressible);
      inPack.push(obj);
      est += estimate;
      if (est >= this.packTarget || b.full) await flush();
    };
    if (this.keys) {
      // Sealed in windows (on other threads where a pool is installed), compressed first where it
      // pays: notes, positions, snapshots, tree nodes. Ciphertext cannot shrink: frames are stored.
      const keys = this.keys;
      const seal = (window: Staged[]) => {
        const p = keys.sealMany(window.map((s) => ({ type: s.obj.type, addr: s.obj.addr, bytes: s.obj.bytes, compress: s.compressible === true || s.obj.type === ObjectType.Tree })));
        p.catch(() => {}); // awaited below; an error meanwhile is not "unhandled"
        return p;
      };
      // The next window is sealing while this one is packed and stored: the sealer never waits.
      const windows = [...sealWindows(objects)];
      let next = windows.length ? seal(windows[0]) : null;
      for (let w = 0; w < windows.length; w++) {
        const sealed = await next!;
        next = w + 1 < windows.length ? seal(windows[w + 1]) : null;
        for (let i = 0; i < windows[w].length; i++) {
          const { type, addr } = windows[w][i].obj;
          await add({ type, addr, bytes: sealed[i] }, false, sealed[i].length);
        }
      }
    } else {
      objects.reverse();
      for (let s; (s = objects.pop()); ) {
        // gzip takes notes to ~45%: estimate so that packs land near the target after compression.
        const n = s.obj.bytes.length;
        await add(s.obj, s.compressible, s.compressible === false ? n : s.compressible === true ? n * 0.5 : n * 0.9);
      }
    }
    await flush();
    return ids;
  }
}

/**
 * The nodes of `tree` that were built with it (in `tree.nodes`) and are reachable from its root:
 * everything else it references is an old node, already stored. Only inner nodes are decoded.
 */
function newNodesOf(tree: { root: Address; nodes: Map<Address, Uint8Array> }): Address[] {
  const out: Address[] = [];
  const seen = new Set<Address>();
  const visit = (addr: Address) => {
    const bytes = tree.nodes.get(addr);
    if (!bytes || seen.has(addr)) return;
    seen.add(addr);
    out.push(addr);
    if (bytes[4] === 0) return; // a leaf ("PNT" | version | level 0): no children
    for (const c of (decodeNode(bytes) as { children: { addr: Address }[] }).children) visit(c.addr);
  };
  visit(tree.root);
  return out;
}

/** Plaintext bytes sealed per round trip to the sealer: bounds memory, keeps every core busy. */
const SEAL_WINDOW_BYTES = 8 * 1024 * 1024;

/** Objects in windows of about SEAL_WINDOW_BYTES, each address once. */
function* sealWindows(objects: Staged[]): Generator<Staged[]> {
  const seen = new Set<Address>();
  let window: Staged[] = [];
  let bytes = 0;
  for (const s of objects) {
    if (seen.has(s.obj.addr)) continue;
    seen.add(s.obj.addr);
    window.push(s);
    bytes += s.obj.bytes.length;
    if (bytes >= SEAL_WINDOW_BYTES) {
      yield window;
      window = [];
      bytes = 0;
    }
  }
  if (window.length) yield window;
}

const ENCRYPTION_META = "encryption";

/**
 * A store remembers whether it holds an encrypted vault and with which key (by its public key id):
 * opening it without keys, or with another vault's keys, fails before anything is read or written.
 */
async function checkStoreKeys(store: LocalStore, keys: VaultKeys | undefined): Promise<void> {
  const recorded = await store.getMeta<{ keyId: string }>(ENCRYPTION_META);
  if (!keys) {
    if (recorded) throw new VaultKeyError("this local store holds an encrypted vault: open it with the vault's keys");
    return;
  }
  if (!store.setObjectCheck) throw new VaultKeyError("this local store cannot hold an encrypted vault (no setObjectCheck)");
  if (recorded) {
    if (recorded.keyId !== keys.keyId) throw new VaultKeyError(`this local store holds the encrypted vault with key ${recorded.keyId}, not ${keys.keyId}`);
  } else {
    const refs = await store.getMeta<Refs>("refs");
    if (refs?.head || refs?.base) throw new VaultKeyError("this local store holds a plain vault: it cannot be opened as an encrypted one");
    await store.setMeta(ENCRYPTION_META, { keyId: keys.keyId });
  }
  store.setObjectCheck((_addr, bytes) => VaultKeys.looksSealed(bytes));
}

