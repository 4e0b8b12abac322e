// Packs: many objects in one file, grouped into independently compressed frames.
//
//   pack   := "PNPK" | version u8 (=1) | headerLength u32le | header | frame data...
//   header := frameCount varint | frame* | objectCount varint | object*
//   frame  := codec u8 (0 stored, 1 gzip, 2 shuffle4+gzip; 3 delta, push wire only) | storedLength varint | rawLength varint
//   object := type u8 | address [32] | frame varint | offset varint | length varint
//
// Frame data follows the header in order; an object is bytes [offset, offset+length) of its
// frame's raw (inflated) bytes. Frames are small (~256 KiB raw) so that one object can be read with
// one ranged read of one frame, while packing neighbours still gives gzip most of its ratio.
// The pack's own name is the SHA-256 of all its bytes (docs/design.md, "Packs").
import { ByteReader, ByteWriter, FormatError, concatBytes, fromHex, toHex } from "./bytes.ts";
import { ADDRESS_BYTES, addressOf, type Address } from "./hash.ts";
import type { Compressor } from "./compress.ts";
import { isObjectType, type ObjectType, type StoredObject } from "./object.ts";

export const PACK_MAGIC = new Uint8Array([0x50, 0x4e, 0x50, 0x4b]); // "PNPK"
export const PACK_VERSION = 1;
export const PACK_PREFIX_BYTES = 9;

/**
 * Shuffle4 groups byte i of every 4-byte word into plane i before gzip: float32 embeddings then
 * compress to ~85% of raw instead of ~93% (docs/design.md). A trailing partial word stays as is.
 */
export const Codec = { Stored: 0, Gzip: 1, Shuffle4Gzip: 2, Delta: 3 } as const;
export type Codec = (typeof Codec)[keyof typeof Codec];

/**
 * Raw bytes per frame. 256 KiB keeps one-object reads cheap (one ranged read, < 1 ms to inflate)
 * while gzip keeps ~96% of the ratio it reaches on a whole pack (measured in docs/design.md).
 */
export const FRAME_TARGET = 256 * 1024;

/** Decoder limits: a hostile pack cannot make a reader allocate more than this. */
export const MAX_FRAME_RAW = 4 * 1024 * 1024;
export const MAX_PACK_OBJECTS = 200_000;
/**
 * Writers close a pack at this many objects, and the Worker refuses more (413): it indexes a pack's
 * object list in one SQLite statement, and SQLite there refuses a string over ~1 MB (~90 bytes an
 * object). Only packs of tiny objects reach it (100,000 positions would otherwise share one pack).
 */
export const PACK_OBJECT_LIMIT = 8192;
export const MAX_PACK_FRAMES = 100_000;
/**
 * Raw bytes a reader inflates from one pack at most (readPack, the Worker's push check): a small
 * hostile pack of many bomb frames cannot cost more memory or CPU than this. Writers close packs at
 * PACK_RAW_TARGET, and honest packs (cut at ~4 MiB after compression) hold ~8-12 MiB raw.
 */
export const MAX_PACK_RAW = 64 * 1024 * 1024;
export const PACK_RAW_TARGET = 32 * 1024 * 1024;
/** DEFLATE codes at most 258 bytes in 2 bits: no gzip frame inflates more than ~1032 x its size. */
const MAX_INFLATE_RATIO = 1032;
/** Gzip header, trailer and stored-block overhead allowed above raw (writers keep a frame stored when gzip does not shrink it). */
const GZIP_SLACK = 1024;

/** A gzip frame whose two lengths no gzip stream can have: refused before anything inflates it. */
export function implausibleGzip(storedLength: number, rawLength: number): string | null {
  if (storedLength > rawLength + GZIP_SLACK) return `a gzip frame of ${storedLength} bytes cannot inflate to only ${rawLength}`;
  if (rawLength > storedLength * MAX_INFLATE_RATIO + GZIP_SLACK) return `a gzip frame of ${storedLength} bytes cannot inflate to ${rawLength}`;
  return null;
}

export interface FrameInfo {
  codec: Codec;
  storedLength: number;
  rawLength: number;
  /** Absolute byte offset of the frame's data in the pack. */
  offset: number;
}

