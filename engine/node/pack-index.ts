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

/**
 * Encodes sorted, unique entries (addresses as 32 bytes) for these packs, streamed: at most
 * `maxCount` of them (the buffer's size; the file is cut to the entries given).
 */
export function encodePackIndex(packs: readonly Address[], entries: Iterable<{ addr: Uint8Array; loc: Location }>, maxCount: number): Uint8Array {
  const packNo = new Map(packs.map((p, i) => [p, i]));
  const entriesAt = HEADER_BYTES + 32 * packs.length + 4 * FANOUT;
  const out = new Uint8Array(entriesAt + ENTRY_BYTES * maxCount);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  view.setUint32(5, packs.length, true);
  packs.forEach((p, i) => out.set(fromHex(p), HEADER_BYTES + 32 * i));
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
    out.set(addr, at);
    view.setUint32(at + 32, p, true);
    view.setUint32(at + 36, loc.frameOffset, true);
    view.setUint32(at + 40, loc.storedLength, true);
    view.setUint32(at + 44, loc.rawLength, true);
    view.setUint32(at + 48, loc.offset, true);
    view.setUint32(at + 52, loc.length, true);
    out[at + 56] = loc.codec;
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

/** An index file opened for lookups (synchronous reads: each is one small pread). */
export class PackIndexFile {
  private constructor(
    private readonly fd: number,
    readonly packs: readonly Address[],
    readonly count: number,
    private readonly fanout: Uint32Array,
    private readonly entriesAt: number,
  ) {}

  /** Opens and checks the layout (FormatError if it is not a whole index file). */
  static open(path: string): PackIndexFile {
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

  /** The object's location, or undefined (one read of its fan-out bucket). */
  find(addr: Address): Location | undefined {
    const a = fromHex(addr);
    const p = prefixOf(a);
    const lo = p ? this.fanout[p - 1] : 0;
    const n = this.fanout[p] - lo;
    if (n === 0) return undefined;
    const bucket = new Uint8Array(n * ENTRY_BYTES);
    readSync(this.fd, bucket, 0, bucket.length, this.entriesAt + lo * ENTRY_BYTES);
    let l = 0;
    let h = n;
    while (l < h) {
      const m = (l + h) >>> 1;
      const c = compareBytes(bucket.subarray(m * ENTRY_BYTES, m * ENTRY_BYTES + 32), a);
      if (c === 0) return entryAt(bucket, m * ENTRY_BYTES, this.packs).loc;
      if (c < 0) l = m + 1;
      else h = m;
    }
    return undefined;
  }

  /** Entries [first, first + n) as they are on disk (n x ENTRY_BYTES), read into `into`. */
  readEntries(first: number, n: number, into: Uint8Array): void {
    const want = n * ENTRY_BYTES;
    if (readSync(this.fd, into, 0, want, this.entriesAt + first * ENTRY_BYTES) !== want) throw new FormatError("pack index ends early (torn or damaged)");
  }

  /** Every entry in address order, read in chunks of about 1 MiB. */
  *entries(): Generator<{ addr: Uint8Array; loc: Location }> {
    const per = Math.floor((1 << 20) / ENTRY_BYTES);
    for (let i = 0; i < this.count; i += per) {
      const n = Math.min(per, this.count - i);
      const chunk = new Uint8Array(n * ENTRY_BYTES);
      readSync(this.fd, chunk, 0, chunk.length, this.entriesAt + i * ENTRY_BYTES);
      for (let k = 0; k < n; k++) yield entryAt(chunk, k * ENTRY_BYTES, this.packs);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
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

/** Entries copied from the old file per read (about 1 MiB). */
const MERGE_CHUNK = Math.floor((1 << 20) / ENTRY_BYTES);

/**
 * The bytes of a new index file: `file`'s entries (if any) and `extra`'s merged in address order (an
 * address in both keeps the file's), for `packs`, which must start with the file's packs in its
 * order (so its entries keep their pack numbers). What encodePackIndex(packs, mergeEntries(file,
 * extra)) gives, without an object per entry: the file's entries are copied in runs, 1 MiB read at a
 * time, into the one output buffer. At 360,000 objects the per-entry objects of that were ~90 MB of
 * garbage per rewrite, and a clone or an initial push rewrites the file about six times.
 */
export function mergeIndexFile(file: PackIndexFile | null, packs: readonly Address[], extra: ReadonlyMap<Address, Location>): Uint8Array {
  const old = file?.packs ?? [];
  if (old.some((p, i) => packs[i] !== p)) throw new RangeError("the new pack list must start with the index file's packs");
  const more = [...extra].map(([a, loc]) => ({ addr: fromHex(a), loc })).sort((x, y) => compareBytes(x.addr, y.addr));
  const fileCount = file?.count ?? 0;
  const packNo = new Map(packs.map((p, i) => [p, i]));
  const entriesAt = HEADER_BYTES + 32 * packs.length + 4 * FANOUT;
  const out = new Uint8Array(entriesAt + ENTRY_BYTES * (fileCount + more.length));
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  view.setUint32(5, packs.length, true);
  packs.forEach((p, i) => out.set(fromHex(p), HEADER_BYTES + 32 * i));
  const counts = new Uint32Array(FANOUT);
  let at = entriesAt;
  const putNew = (e: { addr: Uint8Array; loc: Location }) => {
    const p = packNo.get(e.loc.pack);
    if (p === undefined) throw new RangeError(`pack ${e.loc.pack} is not in the pack list`);
    out.set(e.addr, at);
    view.setUint32(at + 32, p, true);
    view.setUint32(at + 36, e.loc.frameOffset, true);
    view.setUint32(at + 40, e.loc.storedLength, true);
    view.setUint32(at + 44, e.loc.rawLength, true);
    view.setUint32(at + 48, e.loc.offset, true);
    view.setUint32(at + 52, e.loc.length, true);
    out[at + 56] = e.loc.codec;
    counts[prefixOf(e.addr)]++;
    at += ENTRY_BYTES;
  };
  let k = 0;
  const chunk = new Uint8Array(Math.min(MERGE_CHUNK, Math.max(fileCount, 1)) * ENTRY_BYTES);
  for (let first = 0; first < fileCount; first += MERGE_CHUNK) {
    const n = Math.min(MERGE_CHUNK, fileCount - first);
    (file as PackIndexFile).readEntries(first, n, chunk);
    let run = 0; // the chunk's entries [run, i) are still to be copied
    for (let i = 0; i < n; i++) {
      const e = i * ENTRY_BYTES;
      counts[(chunk[e] << 8) | chunk[e + 1]]++;
      if (k === more.length) continue;
      let c = compareAt(more[k].addr, chunk, e);
      if (c > 0) continue;
      out.set(chunk.subarray(run * ENTRY_BYTES, e), at);
      at += e - run * ENTRY_BYTES;
      run = i;
      for (; c < 0; c = k < more.length ? compareAt(more[k].addr, chunk, e) : 1) putNew(more[k++]);
      if (c === 0) k++; // in the file already: the file's location stays
    }
    out.set(chunk.subarray(run * ENTRY_BYTES, n * ENTRY_BYTES), at);
    at += (n - run) * ENTRY_BYTES;
  }
  for (; k < more.length; k++) putNew(more[k]);
  const count = (at - entriesAt) / ENTRY_BYTES;
  view.setUint32(9, count, true);
  let sum = 0;
  const fanoutAt = HEADER_BYTES + 32 * packs.length;
  for (let i = 0; i < FANOUT; i++) view.setUint32(fanoutAt + 4 * i, (sum += counts[i]), true);
  return out.subarray(0, at);
}

/** Address `a` compared with the 32 bytes of `b` at `at` (<0, 0, >0). */
function compareAt(a: Uint8Array, b: Uint8Array, at: number): number {
  for (let i = 0; i < 32; i++) {
    const d = a[i] - b[at + i];
    if (d !== 0) return d;
  }
  return 0;
}
