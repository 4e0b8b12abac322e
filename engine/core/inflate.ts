// A gzip (RFC 1952) / DEFLATE (RFC 1951) decoder that writes into a buffer of the declared length
// and stops at the first byte past it: a decompression bomb costs its declared length in memory and
// about that much CPU, never its real length (docs/security.md). It decodes in one pass, straight
// into the caller's buffer: fflate's streaming inflater, which the Worker fed 4 KiB slices for the
// same bound, reallocated and copied its 32 KiB window on every slice (~3 x slower; docs/design.md).

/** Thrown for any stream that is malformed, truncated or inflates past its declared length. */
export class InflateError extends RangeError {
  override name = "InflateError";
}

const LENGTH_BASE = new Uint16Array([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]);
const LENGTH_EXTRA = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
const DIST_BASE = new Uint16Array([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]);
const DIST_EXTRA = new Uint8Array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);
/** The order in which a dynamic block lists its code-length code lengths. */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const MAX_BITS = 15;

/**
 * A decode table: indexed by the next `bits` input bits (LSB first), each entry is
 * (symbol << 4) | code length; 0 = no code starts with these bits.
 */
interface Table {
  t: Uint16Array;
  bits: number;
}

/**
 * Builds the table of a canonical Huffman code from its code lengths. Refuses over-subscribed
 * codes; incomplete ones decode until an unassigned pattern is met. Answers the entries filled,
 * which the caller charges against its work budget (tiny blocks with 15-bit codes amplify).
 */
