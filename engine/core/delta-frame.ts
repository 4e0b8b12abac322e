// Delta frames: tree nodes on the push wire as deltas against nodes the server already holds.
//
//   delta frame (codec 3) := segment*                    (the frame's stored bytes)
//   segment := 0x00 | length varint | bytes               bytes of the raw frame, as they are
//            | 0x01 | base address [32] | delta           an object of the vault with a delta (delta.ts) applied
//
// The raw frame is the segments' outputs in order and must be exactly the frame's declared raw
// length. Only pushes carry delta frames, only in plain vaults, and the Worker resolves them before
// anything else reads the pack: each frame is rewritten stored (codec 0) with the same raw bytes,
// so the pack it checks and stores, and its id, are the client's local pack byte for byte.
// A client makes them only from stored frames (tree nodes and chunk lists), so that rewrite is
// exact. Why: one edited note rewrites one node per level, and each node differs from the node it
// replaces by one address; scattered edits otherwise send ~1.4 KB per leaf (docs/design.md,
// "Delta frames").
import { ByteReader, ByteWriter, FormatError, concatBytes, fromHex, toHex } from "./bytes.ts";
import { applyDeltaOps, deltaTargetLength, encodeDelta, skipDeltaOps } from "./delta.ts";
import { ADDRESS_BYTES, type Address } from "./hash.ts";
import { ObjectType } from "./object.ts";
import { Codec, decodePackHeader, encodePackHeader, type FrameInfo, type PackHeader, type PackObjectInfo } from "./pack.ts";

const SEG_LITERAL = 0x00;
const SEG_DELTA = 0x01;
/** Segment framing a delta must beat to be worth sending: tag, base address, the literal's own framing. */
const DELTA_OVERHEAD = 1 + ADDRESS_BYTES;

export interface DeltaBase {
  addr: Address;
  bytes: Uint8Array;
}

/** The object the server holds that `bytes` (an object of the pack) is best sent against, or null. */
export type BaseFinder = (object: PackObjectInfo, bytes: Uint8Array) => Promise<DeltaBase | null>;

/**
 * The pack with each stored frame that deltas shrink rewritten as a delta frame (tree nodes only
 * get a base). Answers the pack itself when no frame shrinks.
 */
export async function encodeWirePack(pack: Uint8Array, baseFor: BaseFinder): Promise<Uint8Array> {
  const h = decodePackHeader(pack);
  const byFrame: PackObjectInfo[][] = h.frames.map(() => []);
  for (const o of h.objects) byFrame[o.frame].push(o);
  const frames: Omit<FrameInfo, "offset">[] = [];
  const data: Uint8Array[] = [];
  let changed = false;
  for (let i = 0; i < h.frames.length; i++) {
    const f = h.frames[i];
    const stored = pack.subarray(f.offset, f.offset + f.storedLength);
    const delta = f.codec === Codec.Stored ? await deltaFrame(stored, byFrame[i], baseFor) : null;
    if (delta && delta.length < stored.length) {
      frames.push({ codec: Codec.Delta, storedLength: delta.length, rawLength: f.rawLength });
      data.push(delta);
      changed = true;
    } else {
      frames.push(f);
      data.push(stored);
    }
  }
  return changed ? concatBytes([encodePackHeader(frames, h.objects), ...data]) : pack;
}

/** A stored frame as segments, or null when no object in it got a delta worth its framing. */
async function deltaFrame(raw: Uint8Array, objects: PackObjectInfo[], baseFor: BaseFinder): Promise<Uint8Array | null> {
  const sorted = [...objects].sort((a, b) => a.offset - b.offset);
  const w = new ByteWriter(1024);
  let literalFrom = 0; // raw bytes not yet written, up to the next delta
  let at = 0;
  let deltas = 0;
  for (const o of sorted) {
    if (o.offset < at) return null; // overlapping objects: not a frame this writer made; send it as it is
    at = o.offset + o.length;
    if (o.type !== ObjectType.Tree) continue;
    const bytes = raw.subarray(o.offset, at);
    const base = await baseFor(o, bytes);
    if (!base) continue;
    const d = encodeDelta(base.bytes, bytes);
    if (d.length + DELTA_OVERHEAD >= bytes.length) continue;
    literal(w, raw.subarray(literalFrom, o.offset));
    w.byte(SEG_DELTA).bytes(fromHex(base.addr)).bytes(d);
    literalFrom = at;
    deltas++;
  }
  if (!deltas) return null;
  literal(w, raw.subarray(literalFrom));
  return w.finish();
}

