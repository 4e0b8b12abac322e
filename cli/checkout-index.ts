// The checkout index: what the vault folder holds, as one sorted binary file (docs/design.md,
// "Local state"). For every part file of the tree `root` (the tree the folder was last brought to)
// one row: the part's address and the stat signature [size, mtimeMs, ino] under which the file is
// known to hold exactly that part. A file whose stat matches its row is not read (git's index does
// the same); a file without a row is new; a row without a file is a deleted part. So the rows are
// the folder's working tree (id -> part addresses) and its stat cache at once, and "nothing changed
// since `root`" is decided without loading the manifest tree.
//
//   index := "PNCK" | version u8 (=1) | flags u8 (0x01: root present) | root [32] | writtenAt f64le
//            | rowCount u32le | row* | SHA-256 of every byte before it [32]
//   row   := part u8 (0 note, 1 embedding, 2 position) | id length u8 | id (ASCII)
//            | size f64le | mtimeMs f64le | ino f64le | extra u32le (note: 1 = chunk list; embedding: dims)
//            | address [32]
//
// Rows are sorted by (part, id) and unique, the order the scan reads the folder in. A row whose file
// content is not known (the user edited it while a pull wanted to write it) keeps the tree's address
// with size -1, a signature no file has: the next scan reads the file.
import { createHash } from "node:crypto";
import { toHex, fromHex, FormatError } from "../engine/core/bytes.ts";
import { sha256, type Address } from "../engine/core/hash.ts";
import type { PartName } from "../engine/core/parts.ts";
import { CheckoutChanges, latin1, writeFixedFields, type RowChange } from "./checkout-changes.ts";

export const PARTS: readonly PartName[] = ["note", "embedding", "position"];
const MAGIC = [0x50, 0x4e, 0x43, 0x4b]; // "PNCK"
const VERSION = 1;
const HEADER_BYTES = 4 + 1 + 1 + 32 + 8 + 4;
const FIXED_ROW_BYTES = 1 + 1 + 8 + 8 + 8 + 4 + 32;
const TRAILER_BYTES = 32;
/** Changed rows are encoded into pieces of this size when the index is written. */
const PIECE_BYTES = 64 * 1024;
const MAX_ID_BYTES = 128;

/** [size, mtimeMs, ino]: what tells a file unchanged. */
export type FileSig = [number, number, number];

export interface CheckoutRow {
  sig: FileSig;
  addr: Address;
  /** note: 1 if the address is a chunk list; embedding: its dims; position: 0. */
  extra: number;
}

/** The signature of a row whose file must be read again. */
export const UNKNOWN_SIG: FileSig = [-1, 0, 0];

const partIndex = (p: PartName) => PARTS.indexOf(p);
const compareRow = (pa: number, ia: string, pb: number, ib: string) => (pa !== pb ? pa - pb : ia < ib ? -1 : ia > ib ? 1 : 0);

export class CheckoutIndex {
  /** Rows written since the file was read (null: removed), applied over it. */
  private changes = new CheckoutChanges();
  private rootChanged = false;
  /** encodePieces runs (the rows must not change meanwhile). */
  private encoding = 0;
  /** set and delete calls so far, and their number when the file was last written (dirty if they differ). */
  private edits = 0;
  private editsSaved = 0;

  /** The file to read the rows back from when next they are looked at (written), or null. */
  private readBack: (() => Uint8Array) | null = null;

  private constructor(
    private root_: Address | null,
    private buf_: Uint8Array,
    private view_: DataView,
    /** Byte offset of each row of `buf`, in order. */
    private offsets_: Uint32Array,
    /** First row index of each part, and the end: rows of part p are [partStart[p], partStart[p + 1]). */
    private partStart_: number[],
    /** When the file was written (ms since the epoch): the rows were known clean then. */
    private writtenAt_: number,
  ) {}

  // The rows as read: read back first if a big write let them go (written).
  private get buf(): Uint8Array {
    return this.readBack ? this.readRowsBack().buf_ : this.buf_;
  }
  private get view(): DataView {
    return this.readBack ? this.readRowsBack().view_ : this.view_;
  }
  private get offsets(): Uint32Array {
    return this.readBack ? this.readRowsBack().offsets_ : this.offsets_;
  }
  private get partStart(): number[] {
    return this.readBack ? this.readRowsBack().partStart_ : this.partStart_;
  }