function buildTable(lengths: Uint8Array, n: number): Table {
  const count = new Uint16Array(MAX_BITS + 1);
  let maxLen = 0;
  for (let i = 0; i < n; i++) {
    const l = lengths[i];
    count[l]++;
    if (l > maxLen) maxLen = l;
  }
  count[0] = 0;
  const next = new Uint16Array(MAX_BITS + 2);
  let left = 1;
  for (let len = 1, code = 0; len <= MAX_BITS; len++) {
    left = (left << 1) - count[len];
    if (left < 0) throw new InflateError("over-subscribed Huffman code");
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  const bits = Math.max(maxLen, 1);
  const t = new Uint16Array(1 << bits);
  for (let sym = 0; sym < n; sym++) {
    const len = lengths[sym];
    if (!len) continue;
    let code = next[len]++;
    // Codes are stored MSB first; the input is read LSB first: reverse.
    let rev = 0;
    for (let i = 0; i < len; i++, code >>= 1) rev = (rev << 1) | (code & 1);
    const entry = (sym << 4) | len;
    for (let k = rev; k < t.length; k += 1 << len) t[k] = entry;
  }
  return { t, bits };
}

const FIXED_LIT = (() => {
  const l = new Uint8Array(288);
  l.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
  return buildTable(l, 288);
})();
const FIXED_DIST = buildTable(new Uint8Array(30).fill(5), 30);

/**
 * Inflates the raw DEFLATE stream that starts at byte `start` of `src` into `out` from `outStart`.
 * Answers [the byte after the stream, the output length]. `workBudget` bounds the table entries
 * built (each dynamic block builds up to 2 x 32,768).
 */
export function inflateRaw(src: Uint8Array, start: number, out: Uint8Array, outStart: number, workBudget: number): [number, number] {
  const cap = out.length;
  const totalBits = src.length * 8;
  let pos = start * 8;
  let bt = outStart;
  let work = 0;
  // Up to 24 bits from bit `p` (bytes past the end read as 0; callers check pos against totalBits).
  const peek = (p: number) => (src[p >>> 3] | (src[(p >>> 3) + 1] << 8) | (src[(p >>> 3) + 2] << 16)) >>> (p & 7);
  for (;;) {
    if (pos + 3 > totalBits) throw new InflateError("truncated deflate stream");
    const head = peek(pos);
    const final = head & 1;
    const type = (head >>> 1) & 3;
    pos += 3;
    if (type === 0) {
      let s = (pos + 7) >>> 3;
      if (s + 4 > src.length) throw new InflateError("truncated stored block");
      const len = src[s] | (src[s + 1] << 8);
      const nlen = src[s + 2] | (src[s + 3] << 8);
      if ((len ^ 0xffff) !== nlen) throw new InflateError("stored block length check failed");
      s += 4;
      if (s + len > src.length) throw new InflateError("truncated stored block");
      if (bt + len > cap) throw new InflateError(`frame inflates past the ${cap} bytes its header declares`);
      out.set(src.subarray(s, s + len), bt);
      bt += len;
      pos = (s + len) * 8;
    } else if (type === 3) {
      throw new InflateError("invalid deflate block type");
    } else {
      let lit: Table, dist: Table;
      if (type === 1) {
        lit = FIXED_LIT;
        dist = FIXED_DIST;
      } else {
        const h = peek(pos);
        const hlit = (h & 31) + 257;
        const hdist = ((h >>> 5) & 31) + 1;
        const hclen = ((h >>> 10) & 15) + 4;
        pos += 14;
        if (hlit > 286 || hdist > 30) throw new InflateError("too many length or distance codes");
        const clLens = new Uint8Array(19);
        for (let i = 0; i < hclen; i++, pos += 3) clLens[CL_ORDER[i]] = peek(pos) & 7;
        const cl = buildTable(clLens, 19);
        const lens = new Uint8Array(hlit + hdist);
        const clMask = (1 << cl.bits) - 1;
        for (let i = 0; i < lens.length; ) {
          if (pos > totalBits) throw new InflateError("truncated block header");
          const e = cl.t[peek(pos) & clMask];
          if (!e) throw new InflateError("invalid code-length code");
          pos += e & 15;
          const sym = e >>> 4;
          if (sym < 16) {
            lens[i++] = sym;
            continue;
          }
          let rep: number;
          let val = 0;
          if (sym === 16) {
            if (!i) throw new InflateError("repeat with no previous length");
            val = lens[i - 1];
            rep = 3 + (peek(pos) & 3);
            pos += 2;
          } else if (sym === 17) {
            rep = 3 + (peek(pos) & 7);
            pos += 3;
          } else {
            rep = 11 + (peek(pos) & 127);
            pos += 7;
          }
          if (i + rep > lens.length) throw new InflateError("code lengths overrun");
          lens.fill(val, i, i + rep);
          i += rep;
        }
        if (!lens[256]) throw new InflateError("no end-of-block code");
        lit = buildTable(lens.subarray(0, hlit), hlit);
        dist = buildTable(lens.subarray(hlit), hdist);
        work += lit.t.length + dist.t.length;
        if (work > workBudget) throw new InflateError("too many Huffman tables for the data they decode");
      }
      const lt = lit.t;
      const dt = dist.t;
      const lmask = (1 << lit.bits) - 1;
      const dmask = (1 << dist.bits) - 1;
      for (;;) {
        const e = lt[peek(pos) & lmask];
        if (!e) throw new InflateError("invalid literal/length code");
        pos += e & 15;
        const sym = e >>> 4;
        if (sym < 256) {
          if (bt >= cap) throw new InflateError(`frame inflates past the ${cap} bytes its header declares`);
          out[bt++] = sym;
        } else if (sym === 256) {
          break;
        } else {
          const li = sym - 257;
          if (li >= 29) throw new InflateError("invalid length code");
          let len = LENGTH_BASE[li];
          const lx = LENGTH_EXTRA[li];
          if (lx) {
            len += peek(pos) & ((1 << lx) - 1);
            pos += lx;
          }
          const d = dt[peek(pos) & dmask];
          if (!d) throw new InflateError("invalid distance code");
          pos += d & 15;
          const di = d >>> 4;
          if (di >= 30) throw new InflateError("invalid distance code");
          let distance = DIST_BASE[di];
          const dx = DIST_EXTRA[di];
          if (dx) {
            distance += peek(pos) & ((1 << dx) - 1);
            pos += dx;
          }
          if (distance > bt - outStart) throw new InflateError("distance too far back");
          if (bt + len > cap) throw new InflateError(`frame inflates past the ${cap} bytes its header declares`);
          // copyWithin pays off only for long copies; short ones (most matches) copy byte by byte.
          if (len >= 32 && distance >= len) {
            out.copyWithin(bt, bt - distance, bt - distance + len);
            bt += len;
          } else {
            for (const end = bt + len; bt < end; bt++) out[bt] = out[bt - distance];
          }
        }
        // Past the end means truncated input (bytes past it read as zeros).
        if (pos > totalBits) throw new InflateError("truncated deflate stream");
      }
      if (pos > totalBits) throw new InflateError("truncated deflate stream");
    }
    if (final) return [(pos + 7) >>> 3, bt];
  }
}

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/**
 * Inflates a gzip stream (one member or several, back to back) that must come to exactly
 * `rawLength` bytes; each member's CRC-32 and length are checked.
 */
export function gunzipExact(gz: Uint8Array, rawLength: number): Uint8Array {
  const out = new Uint8Array(rawLength);
  // Honest streams build one or two tables per ~16-64 KiB of output; this leaves room for 16 x that.
  const budget = 16 * (rawLength + gz.length) + (1 << 20);
  let pos = 0;
  let n = 0;
  do {
    if (gz.length - pos < 18) throw new InflateError("gzip member too short");
    if (gz[pos] !== 0x1f || gz[pos + 1] !== 0x8b || gz[pos + 2] !== 8) throw new InflateError("not a gzip member");
    const flags = gz[pos + 3];
    if (flags & 0xe0) throw new InflateError("reserved gzip flags set");
    let p = pos + 10;
    if (flags & FEXTRA) p += 2 + (gz[p] | (gz[p + 1] << 8));
    if (flags & FNAME) while (p < gz.length && gz[p++] !== 0);
    if (flags & FCOMMENT) while (p < gz.length && gz[p++] !== 0);
    if (flags & FHCRC) p += 2;
    if (p > gz.length) throw new InflateError("truncated gzip header");
    const memberStart = n;
    [p, n] = inflateRaw(gz, p, out, n, budget);
    if (p + 8 > gz.length) throw new InflateError("truncated gzip trailer");
    const crc = (gz[p] | (gz[p + 1] << 8) | (gz[p + 2] << 16) | (gz[p + 3] << 24)) >>> 0;
    const size = (gz[p + 4] | (gz[p + 5] << 8) | (gz[p + 6] << 16) | (gz[p + 7] << 24)) >>> 0;
    if (size !== (n - memberStart) >>> 0) throw new InflateError("gzip length field does not match the data");
    if (crc !== crc32(out.subarray(memberStart, n))) throw new InflateError("gzip CRC-32 does not match the data");
    pos = p + 8;
  } while (pos < gz.length);
  if (n !== rawLength) throw new InflateError(`frame inflated to ${n} bytes, header says ${rawLength}`);
  return out;
}

/** CRC-32 tables for slicing by 4 (four bytes a step). */
const CRC = (() => {
  const t = new Int32Array(256 * 4);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 4; k++) t[k * 256 + n] = t[(k - 1) * 256 + n] >>> 8 ^ t[t[(k - 1) * 256 + n] & 0xff];
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = -1;
  let i = 0;
  for (const end4 = data.length & ~3; i < end4; i += 4) {
    c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    c = CRC[768 + (c & 0xff)] ^ CRC[512 + ((c >>> 8) & 0xff)] ^ CRC[256 + ((c >>> 16) & 0xff)] ^ CRC[c >>> 24];
  }
  for (; i < data.length; i++) c = CRC[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
