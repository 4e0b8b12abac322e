// The file store's object index on disk (docs/design.md, "Local state"): address -> where the
// object is in which local pack, sorted by address, read by range. Opening it reads the header and a
// 256 KiB fan-out table; each lookup is one read of the few entries that share the address's first
// two bytes. Packs written after the file live in memory until it is rewritten (FsStore), so the
// file is never updated in place: written whole, atomically, and only now and then.
//
//   index  := "PNIX" | version u8 (=1) | packCount u32le | objectCount u32le | pack id [32] x packCount
//             | fanout u32le x 65536 | entry x objectCount
//   entry  := address [32] | pack u32le (position in the pack list) | frameOffset u32le
//             | storedLength u32le | rawLength u32le | offset u32le | length u32le | codec u8
//   fanout[i] = number of entries whose address's first two bytes (big-endian) are <= i
//
// Entries are sorted by address and unique.
//
// In memory, an open file may also keep 4 bytes per entry (address bytes 2..5, in file order): a
// lookup of an address the file does not hold then reads nothing. An initial push or a clone looks
// up every new object (about 3 times each) once the file exists: 300,000 objects gave ~900,000
// preads, ~5 s of the main thread. The tags come free from the bytes just written (rewriteIndex)
// or are read once after TAG_AFTER_FINDS lookups (4 bytes x 300,000 objects: 1.2 MB).
//
// A big checkout looks up every object it writes, and finds it: after HOLD_AFTER such lookups the
// open file keeps all its entries in memory (hold) and lookups read nothing, until release().
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { FormatError, compareBytes, fromHex, toHex } from "../core/bytes.ts";
import type { Address } from "../core/hash.ts";
import type { Codec } from "../core/pack.ts";

export const PACK_INDEX_FILE = "objects.pnix";
const MAGIC = [0x50, 0x4e, 0x49, 0x58]; // "PNIX"
const VERSION = 1;
const HEADER_BYTES = 13;
const FANOUT = 65536;
export const ENTRY_BYTES = 57;
const MAX_CODEC = 2;

/** Where an object is: its pack, its frame in the pack, its bytes in the frame's raw bytes. */
export interface Location {
  pack: Address;
  frameOffset: number;
  storedLength: number;
  rawLength: number;
  codec: Codec;
  offset: number;
  length: number;
}

const prefixOf = (a: Uint8Array) => (a[0] << 8) | a[1];

/** A buffer for an index of these packs and up to `maxCount` entries, its header and pack list written. */
function startIndex(packs: readonly Address[], maxCount: number): { out: Uint8Array; view: DataView; entriesAt: number } {
  const entriesAt = HEADER_BYTES + 32 * packs.length + 4 * FANOUT;
  const out = new Uint8Array(entriesAt + ENTRY_BYTES * maxCount);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  view.setUint32(5, packs.length, true);
  packs.forEach((p, i) => out.set(fromHex(p), HEADER_BYTES + 32 * i));
  return { out, view, entriesAt };
}

/** One entry at `at`: the address, the pack's number, the location. */
function writeEntry(out: Uint8Array, view: DataView, at: number, addr: Uint8Array, pack: number, loc: Location): void {
  out.set(addr, at);
  view.setUint32(at + 32, pack, true);
  view.setUint32(at + 36, loc.frameOffset, true);
  view.setUint32(at + 40, loc.storedLength, true);
  view.setUint32(at + 44, loc.rawLength, true);
  view.setUint32(at + 48, loc.offset, true);
  view.setUint32(at + 52, loc.length, true);
  out[at + 56] = loc.codec;
}

/**
 * Encodes sorted, unique entries (addresses as 32 bytes) for these packs, streamed: at most
 * `maxCount` of them (the buffer's size; the file is cut to the entries given).
 */
