// A LocalStore on the file system (Node adapter): objects live in pack files (the same format the
// server stores, so a pulled pack is written as it came), refs and caches in small JSON files.
//
//   <root>/packs/<pack id>.pack   written once, atomically; named by the hash of its bytes
//   <root>/objects.pnix           the object index (pack-index.ts): address -> pack, frame, offset
//   <root>/meta/<key>.json        atomically replaced
//
// Opening reads only the index file's header and fan-out: a lookup reads the few entries it needs.
// Packs the index file does not list (written since, or the file is missing or damaged) are
// indexed in memory from their headers, and the file is rewritten with them, atomically, once they
// are many (flushIndex): so a sync costs O(change), and a crash at any point leaves an index file
// that is whole (the old one or the new one) and packs it does not list, which the next open indexes.
import { mkdir, readdir, open, readFile, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { closeSync, openSync, readSync } from "node:fs";
import { addressOf, type Address } from "../core/hash.ts";
import type { StoredObject } from "../core/object.ts";
import { PackBuilder, decodeFrame, decodePackHeader, packLength, PACK_PREFIX_BYTES, Codec, type PackHeader } from "../core/pack.ts";
import type { Compressor } from "../core/compress.ts";
import { CorruptObjectError, type LocalStore, type ObjectCheck } from "../store/store.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import { nodeCompressor } from "./native.ts";
import { FormatError } from "../core/bytes.ts";
import { PACK_INDEX_FILE, PackIndexFile, mergePackIndexPieces, type Location } from "./pack-index.ts";

/**
 * Inflated frames kept for reuse (frames are ~256 KiB raw: 64 of them). Stored frames (tree nodes,
 * chunk lists) are never cached: their objects are read by range. A checkout reads blobs in the
 * order packs hold them, so a few frames per part suffice; 64 MiB of cache was a clone's largest
 * buffer.
 */
const FRAME_CACHE_BYTES = 16 * 1024 * 1024;
const META_KEY_RE = /^[A-Za-z0-9._-]{1,100}$/;
/** The index file is rewritten once packs it does not list hold this many objects, or are this many packs. */
const LOOSE_OBJECTS = 4096;
const LOOSE_PACKS = 16;
/**
 * ...and at once, while the run goes on, when the packs it does not list hold this many objects:
 * the in-memory entries (~200 bytes each) stay bounded whatever a run stores. A clone or initial
 * push of 100,000 notes (317,000 objects) kept them all until it closed, ~60 MiB.
 */
const LOOSE_OBJECTS_MAX = 65_536;

export class FsStore implements LocalStore {
  /** The object index on disk (null: none yet, or it was damaged). */
  private indexFile: PackIndexFile | null = null;
  /** Objects of the packs the index file does not list. */
  private index = new Map<Address, Location>();
  private loosePacks = new Set<Address>();
  /** The index file being rewritten (flushIndex), if it is. */
  private indexWrite: Promise<void> | null = null;
  private frameCache = new Map<string, Uint8Array>();
  private frameCacheBytes = 0;
  private inflight = new Map<string, Promise<Uint8Array>>();
  private handles = new Map<string, Promise<FileHandle>>();
  /** Descriptors for synchronous reads of stored objects (readStored), opened and closed synchronously. */
  private syncFds = new Map<string, number>();
  private check: ObjectCheck = (addr, bytes) => addressOf(bytes) === addr;

  private constructor(readonly root: string, private readonly compressor: Compressor, private readonly looseObjectsMax: number) {}

  /** `opts.looseObjectsMax`: objects of packs outside the index file held in memory before it is rewritten (tests make it small). */
  static async open(root: string, compressor: Compressor = nodeCompressor, opts: { looseObjectsMax?: number } = {}): Promise<FsStore> {
    const s = new FsStore(root, compressor, opts.looseObjectsMax ?? LOOSE_OBJECTS_MAX);
    await mkdir(join(root, "packs"), { recursive: true });
    await mkdir(join(root, "meta"), { recursive: true });
    const packs = new Set<string>();
    for (const name of await readdir(join(root, "packs"))) if (name.endsWith(".pack")) packs.add(name.slice(0, -5));
    s.indexFile = openIndexFile(join(root, PACK_INDEX_FILE), packs);
    const listed = new Set(s.indexFile?.packs ?? []);
    for (const id of packs) if (!listed.has(id)) await s.indexPack(id);
    return s;
  }

  setObjectCheck(check: ObjectCheck): void {
    this.check = check;
  }

  /** Objects indexed (an object stored in two packs may count twice). */
  get objectCount(): number {
    return this.index.size + (this.indexFile?.count ?? 0);
  }

  private locate(addr: Address): Location | undefined {
    return this.index.get(addr) ?? this.indexFile?.find(addr);
  }

  /**
   * Rewrites the index file with the packs it does not list yet, when they are many (or always,
   * with `force`): one streamed merge, written atomically.
   */
  async flushIndex(force = false): Promise<void> {
    // One rewrite at a time; packs stored meanwhile stay in memory until the next one.
    while (this.indexWrite) await this.indexWrite;
    if (this.loosePacks.size === 0) return;
    if (!force && this.indexFile && this.index.size < LOOSE_OBJECTS && this.loosePacks.size < LOOSE_PACKS) return;
    this.indexWrite = this.rewriteIndex().finally(() => (this.indexWrite = null));
    await this.indexWrite;
  }

  /**
   * Lets go of the index file's entries held in memory for a big checkout (pack-index.ts): 8 MB at
   * 100,000 notes that the end of a clone (its checkout index written, this index rewritten) need not hold.
   */
  releaseIndexMemory(): void {
    this.indexFile?.release();
  }

  private async rewriteIndex(): Promise<void> {
    this.indexFile?.release(); // the merge reads the file; the old entries need not be in memory beside the new file's bytes
    const flushed = new Set(this.loosePacks);
    const path = join(this.root, PACK_INDEX_FILE);
    let tags: Uint32Array | undefined;
    await writeFileAtomic(path, mergePackIndexPieces(this.indexFile, [...flushed], this.index, (t) => (tags = t)));
    this.indexFile?.close();
    this.indexFile = PackIndexFile.open(path, tags);
    // Only what the file now lists leaves memory: a pack indexed during the write stays loose.
    for (const [addr, loc] of this.index) if (flushed.has(loc.pack)) this.index.delete(addr);
    for (const id of flushed) this.loosePacks.delete(id);
  }

  private packPath(id: string): string {
    return join(this.root, "packs", `${id}.pack`);
  }

  /** Indexes a pack in memory from its header: read from its file, or `known` (the header of the bytes just written). */
  private async indexPack(id: string, known?: PackHeader, own?: Map<Address, Address>): Promise<void> {
    const h = known ?? (await this.readPackHeader(id));
    this.loosePacks.add(id);
    for (const o of h.objects) {
      if (this.index.has(o.addr) || this.indexFile?.find(o.addr)) continue;
      const f = h.frames[o.frame];
      this.index.set(own?.get(o.addr) ?? o.addr, { pack: id, frameOffset: f.offset, storedLength: f.storedLength, rawLength: f.rawLength, codec: f.codec, offset: o.offset, length: o.length });
    }
  }

  private async readPackHeader(id: string): Promise<PackHeader> {
    const fh = await open(this.packPath(id), "r");
    try {
      const prefix = new Uint8Array(PACK_PREFIX_BYTES);
      await fh.read(prefix, 0, PACK_PREFIX_BYTES, 0);
      const headerLength = new DataView(prefix.buffer).getUint32(5, true);
      const head = new Uint8Array(PACK_PREFIX_BYTES + headerLength);
      await fh.read(head, 0, head.length, 0);
      return decodePackHeader(head);
    } finally {
      await fh.close();
    }
  }

  /** One open handle per pack, shared by concurrent reads (a promise, so two reads never open twice). */
  private async handle(pack: string): Promise<FileHandle> {
    let fh = this.handles.get(pack);
    if (!fh) {
      if (this.handles.size >= 64) await this.closeHandles();
      fh = open(this.packPath(pack), "r");
      this.handles.set(pack, fh);
      fh.catch(() => this.handles.delete(pack));
    }
    return fh;
  }

  private async closeHandles(): Promise<void> {
    const hs = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(hs.map(async (h) => (await h.catch(() => null))?.close().catch(() => {})));
  }

  async getObject(addr: Address): Promise<Uint8Array | undefined> {
    const loc = this.locate(addr);
    if (!loc) return undefined;
    const bytes = loc.codec === Codec.Stored ? this.readStored(loc, addr) : (await this.frame(loc, addr)).subarray(loc.offset, loc.offset + loc.length);
    if (!this.check(addr, bytes)) throw new CorruptObjectError(addr, `pack ${loc.pack}`);
    return bytes;
  }

  /**
   * An object of a stored frame: just its bytes, one small pread from the page cache (~1.4 KB a
   * tree node). Synchronous, on descriptors of their own (syncFds) that are opened and closed only
   * synchronously too, so none can be closed between finding it and reading: a walk of a tree reads
   * thousands of nodes one after the other, and a round trip to libuv's pool each cost more than the read.
   */
  private readStored(loc: Location, addr: Address): Uint8Array {
    if (loc.storedLength !== loc.rawLength || loc.offset + loc.length > loc.rawLength) throw new CorruptObjectError(addr, `pack ${loc.pack} (bad stored frame)`);
    const bytes = new Uint8Array(loc.length);
    if (readSync(this.syncFd(loc.pack), bytes, 0, loc.length, loc.frameOffset + loc.offset) !== loc.length) throw new CorruptObjectError(addr, `pack ${loc.pack} (truncated)`);
    return bytes;
  }

  private syncFd(pack: string): number {
    let fd = this.syncFds.get(pack);
    if (fd === undefined) {
      if (this.syncFds.size >= 64) this.closeSyncFds();
      fd = openSync(this.packPath(pack), "r");
      this.syncFds.set(pack, fd);
    }
    return fd;
  }

  private closeSyncFds(): void {
    for (const fd of this.syncFds.values()) closeSync(fd);
    this.syncFds.clear();
  }

  /**
   * A frame's raw bytes, from a byte-bounded LRU cache. Concurrent reads of one frame share one read
   * and inflate: a tree walk asks for thousands of nodes at once, and each used to inflate its own
   * copy of the same frames (a 100,000-note pull peaked at 2.5 GB of buffers).
   */
  private frame(loc: Location, addr: Address): Promise<Uint8Array> {
    const key = `${loc.pack}:${loc.frameOffset}`;
    const hit = this.frameCache.get(key);
    if (hit) {
      this.frameCache.delete(key); // most recently used goes last (Map keeps insertion order)
      this.frameCache.set(key, hit);
      return Promise.resolve(hit);
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = (async () => {
        const stored = new Uint8Array(loc.storedLength);
        const fh = await this.handle(loc.pack);
        const { bytesRead } = await fh.read(stored, 0, loc.storedLength, loc.frameOffset);
        if (bytesRead !== loc.storedLength) throw new CorruptObjectError(addr, `pack ${loc.pack} (truncated)`);
        const raw = await decodeFrame(loc.codec, stored, loc.rawLength, this.compressor);
        this.remember(key, raw);
        return raw;
      })();
      this.inflight.set(key, p);
      const done = () => this.inflight.delete(key);
      p.then(done, done);
    }
    return p;
  }

  private remember(key: string, raw: Uint8Array): void {
    if (raw.length > FRAME_CACHE_BYTES) return;
    this.frameCache.set(key, raw);
    this.frameCacheBytes += raw.length;
    while (this.frameCacheBytes > FRAME_CACHE_BYTES) {
      const [k, v] = this.frameCache.entries().next().value as [string, Uint8Array];
      this.frameCache.delete(k);
      this.frameCacheBytes -= v.length;
    }
  }

  async hasObjects(addrs: readonly Address[]): Promise<Set<Address>> {
    return new Set(addrs.filter((a) => this.locate(a) !== undefined));
  }

  async putObjects(objects: readonly StoredObject[], pack?: Uint8Array): Promise<void> {
    const fresh = objects.filter((o) => !this.locate(o.addr));
    if (fresh.length === 0 && !pack) return;
    let bytes = pack;
    if (!bytes) {
      const b = new PackBuilder();
      for (const o of fresh) b.add(o.type, o.addr, o.bytes, true);
      bytes = (await b.finish(this.compressor)).bytes;
    }
    const h = decodePackHeader(bytes);
    if (packLength(h) !== bytes.length) throw new Error("refusing to store a truncated pack");
    const id = addressOf(bytes);
    await writeFileAtomic(this.packPath(id), bytes);
    // The header just decoded from these bytes, not read back from the file; its addresses keyed by
    // the strings the caller holds anyway (the decoded ones would be a second copy: ~80 bytes each).
    const own = new Map(objects.map((o) => [o.addr, o.addr]));
    await this.indexPack(id, h, own);
    // The pack is on disk before the index names it: a crash here leaves a pack the next open indexes.
    if (this.index.size >= this.looseObjectsMax) await this.flushIndex(true);
  }

  async getPack(id: Address): Promise<Uint8Array | undefined> {
    try {
      const b = await readFile(this.packPath(id));
      // The file's own buffer when it is one (it is: readFile allocates it), not a copy: packs are megabytes.
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer) : new Uint8Array(b);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async packSize(id: Address): Promise<number | undefined> {
    try {
      return (await stat(this.packPath(id))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Local packs stay: they hold the objects. */
  async releasePack(_id: Address): Promise<void> {}

  async getMeta<T>(key: string): Promise<T | undefined> {
    if (!META_KEY_RE.test(key)) throw new RangeError(`bad meta key ${key}`);
    try {
      return JSON.parse(await readFile(join(this.root, "meta", `${key}.json`), "utf8")) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    if (!META_KEY_RE.test(key)) throw new RangeError(`bad meta key ${key}`);
    await writeFileAtomic(join(this.root, "meta", `${key}.json`), JSON.stringify(value));
  }

  /** Drops the frames kept for reads to come (up to 32 MiB); reads still work, from disk. */
  dropCaches(): void {
    this.frameCache.clear();
    this.frameCacheBytes = 0;
  }

  async close(): Promise<void> {
    this.dropCaches();
    // The index file only saves the next open some reading: failing to write it (a full disk) loses nothing.
    await this.flushIndex().catch(() => {});
    this.indexFile?.close();
    this.indexFile = null;
    await this.closeHandles();
    this.closeSyncFds();
  }
}

/** The index file if it is whole and lists only packs that exist; else none (it is rebuilt). */
function openIndexFile(path: string, packs: ReadonlySet<string>): PackIndexFile | null {
  let f: PackIndexFile;
  try {
    f = PackIndexFile.open(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || e instanceof FormatError) return null;
    throw e;
  }
  if (f.packs.every((p) => packs.has(p))) return f;
  f.close();
  return null;
}
