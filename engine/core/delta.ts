// Byte deltas: a target object written as copies from a base object plus inserted bytes.
//
//   delta := targetLength varint | op*
//   op    := 0x00 | length varint | bytes             insert `length` bytes (length >= 1)
//          | 0x01 | offset varint | length varint     copy base[offset, offset + length) (length >= 1)
//
// The ops write the target left to right; applying fails (FormatError) on an unknown op, an empty
// op, a copy outside the base, or a result that is not exactly targetLength bytes, so a reader
// allocates targetLength once and never more. Used for tree nodes on the push wire (delta-frame.ts):
// an edited leaf differs from the one it replaces by one 32-byte address, so it travels as ~50
// bytes instead of ~1.4 KB (docs/design.md, "Delta frames").
import { ByteReader, ByteWriter, FormatError } from "./bytes.ts";

const OP_INSERT = 0x00;
const OP_COPY = 0x01;
/** Shortest copy worth an op (a copy costs 3-5 bytes; shorter runs are inserted). */
const MIN_MATCH = 8;

/** The ops that turn `base` into `target`. Deterministic; not necessarily the shortest. */
export function encodeDelta(base: Uint8Array, target: Uint8Array): Uint8Array {
  const w = new ByteWriter(64);
  w.varint(target.length);
  // Common prefix and suffix first: one edit in a node is one insert between two copies.
  const max = Math.min(base.length, target.length);
  let prefix = 0;
  while (prefix < max && base[prefix] === target[prefix]) prefix++;
  let suffix = 0;
  while (suffix < max - prefix && base[base.length - 1 - suffix] === target[target.length - 1 - suffix]) suffix++;
  if (prefix) copy(w, 0, prefix);
  matchMiddle(w, base, target, prefix, base.length - suffix, target.length - suffix);
  if (suffix) copy(w, base.length - suffix, suffix);
  return w.finish();
}

/** Greedy matching of target[from, to) against base[from, baseTo) by 8-byte grams. */
function matchMiddle(w: ByteWriter, base: Uint8Array, target: Uint8Array, from: number, baseTo: number, to: number): void {
  // The prefix is common: the middles of both start at `from`.
  const grams = new Map<number, number>();
  for (let i = baseTo - MIN_MATCH; i >= from; i--) grams.set(gram(base, i), i); // first occurrence wins
  let pending = from;
  let p = from;
  while (p + MIN_MATCH <= to) {
    const q = grams.size ? grams.get(gram(target, p)) : undefined;
    if (q === undefined || !same(base, q, target, p, MIN_MATCH)) {
      p++;
      continue;
    }
    let len = MIN_MATCH;
    while (p + len < to && q + len < baseTo && base[q + len] === target[p + len]) len++;
    if (p > pending) insert(w, target.subarray(pending, p));
    copy(w, q, len);
    p += len;
    pending = p;
  }
  if (to > pending) insert(w, target.subarray(pending, to));
}

function gram(b: Uint8Array, i: number): number {
  const lo = (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
  const hi = (b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24)) >>> 0;
  return (Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi ^ (hi >>> 15), 0x85ebca6b)) >>> 0;
}

function same(a: Uint8Array, i: number, b: Uint8Array, j: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

function copy(w: ByteWriter, offset: number, length: number): void {
  w.byte(OP_COPY).varint(offset).varint(length);
}

function insert(w: ByteWriter, bytes: Uint8Array): void {
  w.byte(OP_INSERT).varint(bytes.length).bytes(bytes);
}

/** Length of the target a delta declares (its first varint), refused above `max`. */
export function deltaTargetLength(r: ByteReader, max: number): number {
  const n = r.varint();
  if (n > max) throw new FormatError(`delta target of ${n} bytes exceeds ${max}`);
  return n;
}

/**
 * Applies the ops read from `r` (after their target length, read by deltaTargetLength) to `base`,
 * writing exactly `out.length` bytes into `out`. The reader is left after the last op.
 */
export function applyDeltaOps(r: ByteReader, base: Uint8Array, out: Uint8Array): void {
  runOps(r, out.length, base, out);
}

/** Reads past the ops of a `targetLength`-byte target, checking their lengths but not copying (no base at hand). */
export function skipDeltaOps(r: ByteReader, targetLength: number): void {
  runOps(r, targetLength, null, null);
}

function runOps(r: ByteReader, length: number, base: Uint8Array | null, out: Uint8Array | null): void {
  let at = 0;
  while (at < length) {
    const op = r.byte();
    if (op === OP_INSERT) {
      const n = r.varint();
      if (n === 0 || n > length - at) throw new FormatError(`delta insert of ${n} bytes at ${at} of ${length}`);
      const bytes = r.bytes(n);
      out?.set(bytes, at);
      at += n;
    } else if (op === OP_COPY) {
      const offset = r.varint();
      const n = r.varint();
      if (n === 0 || n > length - at) throw new FormatError(`delta copy of ${n} bytes at ${at} of ${length}`);
      if (base && offset + n > base.length) throw new FormatError(`delta copy [${offset}, ${offset + n}) outside a base of ${base.length} bytes`);
      if (base && out) out.set(base.subarray(offset, offset + n), at);
      at += n;
    } else throw new FormatError(`unknown delta op ${op}`);
  }
}

/** A whole delta applied: the target, or FormatError. */
export function applyDelta(base: Uint8Array, delta: Uint8Array, maxTarget = Number.MAX_SAFE_INTEGER): Uint8Array {
  const r = new ByteReader(delta);
  const out = new Uint8Array(deltaTargetLength(r, maxTarget));
  applyDeltaOps(r, base, out);
  r.end("delta");
  return out;
}