export interface PackObjectInfo {
  type: ObjectType;
  addr: Address;
  frame: number;
  offset: number;
  length: number;
}

export interface PackHeader {
  headerEnd: number;
  frames: FrameInfo[];
  objects: PackObjectInfo[];
}

export function encodePackHeader(frames: readonly Omit<FrameInfo, "offset">[], objects: readonly PackObjectInfo[]): Uint8Array {
  const w = new ByteWriter(64 + frames.length * 8 + objects.length * 40);
  w.varint(frames.length);
  for (const f of frames) w.byte(f.codec).varint(f.storedLength).varint(f.rawLength);
  w.varint(objects.length);
  for (const o of objects) w.byte(o.type).bytes(fromHex(o.addr)).varint(o.frame).varint(o.offset).varint(o.length);
  const header = w.finish();
  const out = new ByteWriter(PACK_PREFIX_BYTES + header.length);
  out.bytes(PACK_MAGIC).byte(PACK_VERSION).u32le(header.length).bytes(header);
  return out.finish();
}

export interface DecodeHeaderOptions {
  /**
   * Accept delta frames (codec 3): only a pushed pack may hold them, and only the Worker's push
   * resolves them (delta-frame.ts) before anything reads the pack. Every other reader refuses them.
   */
  deltaFrames?: boolean;
}

/** Delta frames hold ops and inserted bytes: a few bytes of framing over raw at most, never more. */
const DELTA_SLACK = 1024;

/** Reads the prefix + header. `available` may be a prefix of the pack (streaming readers). */
export function decodePackHeader(available: Uint8Array, opts: DecodeHeaderOptions = {}): PackHeader {
  const r = new ByteReader(available);
  const magic = r.bytes(4);
  for (let i = 0; i < 4; i++) if (magic[i] !== PACK_MAGIC[i]) throw new FormatError("not a pack (bad magic)");
  const version = r.byte();
  if (version !== PACK_VERSION) throw new FormatError(`unsupported pack version ${version}`);
  const headerLength = r.u32le();
  const h = new ByteReader(r.bytes(headerLength));
  const frameCount = h.varint();
  if (frameCount > MAX_PACK_FRAMES) throw new FormatError(`too many frames: ${frameCount}`);
  const frames: FrameInfo[] = [];
  let offset = PACK_PREFIX_BYTES + headerLength;
  for (let i = 0; i < frameCount; i++) {
    const codec = h.byte();
    const delta = codec === Codec.Delta && opts.deltaFrames === true;
    if (codec !== Codec.Stored && codec !== Codec.Gzip && codec !== Codec.Shuffle4Gzip && !delta) throw new FormatError(`unknown frame codec ${codec}`);
    const storedLength = h.varint();
    const rawLength = h.varint();
    if (rawLength > MAX_FRAME_RAW) throw new FormatError(`frame of ${rawLength} bytes exceeds ${MAX_FRAME_RAW}`);
    if (codec === Codec.Stored && storedLength !== rawLength) throw new FormatError("stored frame with two lengths");
    if (delta && storedLength > rawLength + DELTA_SLACK) throw new FormatError(`delta frame of ${storedLength} bytes for ${rawLength}`);
    const implausible = codec === Codec.Stored || delta ? null : implausibleGzip(storedLength, rawLength);
    if (implausible) throw new FormatError(implausible);
    frames.push({ codec, storedLength, rawLength, offset });
    offset += storedLength;
  }
  const objectCount = h.varint();
  if (objectCount > MAX_PACK_OBJECTS) throw new FormatError(`too many objects: ${objectCount}`);
  const objects: PackObjectInfo[] = [];
  for (let i = 0; i < objectCount; i++) {
    const type = h.byte();
    if (!isObjectType(type)) throw new FormatError(`unknown object type ${type}`);
    const addr = toHex(h.bytes(ADDRESS_BYTES));
    const frame = h.varint();
    const off = h.varint();
    const length = h.varint();
    const f = frames[frame];
    if (!f) throw new FormatError(`object in frame ${frame} of ${frameCount}`);
    if (off + length > f.rawLength) throw new FormatError(`object overruns its frame`);
    objects.push({ type, addr, frame, offset: off, length });
  }
  h.end("pack header");
  return { headerEnd: PACK_PREFIX_BYTES + headerLength, frames, objects };
}

