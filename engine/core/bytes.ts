// Byte helpers shared by every codec. Web APIs only: this runs in browsers, Workers and Node.

// Hex is on every hot path (addresses in trees, pack headers, indexes): table lookups and one
// String.fromCharCode per call instead of per-byte string concatenation or parseInt.
const HEX_CODES = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  const h = i.toString(16).padStart(2, "0");
  HEX_CODES[i] = h.charCodeAt(0) | (h.charCodeAt(1) << 8);
}
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;

export function toHex(bytes: Uint8Array): string {
  const codes = new Array<number>(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    const c = HEX_CODES[bytes[i]];
    codes[2 * i] = c & 0xff;
    codes[2 * i + 1] = c >> 8;
  }
  let out = "";
  for (let i = 0; i < codes.length; i += 8192) out += String.fromCharCode.apply(null, codes.slice(i, i + 8192));
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new Error(`not lowercase hex: ${hex.slice(0, 80)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const a = hex.charCodeAt(2 * i);
    const b = hex.charCodeAt(2 * i + 1);
    const hi = a < 128 ? HEX_VALUE[a] : -1;
    const lo = b < 128 ? HEX_VALUE[b] : -1;
    if (hi < 0 || lo < 0) throw new Error(`not lowercase hex: ${hex.slice(0, 80)}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** memcmp order: the order of tree keys. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Strict UTF-8 decode: invalid bytes throw instead of turning into U+FFFD. */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Growable byte buffer for encoders. */
export class ByteWriter {
  private buf: Uint8Array;
  length = 0;
  constructor(initial = 1024) {
    this.buf = new Uint8Array(initial);
  }
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number): this {
    this.reserve(1);
    this.buf[this.length++] = b;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  u32le(v: number): this {
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setUint32(this.length, v, true);
    this.length += 4;
    return this;
  }
  /** Unsigned LEB128, up to 2^53 - 1. */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`varint out of range: ${v}`);
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
    return this;
  }
  /** varint length, then the bytes. */
  lenBytes(b: Uint8Array): this {
    return this.varint(b.length).bytes(b);
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export class FormatError extends Error {
  override name = "FormatError";
}

/** Bounds-checked reader: every decoder fails with FormatError on short or malformed input. */
export class ByteReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  private need(n: number, what: string): void {
    if (n > this.remaining) throw new FormatError(`truncated: ${what} needs ${n} bytes, ${this.remaining} left`);
  }
  byte(): number {
    this.need(1, "byte");
    return this.buf[this.pos++];
  }
  bytes(n: number): Uint8Array {
    this.need(n, "bytes");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u32le(): number {
    this.need(4, "u32");
    const v = new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (i > 0 && b === 0) throw new FormatError("non-minimal varint");
        if (!Number.isSafeInteger(v)) throw new FormatError("varint too large");
        return v;
      }
      scale *= 0x80;
    }
    throw new FormatError("varint too long");
  }
  lenBytes(max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const n = this.varint();
    if (n > max) throw new FormatError(`length ${n} exceeds ${max}`);
    return this.bytes(n);
  }
  end(what: string): void {
    if (this.remaining !== 0) throw new FormatError(`${this.remaining} trailing bytes after ${what}`);
  }
}
