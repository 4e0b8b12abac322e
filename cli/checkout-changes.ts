// The rows a run changed in the checkout index (checkout-index.ts), held compactly: per part, the
// note ids with their slots, and each slot's signature, extra and 32-byte address in typed arrays.
// A clone or an initial push changes every row (300,000 at 100,000 notes): as one object per row
// with its hex address and signature array they took ~320 bytes each (~95 MiB); with a Map from id
// to slot ~150; here ~75. Ids set in ascending order (a scan or a checkout sets a part's rows in
// id order) are appended to a sorted run of bytes (AppendedIds: the id's bytes and 8 more, where a
// Map entry and its id string took ~58 bytes: 17 MiB at an initial push's end); only ids set out
// of order (edits, deletions found late) go to the Map.
import { fromHex, toHex } from "../engine/core/bytes.ts";
import type { Address } from "../engine/core/hash.ts";

/** A row's content (checkout-index.ts's CheckoutRow, which this file must not import: no circle). */
interface CheckoutRow {
  sig: [number, number, number];
  addr: Address;
  extra: number;
}

/** A changed row: its new content, or null (removed). */
export interface RowChange {
  part: number;
  id: string;
  row: CheckoutRow | null;
}

/**
 * Ids appended in ascending order, each with its slot: the ids' bytes back to back (ids are ASCII:
 * checkout-index.ts checks them) and two u32 a row. Found by binary search.
 */
export class AppendedIds {
  private bytes = new Uint8Array(1024);
  private ends = new Uint32Array(128);
  private slotOf = new Uint32Array(128);
  count = 0;
  /** The greatest id appended ("" when none). */
  last = "";

  /** Appends `id`, which must be greater than `last`. */
  append(id: string, slot: number): void {
    if (this.count > 0 && !(id > this.last)) throw new Error(`id ${id} appended after ${this.last}`);
    const start = this.count ? this.ends[this.count - 1] : 0;
    if (start + id.length > this.bytes.length) this.bytes = resized(this.bytes, Math.max(start + id.length, 2 * this.bytes.length));
    if (this.count === this.ends.length) {
      this.ends = resized(this.ends, 2 * this.count);
      this.slotOf = resized(this.slotOf, 2 * this.count);
    }
    for (let i = 0; i < id.length; i++) this.bytes[start + i] = id.charCodeAt(i);
    this.ends[this.count] = start + id.length;
    this.slotOf[this.count++] = slot;
    this.last = id;
  }

  /** The slot of `id`, or -1. */
  find(id: string): number {
    if (this.count === 0 || id > this.last) return -1;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      const c = this.compareAt(m, id);
      if (c === 0) return this.slotOf[m];
      if (c < 0) lo = m + 1;
      else hi = m;
    }
    return -1;
  }

  idAt(k: number): string {
    const start = k ? this.ends[k - 1] : 0;
    return latin1(this.bytes, start, this.ends[k]);
  }

  slotAt(k: number): number {
    return this.slotOf[k];
  }

  clear(): void {
    this.count = 0;
    this.last = "";
  }

  /** The order of the k-th id against `id` (negative: it sorts first), by code unit as `<` does. */
  private compareAt(k: number, id: string): number {
    const start = k ? this.ends[k - 1] : 0;
    const n = this.ends[k] - start;
    const common = Math.min(n, id.length);
    for (let i = 0; i < common; i++) {
      const d = this.bytes[start + i] - id.charCodeAt(i);
      if (d) return d;
    }
    return n - id.length;
  }
}

/**
 * Ids are ASCII: Buffer's latin1 decoder makes a flat string ~3x faster than char-by-char
 * concatenation, where spreading the bytes into String.fromCharCode was most of writing an
 * initial push's 300,000 rows (the index's rows and the changed ones are decoded here).
 */
export function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.prototype.latin1Slice.call(b, start, end);
}