export function encodePackIndex(packs: readonly Address[], entries: Iterable<{ addr: Uint8Array; loc: Location }>, maxCount: number): Uint8Array {
  const packNo = new Map(packs.map((p, i) => [p, i]));
  const { out, view, entriesAt } = startIndex(packs, maxCount);
  const counts = new Uint32Array(FANOUT);
  let at = entriesAt;
  let n = 0;
  for (const { addr, loc } of entries) {
    if (n === maxCount) throw new RangeError(`more than ${maxCount} pack index entries`);
    if (n > 0 && compareBytes(out.subarray(at - ENTRY_BYTES, at - ENTRY_BYTES + 32), addr) >= 0) throw new RangeError("pack index entries must be sorted and unique");
    n++;
    const p = packNo.get(loc.pack);
    if (p === undefined) throw new RangeError(`pack ${loc.pack} is not in the pack list`);
    counts[prefixOf(addr)]++;
    writeEntry(out, view, at, addr, p, loc);
    at += ENTRY_BYTES;
  }
  view.setUint32(9, n, true);
  let sum = 0;
  const fanoutAt = HEADER_BYTES + 32 * packs.length;
  for (let i = 0; i < FANOUT; i++) view.setUint32(fanoutAt + 4 * i, (sum += counts[i]), true);
  return out.subarray(0, at);
}

/** Reads one entry out of `b` at `at`. */
function entryAt(b: Uint8Array, at: number, packs: readonly Address[]): { addr: Uint8Array; loc: Location } {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const p = view.getUint32(at + 32, true);
  const codec = b[at + 56];
  if (p >= packs.length || codec > MAX_CODEC) throw new FormatError("pack index entry names no pack or an unknown codec");
  return {
    addr: b.subarray(at, at + 32),
    loc: { pack: packs[p], frameOffset: view.getUint32(at + 36, true), storedLength: view.getUint32(at + 40, true), rawLength: view.getUint32(at + 44, true), offset: view.getUint32(at + 48, true), length: view.getUint32(at + 52, true), codec: codec as Codec },
  };
}

/** Lookups after which an index file opened from disk reads its tags (one pass over the entries). */
export const TAG_AFTER_FINDS = 4096;

/**
 * Lookups that found their entry by reading the file, after which it is read whole into memory (26
 * bytes an entry, 8 MB at 100,000 notes: HeldEntries): a big checkout looks up every blob it writes.
 */
export const HOLD_AFTER = 16_384;

const tagOf = (b: Uint8Array, at: number) => ((b[at + 2] << 24) | (b[at + 3] << 16) | (b[at + 4] << 8) | b[at + 5]) >>> 0;

/** An index file opened for lookups (synchronous reads: each is one small pread, until it is held). */
export class PackIndexFile {
  /** Address bytes 2..5 of every entry, in file order (null: not read yet). */
  private tags: Uint32Array | null = null;
  private finds = 0;
  private foundByRead = 0;
  /** Every entry, in file order, once held (null: lookups read the file). */
  private all: HeldEntries | null = null;

  private constructor(
    private readonly fd: number,
    readonly packs: readonly Address[],
    readonly count: number,
    private readonly fanout: Uint32Array,
    private readonly entriesAt: number,
  ) {}

  /** Whether lookups of absent addresses are answered from memory (tests). */
  get tagged(): boolean {
    return this.tags !== null;
  }

  /** Whether every entry is held in memory (hold): lookups read nothing (tests). */
  get held(): boolean {
    return this.all !== null;
  }

  /** Bytes the held entries take (tests). */
  get heldBytes(): number {
    return this.all?.bytes ?? 0;
  }

  /**
   * Opens and checks the layout (FormatError if it is not a whole index file). `tags`: the file's
   * tags, when the caller just wrote it (mergePackIndexPieces): taken as they are, not read.
   */
  static open(path: string, tags?: Uint32Array): PackIndexFile {
    const f = PackIndexFile.openFile(path);
    if (tags && tags.length === f.count) f.tags = tags;
    return f;
  }

