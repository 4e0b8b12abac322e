// The wire framing of push bodies and pull responses: a magic, then length-prefixed sections.
//
//   stream  := "PNS" | version u8 (=1) | section*
//   section := kind u8 | length u32le | payload
//   kinds   := 'J' (0x4a) a JSON object | 'P' (0x50) a pack | 'E' (0x45) end: a JSON object, always last
//
// Readers hold one section at a time, and refuse a section longer than their limit before reading
// it, so neither end ever buffers a whole transfer. A stream without its 'E' section was cut short.
import { ByteWriter, FormatError, fromUtf8, utf8 } from "./bytes.ts";

export const STREAM_MAGIC = new Uint8Array([0x50, 0x4e, 0x53, 0x01]); // "PNS" v1
export const Section = { Json: 0x4a, Pack: 0x50, End: 0x45 } as const;
export type SectionKind = (typeof Section)[keyof typeof Section];

export interface StreamSection {
  kind: SectionKind;
  payload: Uint8Array;
}

export function sectionHeader(kind: SectionKind, length: number): Uint8Array {
  return new ByteWriter(5).byte(kind).u32le(length).finish();
}

export function encodeSection(kind: SectionKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out.set(sectionHeader(kind, payload.length));
  out.set(payload, 5);
  return out;
}

export function jsonSection(kind: typeof Section.Json | typeof Section.End, value: unknown): Uint8Array {
  return encodeSection(kind, utf8(JSON.stringify(value)));
}

export function parseSectionJson(s: StreamSection): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(s.payload));
  } catch {
    throw new FormatError("section is not JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new FormatError("section JSON must be an object");
  return v as Record<string, unknown>;
}

/** Bytes of a section read before the rest of it is allocated (its length is not taken on its word). */
const BYOB_STEP = 1024 * 1024;

export interface StreamReaderOptions {
  /**
   * Read a byte stream with BYOB reads (the Worker's request bodies). Off by default: Node's fetch
   * reports a response cut short as a TypeError on BYOB reads instead of an early end, and the
   * client's pull handles an early end (test/e2e/interrupted.test.ts).
   */
  byob?: boolean;
  /** The most bytes the stream may carry: a read that would go past it throws `overLimit()`. */
  maxBytes?: number;
  overLimit?: () => Error;
}

/**
 * Pulls exact byte counts out of a ReadableStream without holding more than asked for. With
 * `byob`, a byte stream (request bodies in workerd) is read straight into the buffer each read answers: workerd hands a request body over in 4 KiB chunks, and taking them one by one and
 * copying them out was most of the Worker's request handling (docs/design.md, "Packs and frames").
 */
export class StreamReader {
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private byob: ReadableStreamBYOBReader | null = null;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private done = false;
  /** Bytes consumed so far (for transfer accounting). */
  consumed = 0;

  constructor(
    stream: ReadableStream<Uint8Array>,
    private readonly opts: StreamReaderOptions = {},
  ) {
    if (opts.byob) {
      try {
        this.byob = stream.getReader({ mode: "byob" });
      } catch {
        // not a byte stream
      }
    }
    if (!this.byob) this.reader = stream.getReader();
  }

  private checkLimit(total: number): void {
    if (this.opts.maxBytes !== undefined && total > this.opts.maxBytes) throw this.opts.overLimit ? this.opts.overLimit() : new FormatError(`stream longer than ${this.opts.maxBytes} bytes`);
  }

  private async fill(n: number): Promise<boolean> {
    const reader = this.reader!;
    while (this.pendingBytes < n && !this.done) {
      const { done, value } = await reader.read();
      if (done) this.done = true;
      else if (value.length) {
        this.pending.push(value);
        this.pendingBytes += value.length;
        this.checkLimit(this.consumed + this.pendingBytes);
      }
    }
    return this.pendingBytes >= n;
  }

  /** Exactly n bytes, or null at a clean end of stream before any of them. */
  async read(n: number): Promise<Uint8Array | null> {
    if (this.byob) return this.readInto(this.byob, n);
    if (!(await this.fill(n))) {
      if (this.pendingBytes === 0) return null;
      throw new FormatError(`stream ended ${n - this.pendingBytes} bytes early`);
    }
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const head = this.pending[0];
      const take = Math.min(head.length, n - o);
      out.set(head.subarray(0, take), o);
      o += take;
      if (take === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(take);
    }
    this.pendingBytes -= n;
    this.consumed += n;
    return out;
  }

  /**
   * Reads n bytes with BYOB reads (each hands its buffer over and gets it back filled). A section's
   * length is not taken on its word: its first BYOB_STEP bytes are read first, and only once they
   * came is the rest allocated, one buffer the first bytes are copied into (steps joined at the
   * end copied every pack the Worker took once more: ~3% of its ingest).
   */
  private async readInto(reader: ReadableStreamBYOBReader, n: number): Promise<Uint8Array | null> {
    this.checkLimit(this.consumed + n);
    let buffer = new ArrayBuffer(Math.min(n, BYOB_STEP));
    let filled = 0;
    while (filled < n && !this.done) {
      if (filled === buffer.byteLength) {
        const whole = new ArrayBuffer(n);
        new Uint8Array(whole).set(new Uint8Array(buffer));
        buffer = whole;
      }
      // `min` (where supported) lets the stream fill the whole view before answering.
      const view = new Uint8Array(buffer, filled);
      const { done, value } = await (reader.read as (v: Uint8Array, o: { min: number }) => Promise<ReadableStreamReadResult<Uint8Array>>).call(reader, view, { min: view.length });
      if (value) {
        buffer = value.buffer as ArrayBuffer;
        filled += value.byteLength;
      }
      if (done) this.done = true;
    }
    if (filled < n) {
      if (filled === 0) return null;
      throw new FormatError(`stream ended ${n - filled} bytes early`);
    }
    this.consumed += n;
    return new Uint8Array(buffer, 0, n);
  }

  async cancel(): Promise<void> {
    await (this.byob ?? this.reader)!.cancel().catch(() => {});
  }
}

export interface SectionLimits {
  /** Largest section payload accepted, checked before reading it. */
  maxSection: number;
}

/** Sections of a stream, or of a reader made with options (a byte limit). */
export async function* readSections(source: ReadableStream<Uint8Array> | StreamReader, limits: SectionLimits): AsyncGenerator<StreamSection> {
  const reader = source instanceof StreamReader ? source : new StreamReader(source);
  const magic = await reader.read(STREAM_MAGIC.length);
  if (!magic || magic.some((b, i) => b !== STREAM_MAGIC[i])) throw new FormatError("not a penumbra-sync stream (bad magic)");
  for (;;) {
    const head = await reader.read(5);
    if (!head) throw new FormatError("stream ended without its end section");
    const kind = head[0];
    const length = new DataView(head.buffer, head.byteOffset, 5).getUint32(1, true);
    if (kind !== Section.Json && kind !== Section.Pack && kind !== Section.End) throw new FormatError(`unknown section kind ${kind}`);
    if (length > limits.maxSection) throw new SectionTooLargeError(length, limits.maxSection);
    const payload = length === 0 ? new Uint8Array(0) : await reader.read(length);
    if (!payload) throw new FormatError("stream ended inside a section");
    yield { kind: kind as SectionKind, payload };
    if (kind === Section.End) return;
  }
}

export class SectionTooLargeError extends FormatError {
  constructor(readonly length: number, readonly limit: number) {
    super(`section of ${length} bytes exceeds the limit of ${limit}`);
  }
}