/**
 * A row's fixed fields, as the checkout index lays them out after its id: size, mtimeMs, ino
 * (f64le), extra (u32le), the 32-byte address. Returns where they end.
 */
export function writeFixedFields(out: Uint8Array, view: DataView, at: number, size: number, mtimeMs: number, ino: number, extra: number, addr: Uint8Array): number {
  view.setFloat64(at, size, true);
  view.setFloat64(at + 8, mtimeMs, true);
  view.setFloat64(at + 16, ino, true);
  view.setUint32(at + 24, extra, true);
  out.set(addr, at + 28);
  return at + 60;
}

/** A longer copy of a typed array (its contents first, zeros after). */
function resized<T extends Float64Array | Uint32Array | Uint8Array>(old: T, length: number): T {
  const next = new (old.constructor as new (n: number) => T)(length);
  next.set(old);
  return next;
}

export class CheckoutChanges {
  /** Per part: ids set out of order -> slot. */
  private readonly slots = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
  /** Per part: ids set in order, with their slots. An id is in one of the two, never both. */
  private readonly runs = [new AppendedIds(), new AppendedIds(), new AppendedIds()];
  private capacity = 256;
  private used = 0;
  private sigs = new Float64Array(3 * this.capacity);
  private extras = new Uint32Array(this.capacity);
  private addrs = new Uint8Array(32 * this.capacity);
  /** 1: the row is set, 0: removed. */
  private present = new Uint8Array(this.capacity);

  get size(): number {
    return this.used;
  }

  /** Rows of part `part` changed (set or removed). */
  countOf(part: number): number {
    return this.slots[part].size + this.runs[part].count;
  }

  clear(): void {
    for (const m of this.slots) m.clear();
    for (const r of this.runs) r.clear();
    this.used = 0;
  }

  private slotOf(part: number, id: string): number | undefined {
    const s = this.slots[part].get(id);
    if (s !== undefined) return s;
    const r = this.runs[part].find(id);
    return r < 0 ? undefined : r;
  }

  /** undefined: not changed; null: removed. */
  get(part: number, id: string): CheckoutRow | null | undefined {
    const s = this.slotOf(part, id);
    return s === undefined ? undefined : this.rowAt(s);
  }

  set(part: number, id: string, row: CheckoutRow | null): void {
    let s = this.slotOf(part, id);
    if (s === undefined) {
      if (this.used === this.capacity) this.grow();
      s = this.used++;
      const run = this.runs[part];
      if (run.count === 0 || id > run.last) run.append(id, s);
      else this.slots[part].set(id, s);
    }
    if (!row) {
      this.present[s] = 0;
      return;
    }
    this.present[s] = 1;
    this.sigs[3 * s] = row.sig[0];
    this.sigs[3 * s + 1] = row.sig[1];
    this.sigs[3 * s + 2] = row.sig[2];
    this.extras[s] = row.extra;
    this.addrs.set(fromHex(row.addr), 32 * s);
  }

  /** Every change, sorted by (part, id): the order of the index's rows. */
  *sorted(): Generator<RowChange> {
    for (const c of this.sortedSlots()) yield { part: c.part, id: c.id, row: this.rowAt(c.slot) };
  }

  /**
   * Every change in (part, id) order with its slot, for writeFixed and isPresent: the slot comes
   * with the id, not from a lookup by it (a Map and a binary search a row, twice, when an initial
   * push wrote its 300,000 rows). The object yielded is reused: read it before the next one.
   */
  *sortedSlots(): Generator<{ part: number; id: string; slot: number }> {
    const c = { part: 0, id: "", slot: 0 };
    for (let part = 0; part < this.slots.length; part++) {
      c.part = part;
      for (const [id, slot] of this.inOrder(part)) {
        c.id = id;
        c.slot = slot;
        yield c;
      }
    }
  }

  /** The ids of part `part` whose rows changed, sorted (by code unit, as `<` compares). */
  *idsInOrder(part: number): Generator<string> {
    for (const [id] of this.inOrder(part)) yield id;
  }