  private static openFile(path: string): PackIndexFile {
    const fd = openSync(path, "r");
    try {
      const head = new Uint8Array(HEADER_BYTES);
      if (readSync(fd, head, 0, HEADER_BYTES, 0) !== HEADER_BYTES || MAGIC.some((b, i) => head[i] !== b)) throw new FormatError("not a pack index");
      if (head[4] !== VERSION) throw new FormatError(`pack index version ${head[4]} is not supported`);
      const view = new DataView(head.buffer);
      const packCount = view.getUint32(5, true);
      const count = view.getUint32(9, true);
      const entriesAt = HEADER_BYTES + 32 * packCount + 4 * FANOUT;
      if (fstatSync(fd).size !== entriesAt + ENTRY_BYTES * count) throw new FormatError("pack index has the wrong length (torn or damaged)");
      const table = new Uint8Array(32 * packCount + 4 * FANOUT);
      readSync(fd, table, 0, table.length, HEADER_BYTES);
      const packs: Address[] = [];
      for (let i = 0; i < packCount; i++) packs.push(toHex(table.subarray(32 * i, 32 * i + 32)));
      const fanout = new Uint32Array(FANOUT);
      const tv = new DataView(table.buffer, 32 * packCount);
      for (let i = 0; i < FANOUT; i++) {
        fanout[i] = tv.getUint32(4 * i, true);
        if (fanout[i] < (i ? fanout[i - 1] : 0)) throw new FormatError("pack index fan-out is not monotone");
      }
      if (fanout[FANOUT - 1] !== count) throw new FormatError("pack index fan-out does not end at the object count");
      return new PackIndexFile(fd, packs, count, fanout, entriesAt);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /**
   * The object's location, or undefined: one read of its fan-out bucket, or of the entries whose tag
   * matches; none once held. HOLD_AFTER lookups found by reading hold the file (hold).
   */
  find(addr: Address): Location | undefined {
    const a = fromHex(addr);
    const p = prefixOf(a);
    const lo = p ? this.fanout[p - 1] : 0;
    const hi = this.fanout[p];
    if (lo === hi) return undefined;
    if (this.all) return this.all.find(lo, hi, a, this.packs);
    if (!this.tags && ++this.finds >= TAG_AFTER_FINDS) this.readTags();
    const loc = this.tags ? this.findTagged(this.tags, lo, hi, a) : this.findInBucket(lo, hi, a);
    if (loc && ++this.foundByRead >= HOLD_AFTER) this.hold();
    return loc;
  }

  /** Reads just the entries of [lo, hi) whose tag is the address's. */
  private findTagged(tags: Uint32Array, lo: number, hi: number, a: Uint8Array): Location | undefined {
    const t = tagOf(a, 0);
    for (let i = lo; i < hi; i++) {
      if (tags[i] !== t) continue;
      const entry = new Uint8Array(ENTRY_BYTES);
      if (readSync(this.fd, entry, 0, ENTRY_BYTES, this.entriesAt + i * ENTRY_BYTES) !== ENTRY_BYTES) throw new FormatError("pack index file shrank while open");
      if (compareBytes(entry.subarray(0, 32), a) === 0) return entryAt(entry, 0, this.packs).loc;
    }
    return undefined;
  }

  /** Reads the entries of [lo, hi) (a fan-out bucket) and searches them. */
  private findInBucket(lo: number, hi: number, a: Uint8Array): Location | undefined {
    const bucket = new Uint8Array((hi - lo) * ENTRY_BYTES);
    readSync(this.fd, bucket, 0, bucket.length, this.entriesAt + lo * ENTRY_BYTES);
    return search(bucket, 0, hi - lo, a, this.packs);
  }

  /** Reads every entry into memory (HeldEntries): later lookups read nothing (a big checkout's). */
  hold(): void {
    if (this.all) return;
    const all = new HeldEntries(this.count);
    for (const chunk of this.rawEntries()) all.add(chunk, this.packs.length);
    this.all = all;
  }

  /**
   * Drops the entries hold() keeps in memory (the tags stay: 4 bytes an entry): lookups read the
   * file again, until as many have found their entry by reading again.
   */
  release(): void {
    this.all = null;
    this.foundByRead = 0;
  }

  /** Every entry in address order, read in chunks of about 1 MiB. */
  *entries(): Generator<{ addr: Uint8Array; loc: Location }> {
    for (const chunk of this.rawEntries()) for (let at = 0; at < chunk.length; at += ENTRY_BYTES) yield entryAt(chunk, at, this.packs);
  }

  /** The entries' bytes in address order, whole entries of about 1 MiB at a time (each chunk is valid until the next). */
  *rawEntries(): Generator<Uint8Array> {
    const per = Math.floor((1 << 20) / ENTRY_BYTES);
    const buf = new Uint8Array(per * ENTRY_BYTES);
    for (let i = 0; i < this.count; i += per) {
      const n = Math.min(per, this.count - i);
      const chunk = buf.subarray(0, n * ENTRY_BYTES);
      if (readSync(this.fd, chunk, 0, chunk.length, this.entriesAt + i * ENTRY_BYTES) !== chunk.length) throw new FormatError("pack index file shrank while open");
      yield chunk;
    }
  }

  private readTags(): void {
    const tags = new Uint32Array(this.count);
    let i = 0;
    for (const chunk of this.rawEntries()) for (let at = 0; at < chunk.length; at += ENTRY_BYTES) tags[i++] = tagOf(chunk, at);
    this.tags = tags;
  }

  close(): void {
    this.release();
    closeSync(this.fd);
  }
}

/** Address bytes a held entry keeps after the two its fan-out bucket gives: 16 of 32 compared. */
const HELD_TAIL = 14;

/**
 * An index file's entries as hold() keeps them: 26 bytes an entry instead of the file's 57 (a
 * clone at 100,000 notes held ~30 MB in one allocation, its largest step in memory). The ~60
 * objects of a frame share one record of it (pack, offset, lengths, codec), and an address is
 * known by its first 16 bytes (bucket and tail). An address the file lacks matches only by sharing
 * 128 bits with an entry of its bucket (a few in 2^128): no lookup meets that by chance, and a read
 * checks the object's whole hash anyway (FsStore.getObject).
 */
class HeldEntries {
  private readonly tails: Uint8Array;
  private readonly frameOf: Uint32Array;
  private readonly offsets: Uint32Array;
  private readonly lengths: Uint32Array;
  private n = 0;
  /** Frames, by pack number x 2^32 + frame offset. */
  private readonly frameNo = new Map<number, number>();
  private frames = { pack: new Uint32Array(64), offset: new Uint32Array(64), stored: new Uint32Array(64), raw: new Uint32Array(64), codec: new Uint8Array(64) };
  private frameCount = 0;

  constructor(count: number) {
    this.tails = new Uint8Array(count * HELD_TAIL);
    this.frameOf = new Uint32Array(count);
    this.offsets = new Uint32Array(count);
    this.lengths = new Uint32Array(count);
  }

  get bytes(): number {
    const f = this.frames;
    return this.tails.length + 12 * this.frameOf.length + f.pack.length * 17;
  }

  /** Appends the entries of a chunk of the file (whole entries, in file order). */
  add(chunk: Uint8Array, packCount: number): void {
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < chunk.length; at += ENTRY_BYTES, this.n++) {
      const pack = view.getUint32(at + 32, true);
      const codec = chunk[at + 56];
      if (pack >= packCount || codec > MAX_CODEC) throw new FormatError("pack index entry names no pack or an unknown codec");
      this.tails.set(chunk.subarray(at + 2, at + 2 + HELD_TAIL), this.n * HELD_TAIL);
      this.frameOf[this.n] = this.frameFor(pack, view.getUint32(at + 36, true), view.getUint32(at + 40, true), view.getUint32(at + 44, true), codec);
      this.offsets[this.n] = view.getUint32(at + 48, true);
      this.lengths[this.n] = view.getUint32(at + 52, true);
    }
  }

  private frameFor(pack: number, offset: number, stored: number, raw: number, codec: number): number {
    const key = pack * 2 ** 32 + offset;
    const f = this.frames;
    const known = this.frameNo.get(key);
    // A frame is one run of a pack's bytes: entries naming it agree on the rest (else each gets its own record).
    if (known !== undefined && f.stored[known] === stored && f.raw[known] === raw && f.codec[known] === codec) return known;
    if (this.frameCount === f.pack.length) this.frames = { pack: doubled(f.pack), offset: doubled(f.offset), stored: doubled(f.stored), raw: doubled(f.raw), codec: doubled(f.codec) };
    const i = this.frameCount++;
    const g = this.frames;
    g.pack[i] = pack;
    g.offset[i] = offset;
    g.stored[i] = stored;
    g.raw[i] = raw;
    g.codec[i] = codec;
    this.frameNo.set(key, i);
    return i;
  }

  /** Binary search of entries [lo, hi) (one fan-out bucket) for address `a`. */
  find(lo: number, hi: number, a: Uint8Array, packs: readonly Address[]): Location | undefined {
    const t = this.tails;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      let c = 0;
      for (let i = 0, at = m * HELD_TAIL; i < HELD_TAIL && c === 0; i++) c = t[at + i] - a[2 + i];
      if (c === 0) {
        const f = this.frames;
        const k = this.frameOf[m];
        return { pack: packs[f.pack[k]], frameOffset: f.offset[k], storedLength: f.stored[k], rawLength: f.raw[k], codec: f.codec[k] as Codec, offset: this.offsets[m], length: this.lengths[m] };
      }
      if (c < 0) lo = m + 1;
      else hi = m;
    }
    return undefined;
  }
}