/** Total pack length implied by a header. */
export function packLength(h: PackHeader): number {
  const last = h.frames[h.frames.length - 1];
  return last ? last.offset + last.storedLength : h.headerEnd;
}

export async function decodeFrame(codec: Codec, stored: Uint8Array, rawLength: number, c: Compressor): Promise<Uint8Array> {
  if (codec === Codec.Stored) {
    if (stored.length !== rawLength) throw new FormatError("stored frame length mismatch");
    return stored;
  }
  // A delta frame never gets here: decodePackHeader refuses codec 3 unless asked, and the one
  // caller that asks (the Worker's push) resolves it into a stored frame first (delta-frame.ts).
  let raw: Uint8Array;
  try {
    raw = await c.gunzip(stored, rawLength);
  } catch (e) {
    throw new FormatError(`corrupt gzip frame: ${(e as Error).message}`);
  }
  return codec === Codec.Shuffle4Gzip ? unshuffle4(raw) : raw;
}

export function shuffle4(data: Uint8Array): Uint8Array {
  const words = data.length >>> 2;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < words; i++) {
    const o = i << 2;
    out[i] = data[o];
    out[words + i] = data[o + 1];
    out[2 * words + i] = data[o + 2];
    out[3 * words + i] = data[o + 3];
  }
  out.set(data.subarray(words << 2), words << 2);
  return out;
}

export function unshuffle4(data: Uint8Array): Uint8Array {
  const words = data.length >>> 2;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < words; i++) {
    const o = i << 2;
    out[o] = data[i];
    out[o + 1] = data[words + i];
    out[o + 2] = data[2 * words + i];
    out[o + 3] = data[3 * words + i];
  }
  out.set(data.subarray(words << 2), words << 2);
  return out;
}

export interface ReadPackOptions {
  /** Check SHA-256(bytes) === address for every object (plain vaults: both ends do). */
  verifyAddresses: boolean;
}

/** Raw bytes the frames of a pack declare. */
export function packRawLength(h: PackHeader): number {
  return h.frames.reduce((n, f) => n + f.rawLength, 0);
}

/**
 * Decodes a whole pack into its objects, failing on any structural or hash mismatch. Frames are
 * inflated one after the other, and a pack that declares more than MAX_PACK_RAW is refused first:
 * a hostile pack costs at most that much memory.
 */
export async function readPack(pack: Uint8Array, c: Compressor, opts: ReadPackOptions): Promise<StoredObject[]> {
  const h = decodePackHeader(pack);
  if (packLength(h) !== pack.length) throw new FormatError(`pack is ${pack.length} bytes, header says ${packLength(h)}`);
  const rawTotal = packRawLength(h);
  if (rawTotal > MAX_PACK_RAW) throw new FormatError(`pack inflates to ${rawTotal} bytes; at most ${MAX_PACK_RAW}`);
  const raw: Uint8Array[] = [];
  for (const f of h.frames) raw.push(await decodeFrame(f.codec, pack.subarray(f.offset, f.offset + f.storedLength), f.rawLength, c));
  return h.objects.map((o) => {
    const bytes = raw[o.frame].subarray(o.offset, o.offset + o.length);
    if (opts.verifyAddresses && addressOf(bytes) !== o.addr) throw new HashMismatchError(o.addr, addressOf(bytes));
    return { type: o.type, addr: o.addr, bytes };
  });
}

export class HashMismatchError extends Error {
  override name = "HashMismatchError";
  constructor(readonly expected: Address, readonly actual: Address) {
    super(`object ${expected} hashes to ${actual}`);
  }
}

export interface BuiltPack {
  id: Address;
  bytes: Uint8Array;
  objects: PackObjectInfo[];
  rawBytes: number;
}

interface OpenFrame {
  codec: Codec;
  parts: Uint8Array[];
  size: number;
  objects: PackObjectInfo[];
}

/** Frames a pack codes at once (Node's compressor runs four gzips at once on libuv's threads). */
const FRAMES_AT_ONCE = 4;

