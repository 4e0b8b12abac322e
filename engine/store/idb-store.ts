// A LocalStore in IndexedDB (browsers), through the `idb` wrapper. Laid out like the file-system
// store: objects live in the packs they came in, so a pulled pack is stored as it came (no
// re-encoding, no per-object records) and getPack hands it back byte for byte.
//
//   packs   pack id -> { header: the pack's prefix + header bytes, length, frames, added }
//   data    pack id -> the whole pack: a Blob in browsers, a Uint8Array elsewhere (fake-indexeddb)
//   meta    key -> JSON text, one put per key (an IndexedDB put is atomic)
//
// Why Blobs: Chromium serializes (and compresses) a Uint8Array value on the calling thread, about
// 10 ms per 200 KB, while a Blob is stored by reference and a frame is read back as a slice of it
// (one ranged read). The engine worker makes the Blob of a downloaded pack off the main thread.
//
// A pack's two records are written in one transaction, so a pack is either wholly there or not
// at all. The address index (address -> pack, frame, range) is kept in memory and rebuilt from the
// pack headers on open, as FsStore does. Reads check every object's hash.
//
// One page (or tab) at a time should use a store: another tab's writes reach this one's index only
// when it reopens the store (the inspector takes a Web Lock per vault for this reason).
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import { addressOf, type Address } from "../core/hash.ts";
import { toHex } from "../core/bytes.ts";
import type { StoredObject } from "../core/object.ts";
import { PackBuilder, decodeFrame, decodePackHeader, packLength, type Codec, type PackHeader } from "../core/pack.ts";
import { streamCompressor, type Compressor } from "../core/compress.ts";
import { CorruptObjectError, type LocalStore, type ObjectCheck } from "./store.ts";

interface PackRecord {
  id: Address;
  /** The pack's first bytes: prefix and header (the whole pack is in the data store). */
  header: Uint8Array | Blob;
  length: number;
  frames: number;
  /** When this device stored it (ms since epoch), for the inspector. */
  added: number;
}

interface Schema extends DBSchema {
  packs: { key: string; value: PackRecord };
  data: { key: string; value: Uint8Array | Blob };
  meta: { key: string; value: string };
}

interface Location {
  pack: Address;
  frame: number;
  /** Where the frame's stored bytes are in the pack. */
  start: number;
  storedLength: number;
  codec: Codec;
  rawLength: number;
  offset: number;
  length: number;
}

export interface IdbStoreOptions {
  /** Database name; one database per vault and device. */
  name: string;
  /** Inflates gzip frames on read and deflates packs built by putObjects (default fflate, in-thread). */
  compressor?: Compressor;
  /** SHA-256 of a whole pack, for its id (default: WebCrypto when present, else the portable hash). */
  digest?: (bytes: Uint8Array) => Promise<Address>;
  /** Inflated frames kept for repeated reads (default 32 MiB). */
  frameCacheBytes?: number;
  /**
   * Give the event loop a turn after this many ms of back-to-back reads (0 = never). Tree walks
   * over cached frames otherwise run as one long task; 8 keeps a page responsive.
   */
  yieldAfterMs?: number;
  /** Store packs as Blobs (default: in browsers, where it keeps the main thread free; see above). */
  blobs?: boolean;
  /**
   * A Blob of this exact pack made elsewhere (the engine worker makes one while verifying a
   * download), so the pack is stored with no copy on this thread.
   */
  packBlob?: (pack: Uint8Array) => Blob | undefined;
}

const IN_BROWSER = typeof document !== "undefined" || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined";

const DB_VERSION = 1;

/** Bytes [start, end) of a stored pack. */
async function rangeOf(v: Uint8Array | Blob, start: number, end: number): Promise<Uint8Array> {
  return v instanceof Uint8Array ? v.subarray(start, end) : new Uint8Array(await v.slice(start, end).arrayBuffer());
}

export async function webDigest(bytes: Uint8Array): Promise<Address> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return addressOf(bytes);
  return toHex(new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)));
}

/** Gives the event loop a turn (a macrotask), so input and rendering can run in between. */
export function yieldToEventLoop(): Promise<void> {
  const s = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  if (s?.yield) return s.yield();
  return new Promise((r) => setTimeout(r, 0));
}