function doubled<T extends Uint32Array | Uint8Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(2 * a.length);
  b.set(a);
  return b;
}

/** Binary search of entries [lo, hi) of `b` for address `a`. */
function search(b: Uint8Array, lo: number, hi: number, a: Uint8Array, packs: readonly Address[]): Location | undefined {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    const c = compareBytes(b.subarray(m * ENTRY_BYTES, m * ENTRY_BYTES + 32), a);
    if (c === 0) return entryAt(b, m * ENTRY_BYTES, packs).loc;
    if (c < 0) lo = m + 1;
    else hi = m;
  }
  return undefined;
}

/** Compares the 32 bytes at a[ai..] and b[bi..] (no views allocated). */
function compareAt(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  for (let i = 0; i < 32; i++) if (a[ai + i] !== b[bi + i]) return a[ai + i] - b[bi + i];
  return 0;
}

/** Entries a piece of mergePackIndexPieces holds (~1 MiB). */
const PIECE_ENTRIES = Math.floor((1 << 20) / ENTRY_BYTES);

/**
 * The bytes of a new index file: `file`'s entries (if any) and `extra` merged in address order, an
 * address in both keeping the file's; the packs are the file's, then `newPacks`. The same bytes as
 * encodePackIndex of mergeEntries, but the file's entries are copied as they are (its pack numbers
 * stay, as its packs stay first), not decoded into objects and encoded again: an initial push
 * rewrites the file about 5 times as it grows, ~0.5-1 s of CPU the old way.
 *
 * In pieces to be written one after another: the header (pack list and
 * fan-out), then the entries ~1 MiB at a time in one reused buffer (a piece is valid until the next
 * is taken). The whole file was one buffer (~30 MB at 550,000 objects, made at a clone's end).
 * The file's entries are read twice: once to count each fan-out bucket, which precedes them, and to
 * check the merge (nothing is yielded from a bad one), once to copy them. `tags`, if given, gets
 * the new file's tags (PackIndexFile.open) once the last piece is taken.
 */