  static empty(root: Address | null = null): CheckoutIndex {
    const x = CheckoutIndex.decode(encodeRows(root, 0, []));
    return x;
  }

  /** Parses and checks an index file (FormatError if it is not one, truncated or damaged). */
  static decode(bytes: Uint8Array): CheckoutIndex {
    if (bytes.length < HEADER_BYTES + TRAILER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) throw new FormatError("not a checkout index");
    if (bytes[4] !== VERSION) throw new FormatError(`checkout index version ${bytes[4]} is not supported`);
    const body = bytes.subarray(0, bytes.length - TRAILER_BYTES);
    const sum = sha256(body);
    for (let i = 0; i < 32; i++) if (sum[i] !== bytes[body.length + i]) throw new FormatError("checkout index checksum mismatch");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const flags = bytes[5];
    if (flags & ~1) throw new FormatError(`unknown checkout index flags ${flags}`);
    const root = flags & 1 ? toHex(bytes.subarray(6, 38)) : null;
    const writtenAt = view.getFloat64(38, true);
    const count = view.getUint32(46, true);
    const offsets = new Uint32Array(count);
    const partStart = [0, 0, 0, 0];
    let at = HEADER_BYTES;
    let prevPart = -1;
    let prevAt = -1;
    for (let i = 0; i < count; i++) {
      if (at + 2 > body.length) throw new FormatError("checkout index truncated");
      const part = bytes[at];
      const len = bytes[at + 1];
      if (part > 2 || len === 0 || len > MAX_ID_BYTES || at + FIXED_ROW_BYTES + len > body.length) throw new FormatError(`checkout index row ${i} is malformed`);
      // Compared in place: a string per row would be 300,000 strings on every open.
      if (part < prevPart || (part === prevPart && compareIdBytes(bytes, prevAt, at) >= 0)) throw new FormatError(`checkout index rows out of order at ${i}`);
      for (let p = prevPart + 1; p <= part; p++) partStart[p] = i;
      prevPart = part;
      prevAt = at;
      offsets[i] = at;
      at += FIXED_ROW_BYTES + len;
    }
    if (at !== body.length) throw new FormatError("checkout index has trailing bytes");
    for (let p = prevPart + 1; p <= 3; p++) partStart[p] = count;
    return new CheckoutIndex(root, bytes, view, offsets, partStart, writtenAt);
  }

  /** When the file was written (ms since the epoch): the rows were known clean then. */
  get writtenAt(): number {
    return this.writtenAt_;
  }

  /** The tree the rows describe. */
  get root(): Address | null {
    return this.root_;
  }

  set root(r: Address | null) {
    if (r !== this.root_) this.rootChanged = true;
    this.root_ = r;
  }

  /** Whether anything changed since the file was read (if not, it need not be written). */
  get dirty(): boolean {
    return this.rootChanged || this.edits !== this.editsSaved;
  }

  /** Folds the changes into the rows as read (the scan walks those), keeping the file's stamp. */
  fold(): void {
    if (this.changes.size === 0) return;
    this.take(CheckoutIndex.decode(this.encode(this.writtenAt))); // the same root and stamp
    this.changes.clear();
  }

  // ---- the rows as read (before changes): the scan walks these in order ----

  /** Row indexes [start, end) of one part, sorted by id. */
  range(part: PartName): [number, number] {
    const p = partIndex(part);
    return [this.partStart[p], this.partStart[p + 1]];
  }

  idAt(i: number): string {
    const at = this.offsets[i];
    return latin1(this.buf, at + 2, at + 2 + this.buf[at + 1]);
  }

  /** Row i's id compared with `id` (<0, 0, >0), read in place: the scan asks twice per file. Ids are ASCII, so byte order is string order. */
  compareId(i: number, id: string): number {
    const at = this.offsets[i] + 2;
    const len = this.buf[at - 1];
    const n = Math.min(len, id.length);
    for (let k = 0; k < n; k++) {
      const d = this.buf[at + k] - id.charCodeAt(k);
      if (d !== 0) return d;
    }
    return len - id.length;
  }