/**
 * Collects objects into frames by codec: text (note JSON, positions, snapshots) into gzip frames,
 * float32 embeddings into shuffle4+gzip frames, hashes (tree nodes, chunk lists) into stored
 * frames, since gzip cannot shrink SHA-256 output (docs/design.md, measured).
 */
export class PackBuilder {
  private frames: OpenFrame[] = [];
  private open: Partial<Record<Codec, OpenFrame>> = {};
  private seen = new Set<Address>();
  rawBytes = 0;

  constructor(private readonly frameTarget = FRAME_TARGET) {}

  /** Holds PACK_OBJECT_LIMIT objects or PACK_RAW_TARGET raw bytes: finish it and start another. */
  get full(): boolean {
    return this.objectCount >= PACK_OBJECT_LIMIT || this.rawBytes >= PACK_RAW_TARGET;
  }

  get objectCount(): number {
    return this.seen.size;
  }

  has(addr: Address): boolean {
    return this.seen.has(addr);
  }

  /** Adds an object unless this pack already holds it. `true`/`false` mean gzip/stored. */
  add(type: ObjectType, addr: Address, bytes: Uint8Array, compress: boolean | Codec): void {
    if (this.seen.has(addr)) return;
    // Readers refuse larger frames (decompression bombs); never write what cannot be read back.
    if (bytes.length > MAX_FRAME_RAW) throw new RangeError(`object of ${bytes.length} bytes exceeds the ${MAX_FRAME_RAW}-byte frame limit`);
    this.seen.add(addr);
    const codec: Codec = compress === true ? Codec.Gzip : compress === false ? Codec.Stored : compress;
    let f = this.open[codec];
    if (!f || (f.size > 0 && f.size + bytes.length > this.frameTarget)) {
      f = { codec, parts: [], size: 0, objects: [] };
      this.frames.push(f);
      this.open[codec] = f;
    }
    f.objects.push({ type, addr, frame: -1, offset: f.size, length: bytes.length });
    f.parts.push(bytes);
    f.size += bytes.length;
    this.rawBytes += bytes.length;
  }

  async finish(c: Compressor): Promise<BuiltPack> {
    // Frames are coded FRAMES_AT_ONCE at a time, each joined (and shuffled) only when its turn
    // comes: all at once, a pack's every frame was copied before the first was compressed (up
    // to 32 MiB of copies beside the objects themselves; at 100,000 notes a scan's flushes rose
    // ~30 MiB each for it).
    const stored: { codec: Codec; data: Uint8Array[]; length: number; rawLength: number }[] = [];
    for (let i = 0; i < this.frames.length; i += FRAMES_AT_ONCE)
      stored.push(
        ...(await Promise.all(
          this.frames.slice(i, i + FRAMES_AT_ONCE).map(async (f) => {
            // A stored frame's objects go into the pack as they are (joined once, there): an encrypted
            // vault's frames are all stored, and joining each first copied every sealed byte once more.
            if (f.codec === Codec.Stored) return { codec: f.codec, data: f.parts, length: f.size, rawLength: f.size };
            const raw = f.parts.length === 1 ? f.parts[0] : concatBytes(f.parts);
            const gz = f.codec === Codec.Shuffle4Gzip ? await c.gzip(shuffle4(raw), { entropyOnly: true }) : await c.gzip(raw);
            // A frame that gzip cannot shrink is kept as it is.
            return gz.length < raw.length ? { codec: f.codec, data: [gz], length: gz.length, rawLength: f.size } : { codec: Codec.Stored, data: [raw], length: raw.length, rawLength: f.size };
          }),
        )),
      );
    const objects: PackObjectInfo[] = [];
    this.frames.forEach((f, i) => {
      for (const o of f.objects) objects.push({ ...o, frame: i });
    });
    const header = encodePackHeader(
      stored.map((s) => ({ codec: s.codec, storedLength: s.length, rawLength: s.rawLength })),
      objects,
    );
    const bytes = concatBytes([header, ...stored.flatMap((s) => s.data)]);
    return { id: addressOf(bytes), bytes, objects, rawBytes: this.rawBytes };
  }
}
