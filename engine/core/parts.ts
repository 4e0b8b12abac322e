// The three parts of a note and their blob encodings (docs/design.md, "Blobs").
//   note      canonical JSON of a JSON object
//   embedding raw little-endian float32 bytes; the dimension is recorded in the tree entry
//   position  canonical JSON of a JSON object (the app writes {x, y, z})
import { canonicalBytes, parseJsonObjectBytes, type JsonObject } from "./canonical.ts";

export type PartName = "note" | "embedding" | "position";
export const PART_NAMES: readonly PartName[] = ["note", "embedding", "position"];

/** Note ids as the predecessor used them in R2 keys and the vault folder uses them as file names. */
export const NOTE_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;

export function isNoteId(id: unknown): id is string {
  return typeof id === "string" && NOTE_ID_RE.test(id) && id !== "." && id !== "..";
}

export function assertNoteId(id: unknown): asserts id is string {
  if (!isNoteId(id)) throw new RangeError(`invalid note id ${JSON.stringify(id)}: expected [A-Za-z0-9._-]{1,128}`);
}

export function encodeJsonPart(value: JsonObject): Uint8Array {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new TypeError("a note or position must be a JSON object");
  return canonicalBytes(value);
}

export function decodeJsonPart(bytes: Uint8Array, what: PartName): JsonObject {
  return parseJsonObjectBytes(bytes, what);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Float32 values to their little-endian bytes, bit-exact (NaN payloads and -0 included). */
export function encodeEmbedding(values: Float32Array | readonly number[]): Uint8Array {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  if (LITTLE_ENDIAN) return new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
  const out = new Uint8Array(f.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < f.length; i++) dv.setFloat32(i * 4, f[i], true);
  return out;
}

export function decodeEmbedding(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`embedding length ${bytes.length} is not a multiple of 4`);
  const n = bytes.length / 4;
  if (LITTLE_ENDIAN) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}