  /** Where row i's fixed fields (signature, extra, address) start, after its id. */
  private sigOffset(i: number): number {
    return this.offsets[i] + 2 + this.buf[this.offsets[i] + 1];
  }

  sigAt(i: number): FileSig {
    const at = this.sigOffset(i);
    return [this.view.getFloat64(at, true), this.view.getFloat64(at + 8, true), this.view.getFloat64(at + 16, true)];
  }

  /** Whether row i's signature is [size, mtimeMs, ino], read in place (a scan asks 300,000 times). */
  sigEquals(i: number, size: number, mtimeMs: number, ino: number): boolean {
    const at = this.sigOffset(i);
    return this.view.getFloat64(at, true) === size && this.view.getFloat64(at + 8, true) === mtimeMs && this.view.getFloat64(at + 16, true) === ino;
  }

  rowAt(i: number): CheckoutRow {
    const at = this.sigOffset(i);
    return { sig: this.sigAt(i), extra: this.view.getUint32(at + 24, true), addr: toHex(this.buf.subarray(at + 28, at + 60)) };
  }

  /** The row as read, by binary search. */
  private readRow(part: number, id: string): CheckoutRow | undefined {
    const i = this.indexOf(part, id);
    return i >= 0 ? this.rowAt(i) : undefined;
  }

  /** The row as read, ignoring changes made since (what the tree `root` holds). */
  original(part: PartName, id: string): CheckoutRow | undefined {
    return this.readRow(partIndex(part), id);
  }

  // ---- current rows (changes applied) ----

  /** Whether the part has a row, as read or changed since (a removed row counts: it had one). */
  hasRows(part: PartName): boolean {
    const [start, end] = this.range(part);
    return end > start || this.changes.countOf(partIndex(part)) > 0;
  }

  get(part: PartName, id: string): CheckoutRow | undefined {
    const c = this.changes.get(partIndex(part), id);
    if (c !== undefined) return c ?? undefined;
    return this.readRow(partIndex(part), id);
  }

  set(part: PartName, id: string, row: CheckoutRow): void {
    this.assertNotEncoding();
    if (!/^[\x21-\x7e]{1,128}$/.test(id)) throw new RangeError(`bad id ${id}`);
    this.changes.set(partIndex(part), id, row);
    this.edits++;
  }

  /**
   * Room for `n` more changed rows, made at once: a clone knows its 300,000 rows before it writes
   * them, and growing by doubling to them held 32 MiB of slots (48 MiB while the last copy was made)
   * for ~18 MiB of rows.
   */
  reserve(n: number): void {
    this.changes.reserve(this.changes.size + n);
  }

  delete(part: PartName, id: string): void {
    this.assertNotEncoding();
    this.changes.set(partIndex(part), id, null);
    this.edits++;
  }

  private assertNotEncoding(): void {
    if (this.encoding) throw new Error("checkout index changed while being written");
  }

  /**
   * Each id with a row of some part changed since the file was read, once, in id order (the
   * three parts' changed ids merged), with its current rows, one per part in PARTS' order
   * (undefined: none): a changed part's row comes from its change's slot, not from a lookup by id
   * (three a note, for the 100,000 notes of an initial push). A first commit builds its tree from
   * these as they come.
   */
  *changedRows(): Generator<{ id: string; rows: (CheckoutRow | undefined)[]; slots: Int32Array }> {
    const out: { id: string; rows: (CheckoutRow | undefined)[]; slots: Int32Array } = { id: "", rows: [], slots: new Int32Array(0) };
    for (const c of this.changes.idsWithSlots()) {
      out.id = c.id;
      out.slots = c.slots;
      out.rows = this.rowsOfSlots(c.id, c.slots);
      yield out;
    }
  }

  /**
   * A note's current rows (one per part, undefined: none) from the slots changedRows gave with its
   * id, which stay valid while no row is set or deleted: a caller that walked the changes once can
   * come back to a note without looking its rows up by id.
   */
  rowsOfSlots(id: string, slots: ArrayLike<number>): (CheckoutRow | undefined)[] {
    return PARTS.map((_, p) => (slots[p] >= 0 ? (this.changes.rowAt(slots[p]) ?? undefined) : this.readRow(p, id)));
  }