export class IdbStore implements LocalStore {
  private index = new Map<Address, Location>();
  private packIds = new Set<Address>();
  private storedBytes = 0;
  private frameCache = new Map<string, Uint8Array>();
  private frameCacheSize = 0;
  private inflight = new Map<string, Promise<Uint8Array>>();
  private lastYield = 0;
  private readonly compressor: Compressor;
  private readonly digest: (bytes: Uint8Array) => Promise<Address>;
  private readonly cacheLimit: number;
  private readonly yieldAfterMs: number;
  private readonly blobs: boolean;
  private readonly packBlob?: (pack: Uint8Array) => Blob | undefined;
  private check: ObjectCheck = (addr, bytes) => addressOf(bytes) === addr;

  private constructor(private readonly db: IDBPDatabase<Schema>, readonly name: string, opts: IdbStoreOptions) {
    this.compressor = opts.compressor ?? streamCompressor;
    this.digest = opts.digest ?? webDigest;
    this.cacheLimit = opts.frameCacheBytes ?? 32 * 1024 * 1024;
    this.yieldAfterMs = opts.yieldAfterMs ?? 0;
    this.blobs = opts.blobs ?? (IN_BROWSER && typeof Blob === "function");
    this.packBlob = opts.packBlob;
  }

  static async open(opts: IdbStoreOptions): Promise<IdbStore> {
    // Node tests install fake-indexeddb's globals (`import "fake-indexeddb/auto"`).
    if (!globalThis.indexedDB) throw new Error("IndexedDB is not available here");
    const db = await openDB<Schema>(opts.name, DB_VERSION, {
      upgrade(d) {
        d.createObjectStore("packs", { keyPath: "id" });
        d.createObjectStore("data");
        d.createObjectStore("meta");
      },
      // Another page wants to delete or upgrade the database: let it, this store is done.
      blocking: () => db.close(),
    });
    const s = new IdbStore(db, opts.name, opts);
    await s.refresh();
    return s;
  }

  /**
   * Indexes the packs stored since this store last looked (all of them on open): another page of
   * the same origin may have written to the database. Returns how many packs were new.
   */
  async refresh(): Promise<number> {
    let added = 0;
    let t = now();
    // Records hold the header only (a Blob slice in browsers): reading them all is cheap.
    for (const rec of await this.db.getAll("packs")) {
      if (this.packIds.has(rec.id)) continue;
      this.indexPack(rec.id, await rangeOf(rec.header, 0, Number.MAX_SAFE_INTEGER), rec.length);
      added++;
      // Rebuilding the index of a large vault: a pack at a time, yielding between packs.
      if (now() - t > 8) {
        await yieldToEventLoop();
        t = now();
      }
    }
    return added;
  }

  /** Encrypted vaults: objects are sealed, named by a keyed hash the vault checks (store.ts). */
  setObjectCheck(check: ObjectCheck): void {
    this.check = check;
  }