  /** Part `part`'s changed ids, sorted, each with its slot. The pair yielded is reused. */
  private *inOrder(part: number): Generator<[string, number]> {
    const map = this.slots[part];
    const ids = [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const run = this.runs[part];
    const out: [string, number] = ["", 0];
    // The two are each sorted and hold no id in common: merged.
    let i = 0;
    let k = 0;
    let fromRun = run.count ? run.idAt(0) : null;
    while (i < ids.length || fromRun !== null) {
      if (fromRun !== null && (i === ids.length || fromRun < ids[i])) {
        out[0] = fromRun;
        out[1] = run.slotAt(k);
        fromRun = ++k < run.count ? run.idAt(k) : null;
      } else {
        out[0] = ids[i++];
        out[1] = map.get(out[0])!;
      }
      yield out;
    }
  }

  /**
   * Each id with a changed row of some part, once, in id order (the parts' changed ids merged),
   * with each part's slot (-1: that part's row did not change). The object yielded is reused.
   */
  *idsWithSlots(): Generator<{ id: string; slots: Int32Array }> {
    const streams = this.slots.map((_, p) => this.inOrder(p));
    const heads: ([string, number] | null)[] = streams.map((g) => {
      const n = g.next();
      return n.done ? null : [n.value[0], n.value[1]];
    });
    const out = { id: "", slots: new Int32Array(streams.length) };
    for (;;) {
      let least: string | null = null;
      for (const h of heads) if (h && (least === null || h[0] < least)) least = h[0];
      if (least === null) return;
      out.id = least;
      for (let p = 0; p < heads.length; p++) {
        const h = heads[p];
        if (!h || h[0] !== least) {
          out.slots[p] = -1;
          continue;
        }
        out.slots[p] = h[1];
        const n = streams[p].next();
        if (n.done) heads[p] = null;
        else [h[0], h[1]] = n.value;
      }
      yield out;
    }
  }

  /** Whether the change in `slot` sets a row (false: it removes one). */
  isPresent(slot: number): boolean {
    return this.present[slot] === 1;
  }

  /**
   * Writes the fixed fields of the row in `slot` (size, mtimeMs, ino as f64le, extra u32le, the
   * 32-byte address) at `at`, straight from the slot's arrays (no hex address made and parsed
   * again); returns where they end.
   */
  writeFixed(slot: number, out: Uint8Array, view: DataView, at: number): number {
    const sig = 3 * slot;
    return writeFixedFields(out, view, at, this.sigs[sig], this.sigs[sig + 1], this.sigs[sig + 2], this.extras[slot], this.addrs.subarray(32 * slot, 32 * slot + 32));
  }

  /** Changes that set a row (the rest remove one). */
  presentCount(): number {
    let n = 0;
    for (let s = 0; s < this.used; s++) n += this.present[s];
    return n;
  }

  /** The row the change in `slot` sets (null: it removes the row). */
  rowAt(s: number): CheckoutRow | null {
    // A slot outlives a set or delete (an id keeps its slot) but not a clear (fold, a big write).
    if (!(s >= 0 && s < this.used)) throw new RangeError(`checkout changes: no slot ${s} (${this.used} in use): the rows were cleared since it was given`);
    if (!this.present[s]) return null;
    return { sig: [this.sigs[3 * s], this.sigs[3 * s + 1], this.sigs[3 * s + 2]], extra: this.extras[s], addr: toHex(this.addrs.subarray(32 * s, 32 * s + 32)) };
  }

  /** Makes room for `n` rows in all (never shrinks). */
  reserve(n: number): void {
    if (n > this.capacity) this.grow(n);
  }

  private grow(to = 2 * this.capacity): void {
    this.capacity = to;
    this.sigs = resized(this.sigs, 3 * to);
    this.extras = resized(this.extras, to);
    this.addrs = resized(this.addrs, 32 * to);
    this.present = resized(this.present, to);
  }
}