  /** Every current row, in order. */
  *rows(): Generator<{ part: PartName; id: string; row: CheckoutRow }> {
    const changed = this.changes.sorted();
    let ch = changed.next();
    const n = this.offsets.length;
    for (let i = 0; i < n || !ch.done; ) {
      const part = i < n ? this.buf[this.offsets[i]] : 3;
      const id = i < n ? this.idAt(i) : "";
      const order = !ch.done ? compareRow(ch.value.part, ch.value.id, part, id) : 1;
      if (order <= 0) {
        const c = ch.value as RowChange;
        ch = changed.next();
        if (order === 0) i++;
        if (c.row) yield { part: PARTS[c.part], id: c.id, row: c.row };
      } else {
        yield { part: PARTS[part], id, row: this.rowAt(i++) };
      }
    }
  }

  /**
   * The file's bytes for the current rows (`now`: the writtenAt stamp), in one buffer: what
   * `encodePieces` yields, joined.
   */
  encode(now = Date.now()): Uint8Array {
    const pieces = [...this.encodePieces(now)];
    const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of pieces) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * The file's bytes for the current rows (`now`: the writtenAt stamp), as pieces to be written one
   * after another, the last the SHA-256 of all before it. Runs of rows as read are views of the
   * buffer as read, copied byte for byte by the write; only changed rows are encoded, into pieces of
   * ~64 KiB (a one-note edit of a 300,000-row index allocates no per-row objects). So writing the
   * file never holds a second copy of the index (29 MB at 100,000 notes). The rows must not change
   * while the pieces are taken (set and delete throw meanwhile).
   */
  *encodePieces(now = Date.now()): Generator<Uint8Array> {
    const n = this.offsets.length;
    const rowEnd = (i: number) => (i + 1 < n ? this.offsets[i + 1] : this.buf.length - TRAILER_BYTES);
    // Rows as read, plus the changes that set one, less the changed rows that replace or remove one
    // as read (none when nothing was read: a clone's or an initial push's 300,000 need no walk here).
    let count = n + this.changes.presentCount();
    if (n) for (const c of this.changes.sortedSlots()) if (this.indexOf(c.part, c.id) >= 0) count--;
    this.encoding++;
    try {
      const hash = createHash("sha256");
      const header = new Uint8Array(HEADER_BYTES);
      writeHeader(header, new DataView(header.buffer), this.root_, now, count);
      hash.update(header);
      yield header;
      let piece = new Uint8Array(PIECE_BYTES);
      let view = new DataView(piece.buffer);
      let at = 0; // bytes of changed rows in `piece`
      let i = 0;
      let written = 0;
      const rows = this.changes.sortedSlots();
      // The changed rows gathered so far, hashed, and a fresh piece for the next ones.
      const takePiece = (): Uint8Array => {
        const out = piece.subarray(0, at);
        hash.update(out);
        piece = new Uint8Array(PIECE_BYTES);
        view = new DataView(piece.buffer);
        at = 0;
        return out;
      };
      for (let ch = rows.next(); ; ch = rows.next()) {
        // Rows as read up to the change (or to the end), as one view, after the changed rows before them.
        const stop = ch.done ? n : this.lowerBound(ch.value.part, ch.value.id);
        if (stop > i || ch.done) {
          if (at) yield takePiece();
          if (stop > i) {
            const out = this.buf.subarray(this.offsets[i], rowEnd(stop - 1));
            hash.update(out);
            yield out;
            written += stop - i;
            i = stop;
          }
        }
        if (ch.done) break;
        const c = ch.value;
        if (i < n && this.buf[this.offsets[i]] === c.part && this.idAt(i) === c.id) i++; // replaced or removed
        if (this.changes.isPresent(c.slot)) {
          if (at + FIXED_ROW_BYTES + c.id.length > PIECE_BYTES) yield takePiece();
          at = this.changes.writeFixed(c.slot, piece, view, writeRowId(piece, at, c.part, c.id));
          written++;
        }
      }
      if (written !== count) throw new Error(`checkout index: ${written} rows encoded, ${count} counted`);
      yield new Uint8Array(hash.digest());
    } finally {
      this.encoding--;
    }
  }