export function mergePackIndexPieces(file: PackIndexFile | null, newPacks: readonly Address[], extra: ReadonlyMap<Address, Location>, tags?: (t: Uint32Array) => void): Generator<Uint8Array> {
  // Taken now, not at the first piece: the caller's map may grow while the pieces are written
  // (FsStore). The addresses back to back in one buffer, not an array per entry: they live through
  // the write, while a scan goes on (120,000 of them at an initial push's first rewrite).
  // Lowercase hex sorts as its bytes do: the strings are compared natively, not byte arrays in JavaScript.
  const keys = [...extra.keys()].sort();
  const more = { addrs: new Uint8Array(32 * keys.length), locs: keys.map((a) => extra.get(a) as Location) };
  keys.forEach((a, i) => more.addrs.set(fromHex(a), 32 * i));
  return mergedPieces(file, [...(file?.packs ?? []), ...newPacks], more, tags);
}

function* mergedPieces(file: PackIndexFile | null, packs: readonly Address[], more: { addrs: Uint8Array; locs: Location[] }, tags?: (t: Uint32Array) => void): Generator<Uint8Array> {
  const packNo = new Map(packs.map((p, i) => [p, i]));
  const fileCount = file?.packs.length ?? 0;
  const counts = new Uint32Array(FANOUT);
  let total = 0;
  const last = new Uint8Array(32);
  const out = new Uint8Array(PIECE_ENTRIES * ENTRY_BYTES);
  const view = new DataView(out.buffer);
  let at = 0;
  let tagList = new Uint32Array(0);
  const { addrs, locs } = more;
  /** The merge, in address order: with `write`, entries go into `out` and full pieces are yielded; without, they are counted and checked. */
  function* merge(write: boolean): Generator<Uint8Array> {
    let n = 0;
    const take = (b: Uint8Array, bi: number) => {
      if (write) tagList[n] = tagOf(b, bi);
      else {
        if (n > 0 && compareAt(last, 0, b, bi) >= 0) throw new RangeError("pack index entries must be sorted and unique");
        last.set(b.subarray(bi, bi + 32));
        counts[(b[bi] << 8) | b[bi + 1]]++;
      }
      n++;
    };
    const putNew = (k: number) => {
      const p = packNo.get(locs[k].pack);
      if (p === undefined) throw new RangeError(`pack ${locs[k].pack} is not in the pack list`);
      take(addrs, 32 * k);
      if (write) writeEntry(out, view, (at += ENTRY_BYTES) - ENTRY_BYTES, addrs.subarray(32 * k, 32 * k + 32), p, locs[k]);
    };
    const putFile = ({ bytes, view: cv }: { bytes: Uint8Array; view: DataView }, e: number) => {
      if (cv.getUint32(e + 32, true) >= fileCount || bytes[e + 56] > MAX_CODEC) throw new FormatError("pack index entry names no pack or an unknown codec");
      take(bytes, e);
      if (write) {
        out.set(bytes.subarray(e, e + ENTRY_BYTES), at);
        at += ENTRY_BYTES;
      }
    };
    // The file's chunks one at a time (rawEntries reuses its buffer: a chunk is done before the next).
    const chunks = (file?.rawEntries() ?? [])[Symbol.iterator]();
    const nextChunk = () => {
      const r = chunks.next();
      return r.done ? null : { bytes: r.value, view: new DataView(r.value.buffer, r.value.byteOffset, r.value.byteLength) };
    };
    let chunk = nextChunk();
    let e = 0;
    let k = 0;
    while (chunk || k < locs.length) {
      // The next entry in address order: a new one, or the file's (an address in both keeps the file's).
      const c = !chunk ? -1 : k === locs.length ? 1 : compareAt(addrs, 32 * k, chunk.bytes, e);
      if (!chunk || c < 0) putNew(k++);
      else {
        if (c === 0) k++;
        putFile(chunk, e);
        if ((e += ENTRY_BYTES) === chunk.bytes.length) {
          chunk = nextChunk();
          e = 0;
        }
      }
      if (at === out.length) {
        yield out;
        at = 0;
      }
    }
    if (at) yield out.subarray(0, at);
    if (!write) total = n;
  }
  for (const _ of merge(false)); // counts and checks: yields nothing
  const head = startIndex(packs, 0);
  head.view.setUint32(9, total, true);
  let sum = 0;
  const fanoutAt = HEADER_BYTES + 32 * packs.length;
  for (let i = 0; i < FANOUT; i++) head.view.setUint32(fanoutAt + 4 * i, (sum += counts[i]), true);
  yield head.out;
  tagList = new Uint32Array(total);
  yield* merge(true);
  tags?.(tagList);
}

/** The entries of `file` (if any) and `extra` merged in address order; an address in both keeps the file's. */
export function* mergeEntries(file: PackIndexFile | null, extra: ReadonlyMap<Address, Location>): Generator<{ addr: Uint8Array; loc: Location }> {
  const more = [...extra].map(([a, loc]) => ({ addr: fromHex(a), loc })).sort((x, y) => compareBytes(x.addr, y.addr));
  let k = 0;
  for (const e of file ? file.entries() : []) {
    for (; k < more.length && compareBytes(more[k].addr, e.addr) < 0; k++) yield more[k];
    if (k < more.length && compareBytes(more[k].addr, e.addr) === 0) k++;
    yield e;
  }
  for (; k < more.length; k++) yield more[k];
}
