// The rows a run changed in the checkout index (checkout-index.ts), held compactly: per part, a map
// from note id to a slot, and each slot's signature, extra and 32-byte address in typed arrays.
// A clone or an initial push changes every row (300,000 at 100,000 notes): as one object per row
// with its hex address and signature array they took ~320 bytes each (~95 MiB); here ~150.
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

export class CheckoutChanges {
  private readonly slots = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
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
    return this.slots[part].size;
  }

  /** Whether part `part`'s row of `id` changed (set or removed). */
  has(part: number, id: string): boolean {
    return this.slots[part].has(id);
  }

  /** The ids of part `part` whose rows changed, in no order. */
  ids(part: number): IterableIterator<string> {
    return this.slots[part].keys();
  }

  clear(): void {
    for (const m of this.slots) m.clear();
    this.used = 0;
  }

  /** undefined: not changed; null: removed. */
  get(part: number, id: string): CheckoutRow | null | undefined {
    const s = this.slots[part].get(id);
    return s === undefined ? undefined : this.rowAt(s);
  }

  set(part: number, id: string, row: CheckoutRow | null): void {
    let s = this.slots[part].get(id);
    if (s === undefined) {
      if (this.used === this.capacity) this.grow();
      s = this.used++;
      this.slots[part].set(id, s);
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
    for (let part = 0; part < this.slots.length; part++) {
      const m = this.slots[part];
      const ids = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const id of ids) yield { part, id, row: this.rowAt(m.get(id) as number) };
    }
  }

  private rowAt(s: number): CheckoutRow | null {
    if (!this.present[s]) return null;
    return { sig: [this.sigs[3 * s], this.sigs[3 * s + 1], this.sigs[3 * s + 2]], extra: this.extras[s], addr: toHex(this.addrs.subarray(32 * s, 32 * s + 32)) };
  }

  /** Makes room for `n` rows in all (never shrinks). */
  reserve(n: number): void {
    if (n > this.capacity) this.grow(n);
  }

  private grow(to = 2 * this.capacity): void {
    this.capacity = to;
    const more = <T extends Float64Array | Uint32Array | Uint8Array>(old: T, per: number): T => {
      const next = new (old.constructor as new (n: number) => T)(per * this.capacity);
      next.set(old);
      return next;
    };
    this.sigs = more(this.sigs, 3);
    this.extras = more(this.extras, 1);
    this.addrs = more(this.addrs, 32);
    this.present = more(this.present, 1);
  }
}