  /**
   * After the file was written from `encodePieces(now)`. If at most a quarter of the rows changed
   * (an edit, a pull), the rows as read and the changes stay as they are, now clean: reading the
   * file back would put a second buffer of the whole index (29 MB at 100,000 notes) beside the
   * first, which lives until the collector gets to it; the next scan folds the changes in (fold).
   * Otherwise (a clone, an initial push: the changes hold ~150 bytes a row) the rows and the
   * changes are dropped, and `read` (synchronous: the file's bytes) reads the file back only when
   * the rows are next looked at: a one-shot command ends first (at a clone's end, reading the
   * 26 MB file back was the largest allocation of its run), a watch at its next sync.
   */
  written(now: number, read: () => Uint8Array): void {
    if (this.changes.size > this.offsets.length / 4) {
      this.changes = new CheckoutChanges();
      this.take(CheckoutIndex.empty(this.root_));
      this.readBack = read;
    }
    this.writtenAt_ = now;
    this.rootChanged = false;
    this.editsSaved = this.edits;
  }

  /**
   * The rows read back from the file (written). A file that is gone or does not decode leaves an
   * empty index, as opening a damaged file does: the next scan reads every file. Other errors (a
   * failing disk) are thrown, and the next look tries again.
   */
  private readRowsBack(): this {
    const read = this.readBack!;
    try {
      this.take(CheckoutIndex.decode(read()));
    } catch (e) {
      if (!(e instanceof FormatError) && (e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      this.take(CheckoutIndex.empty());
    }
    this.readBack = null;
    return this;
  }

  private take(x: CheckoutIndex): void {
    this.root_ = x.root_;
    this.buf_ = x.buf_;
    this.view_ = x.view_;
    this.offsets_ = x.offsets_;
    this.partStart_ = x.partStart_;
    this.writtenAt_ = x.writtenAt_;
  }

  /** The first row index whose (part, id) is >= the given one. */
  private lowerBound(part: number, id: string): number {
    let lo = this.partStart[part];
    let hi = this.partStart[part + 1];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.idAt(mid) < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(part: number, id: string): number {
    const i = this.lowerBound(part, id);
    return i < this.partStart[part + 1] && this.idAt(i) === id ? i : -1;
  }
}

function writeHeader(out: Uint8Array, view: DataView, root: Address | null, writtenAt: number, count: number): void {
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = root ? 1 : 0;
  if (root) out.set(fromHex(root), 6);
  view.setFloat64(38, writtenAt, true);
  view.setUint32(46, count, true);
}

/** A row's part and id at `at`; returns where its fixed fields start. */
function writeRowId(out: Uint8Array, at: number, part: number, id: string): number {
  out[at] = part;
  out[at + 1] = id.length;
  for (let k = 0; k < id.length; k++) out[at + 2 + k] = id.charCodeAt(k);
  return at + 2 + id.length;
}

function writeRow(out: Uint8Array, view: DataView, at: number, part: number, id: string, row: CheckoutRow): number {
  return writeFixedFields(out, view, writeRowId(out, at, part, id), row.sig[0], row.sig[1], row.sig[2], row.extra, fromHex(row.addr));
}

/** The ids of the rows at byte offsets a and b compared (<0, 0, >0). */
function compareIdBytes(b: Uint8Array, a: number, c: number): number {
  const la = b[a + 1];
  const lc = b[c + 1];
  const n = Math.min(la, lc);
  for (let k = 0; k < n; k++) {
    const d = b[a + 2 + k] - b[c + 2 + k];
    if (d !== 0) return d;
  }
  return la - lc;
}

/** Encodes sorted, unique rows. */
export function encodeRows(root: Address | null, writtenAt: number, rows: readonly [number, string, CheckoutRow][]): Uint8Array {
  let size = HEADER_BYTES + TRAILER_BYTES;
  for (const [, id] of rows) size += FIXED_ROW_BYTES + id.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  writeHeader(out, view, root, writtenAt, rows.length);
  let at = HEADER_BYTES;
  for (const [part, id, row] of rows) at = writeRow(out, view, at, part, id, row);
  out.set(sha256(out.subarray(0, at)), at);
  return out;
}