  /** Deletes a store's database (sign-out, tests). Waits until other connections have closed. */
  static async destroy(name: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase(name);
      r.onsuccess = () => resolve();
      r.onerror = () => reject(r.error);
    });
  }

  /** Objects, packs and stored (compressed) bytes held. */
  stats(): { objects: number; packs: number; bytes: number } {
    return { objects: this.index.size, packs: this.packIds.size, bytes: this.storedBytes };
  }

  /** The raw size of an object, from the index (no read). */
  objectSize(addr: Address): number | undefined {
    return this.index.get(addr)?.length;
  }

  private indexPack(id: Address, header: Uint8Array | PackHeader, length: number): void {
    if (this.packIds.has(id)) return;
    const h = header instanceof Uint8Array ? decodePackHeader(header) : header;
    h.objects.forEach((o) => {
      if (this.index.has(o.addr)) return;
      const f = h.frames[o.frame];
      this.index.set(o.addr, { pack: id, frame: o.frame, start: f.offset, storedLength: f.storedLength, codec: f.codec, rawLength: f.rawLength, offset: o.offset, length: o.length });
    });
    this.packIds.add(id);
    this.storedBytes += length;
  }

  private async pace(): Promise<void> {
    if (!this.yieldAfterMs) return;
    const t = now();
    if (t - this.lastYield < this.yieldAfterMs) return;
    await yieldToEventLoop();
    this.lastYield = now();
  }

  private async frame(loc: Location): Promise<Uint8Array> {
    const key = `${loc.pack}:${loc.frame}`;
    const hit = this.frameCache.get(key);
    if (hit) {
      // Most recently used goes last (Map keeps insertion order).
      this.frameCache.delete(key);
      this.frameCache.set(key, hit);
      return hit;
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = (async () => {
        const value = await this.db.get("data", loc.pack);
        if (!value) throw new Error(`pack ${loc.pack} is missing from ${this.name}`);
        const stored = await rangeOf(value, loc.start, loc.start + loc.storedLength);
        if (stored.length !== loc.storedLength) throw new CorruptObjectError("", `${this.name}, pack ${loc.pack} (truncated)`);
        const raw = await decodeFrame(loc.codec, stored, loc.rawLength, this.compressor);
        this.remember(key, raw);
        return raw;
      })();
      this.inflight.set(key, p);
      p.then(
        () => this.inflight.delete(key),
        () => this.inflight.delete(key),
      );
    }
    return p;
  }

  private remember(key: string, raw: Uint8Array): void {
    if (raw.length > this.cacheLimit) return;
    this.frameCache.set(key, raw);
    this.frameCacheSize += raw.length;
    while (this.frameCacheSize > this.cacheLimit) {
      const [k, v] = this.frameCache.entries().next().value as [string, Uint8Array];
      this.frameCache.delete(k);
      this.frameCacheSize -= v.length;
    }
  }

  async getObject(addr: Address): Promise<Uint8Array | undefined> {
    await this.pace();
    const loc = this.index.get(addr);
    if (!loc) return undefined;
    let raw: Uint8Array;
    try {
      raw = await this.frame(loc);
    } catch (e) {
      if ((e as Error).name === "FormatError") throw new CorruptObjectError(addr, `${this.name}, pack ${loc.pack} (${(e as Error).message})`);
      throw e;
    }
    const bytes = raw.subarray(loc.offset, loc.offset + loc.length);
    if (!this.check(addr, bytes)) throw new CorruptObjectError(addr, `${this.name}, pack ${loc.pack}`);
    return bytes;
  }

  async hasObjects(addrs: readonly Address[]): Promise<Set<Address>> {
    const out = new Set<Address>();
    for (const a of addrs) if (this.index.has(a)) out.add(a);
    return out;
  }

  async putObjects(objects: readonly StoredObject[], pack?: Uint8Array): Promise<void> {
    let bytes = pack;
    if (!bytes) {
      const fresh = objects.filter((o) => !this.index.has(o.addr));
      if (fresh.length === 0) return;
      const b = new PackBuilder();
      for (const o of fresh) b.add(o.type, o.addr, o.bytes, true);
      bytes = (await b.finish(this.compressor)).bytes;
    }
    const h = decodePackHeader(bytes);
    if (packLength(h) !== bytes.length) throw new Error("refusing to store a truncated pack");
    const id = await this.digest(bytes);
    if (this.packIds.has(id)) return;
    // A Blob (made by the worker when it can), or a copy: the caller may reuse its buffer.
    const value = this.blobs ? (this.packBlob?.(bytes) ?? new Blob([bytes as Uint8Array<ArrayBuffer>])) : bytes.slice();
    const header = value instanceof Blob ? value.slice(0, h.headerEnd) : bytes.slice(0, h.headerEnd);
    const tx = this.db.transaction(["packs", "data"], "readwrite", { durability: "strict" });
    const done = tx.done;
    done.catch(() => {}); // reported through the awaits below
    try {
      await tx.objectStore("data").put(value, id);
      await tx.objectStore("packs").put({ id, header, length: bytes.length, frames: h.frames.length, added: Date.now() });
    } catch (e) {
      try {
        tx.abort();
      } catch {
        /* already aborted by the failure */
      }
      throw e;
    }
    await done;
    this.indexPack(id, h, bytes.length);
  }

  async getPack(id: Address): Promise<Uint8Array | undefined> {
    const tx = this.db.transaction(["packs", "data"], "readonly");
    const [rec, value] = await Promise.all([tx.objectStore("packs").get(id), tx.objectStore("data").get(id)]);
    await tx.done;
    if (!rec) return undefined;
    if (!value) throw new Error(`pack ${id} in ${this.name} lacks its data`);
    const out = await rangeOf(value, 0, rec.length);
    if (out.length !== rec.length) throw new Error(`pack ${id} in ${this.name} has the wrong length`);
    return value instanceof Uint8Array ? out.slice() : out;
  }

  /** Local packs stay: they hold the objects (as in FsStore). */
  async releasePack(_id: Address): Promise<void> {}

  async getMeta<T>(key: string): Promise<T | undefined> {
    const v = await this.db.get("meta", key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    const text = JSON.stringify(value);
    if (text === undefined) await this.db.delete("meta", key);
    else await this.db.put("meta", text, key);
  }

  async close(): Promise<void> {
    this.db.close();
    this.frameCache.clear();
    this.frameCacheSize = 0;
  }
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}
