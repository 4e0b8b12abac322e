// A LocalStore on the file system (Node adapter): objects live in pack files (the same format the
// server stores, so a pulled pack is written as it came), refs and caches in small JSON files.
//
//   <root>/packs/<pack id>.pack   written once, atomically; named by the hash of its bytes
//   <root>/meta/<key>.json        atomically replaced
//
// The index (address -> pack, frame, offset) is rebuilt from the pack headers when the store opens.
import { mkdir, readdir, open, readFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { addressOf, type Address } from "../core/hash.ts";
import type { StoredObject } from "../core/object.ts";
import { PackBuilder, decodeFrame, decodePackHeader, packLength, PACK_PREFIX_BYTES, type Codec } from "../core/pack.ts";
import type { Compressor } from "../core/compress.ts";
import { CorruptObjectError, type LocalStore, type ObjectCheck } from "../store/store.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import { nodeCompressor } from "./native.ts";

interface Location {
  pack: string;
  frameOffset: number;
  storedLength: number;
  rawLength: number;
  codec: Codec;
  offset: number;
  length: number;
}

/** Inflated frames kept for reuse (frames are ~256 KiB: a few hundred of them). */
const FRAME_CACHE_BYTES = 64 * 1024 * 1024;
const META_KEY_RE = /^[A-Za-z0-9._-]{1,100}$/;

export class FsStore implements LocalStore {
  private index = new Map<Address, Location>();
  private frameCache = new Map<string, Uint8Array>();
  private frameCacheBytes = 0;
  private inflight = new Map<string, Promise<Uint8Array>>();
  private handles = new Map<string, Promise<FileHandle>>();
  private check: ObjectCheck = (addr, bytes) => addressOf(bytes) === addr;

  private constructor(readonly root: string, private readonly compressor: Compressor) {}

  static async open(root: string, compressor: Compressor = nodeCompressor): Promise<FsStore> {
    const s = new FsStore(root, compressor);
    await mkdir(join(root, "packs"), { recursive: true });
    await mkdir(join(root, "meta"), { recursive: true });
    for (const name of await readdir(join(root, "packs"))) {
      if (name.endsWith(".pack")) await s.indexPack(name.slice(0, -5));
    }
    return s;
  }

  setObjectCheck(check: ObjectCheck): void {
    this.check = check;
  }

  get objectCount(): number {
    return this.index.size;
  }

  private packPath(id: string): string {
    return join(this.root, "packs", `${id}.pack`);
  }

  private async indexPack(id: string): Promise<void> {
    const fh = await open(this.packPath(id), "r");
    try {
      const prefix = new Uint8Array(PACK_PREFIX_BYTES);
      await fh.read(prefix, 0, PACK_PREFIX_BYTES, 0);
      const headerLength = new DataView(prefix.buffer).getUint32(5, true);
      const head = new Uint8Array(PACK_PREFIX_BYTES + headerLength);
      await fh.read(head, 0, head.length, 0);
      const h = decodePackHeader(head);
      for (const o of h.objects) {
        if (this.index.has(o.addr)) continue;
        const f = h.frames[o.frame];
        this.index.set(o.addr, { pack: id, frameOffset: f.offset, storedLength: f.storedLength, rawLength: f.rawLength, codec: f.codec, offset: o.offset, length: o.length });
      }
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
    const loc = this.index.get(addr);
    if (!loc) return undefined;
    const raw = await this.frame(loc, addr);
    const bytes = raw.subarray(loc.offset, loc.offset + loc.length);
    if (!this.check(addr, bytes)) throw new CorruptObjectError(addr, `pack ${loc.pack}`);
    return bytes;
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
    return new Set(addrs.filter((a) => this.index.has(a)));
  }

  async putObjects(objects: readonly StoredObject[], pack?: Uint8Array): Promise<void> {
    const fresh = objects.filter((o) => !this.index.has(o.addr));
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
    await this.indexPack(id);
  }

  async getPack(id: Address): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.packPath(id)));
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

  async close(): Promise<void> {
    await this.closeHandles();
    this.frameCache.clear();
    this.frameCacheBytes = 0;
  }
}