function literal(w: ByteWriter, bytes: Uint8Array): void {
  if (bytes.length) w.byte(SEG_LITERAL).varint(bytes.length).bytes(bytes);
}

/** Does the pack hold a delta frame (and so need resolving before it is read)? */
export function hasDeltaFrames(h: PackHeader): boolean {
  return h.frames.some((f) => f.codec === Codec.Delta);
}

/** The bases the delta frames of a pushed pack name, each once, in order of first use. */
export function deltaBases(pack: Uint8Array, h: PackHeader): Address[] {
  const out = new Set<Address>();
  for (const f of h.frames) {
    if (f.codec !== Codec.Delta) continue;
    readSegments(pack.subarray(f.offset, f.offset + f.storedLength), f.rawLength, (addr, r, length) => {
      out.add(addr);
      skipDeltaOps(r, length);
    });
  }
  return [...out];
}

/**
 * The pack as it is stored: each delta frame resolved against `bases` (address -> bytes, checked by
 * the caller) and written stored. FormatError on a malformed frame, an unknown base, or a frame
 * whose segments do not make exactly its declared raw length.
 */
export function resolveWirePack(pack: Uint8Array, h: PackHeader, bases: ReadonlyMap<Address, Uint8Array>): Uint8Array {
  const frames: Omit<FrameInfo, "offset">[] = [];
  const data: Uint8Array[] = [];
  for (const f of h.frames) {
    const stored = pack.subarray(f.offset, f.offset + f.storedLength);
    if (f.codec !== Codec.Delta) {
      frames.push(f);
      data.push(stored);
      continue;
    }
    const raw = new Uint8Array(f.rawLength);
    readSegments(stored, f.rawLength, (addr, r, length, at) => {
      const base = bases.get(addr);
      if (!base) throw new FormatError(`delta base ${addr} is not available`);
      applyDeltaOps(r, base, raw.subarray(at, at + length));
    }, (bytes, at) => raw.set(bytes, at));
    frames.push({ codec: Codec.Stored, storedLength: f.rawLength, rawLength: f.rawLength });
    data.push(raw);
  }
  const out = concatBytes([encodePackHeader(frames, h.objects), ...data]);
  decodePackHeader(out); // the resolved pack is an ordinary one
  return out;
}

/** Walks a delta frame's segments; each must fit in what is left of the raw frame, and they must fill it. */
function readSegments(
  stored: Uint8Array,
  rawLength: number,
  onDelta: (base: Address, r: ByteReader, length: number, at: number) => void,
  onLiteral?: (bytes: Uint8Array, at: number) => void,
): void {
  const r = new ByteReader(stored);
  let at = 0;
  while (r.remaining) {
    const tag = r.byte();
    if (tag === SEG_LITERAL) {
      const n = r.varint();
      if (n === 0 || n > rawLength - at) throw new FormatError(`delta frame literal of ${n} bytes at ${at} of ${rawLength}`);
      const bytes = r.bytes(n); // read even when no one wants it: `onLiteral?.(r.bytes(n))` would skip the read
      onLiteral?.(bytes, at);
      at += n;
    } else if (tag === SEG_DELTA) {
      const addr = toHex(r.bytes(ADDRESS_BYTES));
      const n = deltaTargetLength(r, rawLength - at);
      if (n === 0) throw new FormatError("empty delta segment");
      onDelta(addr, r, n, at);
      at += n;
    } else throw new FormatError(`unknown delta frame segment ${tag}`);
  }
  if (at !== rawLength) throw new FormatError(`delta frame makes ${at} bytes; its header says ${rawLength}`);
}
