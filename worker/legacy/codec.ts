// What the predecessor's API accepts and answers, item by item: ids, notes, embeddings (number
// arrays or base64 of little-endian float32 bytes), positions; validated strictly, so that bad
// input of any kind is a 4xx before anything is stored (docs/legacy-api.md).
import { CanonicalJsonError, type JsonObject } from "../../engine/core/canonical.ts";
import { encodeJsonPart, isNoteId } from "../../engine/core/parts.ts";
import { ApiError, badRequest } from "../http.ts";

/** Largest embedding: 4,096 float32 values. */
export const MAX_EMBEDDING_BYTES = 16 * 1024;
/** Largest position (canonical JSON): a frame of a pack must stay small, and {x, y, z} is ~50 bytes. */
export const MAX_POSITION_BYTES = 64 * 1024;

export function checkId(id: unknown, where: string): string {
  if (!isNoteId(id)) throw badRequest(`${where}: ${JSON.stringify(id)?.slice(0, 80)} is not an id; ids match [A-Za-z0-9._-]{1,128} (and are not "." or "..")`);
  return id;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A note: any JSON object, as its canonical bytes (what the engine stores). */
export function noteBytes(v: unknown, where: string): Uint8Array {
  if (!isObject(v)) throw badRequest(`${where} must be a JSON object`);
  try {
    return encodeJsonPart(v as JsonObject);
  } catch (e) {
    if (e instanceof CanonicalJsonError || e instanceof TypeError) throw badRequest(`${where}: ${e.message}`);
    throw e;
  }
}

/** A position: a JSON object whose x and y (and z, if present) are numbers; other fields are kept. */
export function positionBytes(v: unknown, where: string): Uint8Array {
  if (!isObject(v)) throw badRequest(`${where} must be a JSON object {x, y, z?}`);
  for (const k of ["x", "y", "z"]) {
    if (k === "z" && !("z" in v)) continue;
    const n = v[k];
    if (typeof n !== "number" || !Number.isFinite(n)) throw badRequest(`${where}.${k} must be a finite number`);
  }
  const bytes = noteBytes(v, where);
  if (bytes.length > MAX_POSITION_BYTES) throw badRequest(`${where} is ${bytes.length} bytes of JSON; at most ${MAX_POSITION_BYTES}`);
  return bytes;
}

/** Raw embedding bytes: a positive multiple of 4, at most 16 KiB. */
export function checkEmbeddingBytes(bytes: Uint8Array, where: string): Uint8Array {
  if (bytes.length === 0 || bytes.length % 4 !== 0 || bytes.length > MAX_EMBEDDING_BYTES)
    throw badRequest(`${where} is ${bytes.length} bytes; an embedding is little-endian float32 values: a positive multiple of 4 bytes, at most ${MAX_EMBEDDING_BYTES}`);
  return bytes;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function fromBase64(s: string): Uint8Array | null {
  if (!BASE64_RE.test(s)) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 4096) bin += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return btoa(bin);
}

/**
 * An embedding from push JSON: an array of numbers (each rounded to the nearest float32, as
 * Float32Array does; a number beyond float32's range is refused rather than turned into
 * Infinity) or a string, the standard base64 (with padding) of its little-endian float32 bytes.
 * JSON has no NaN or Infinity: such values travel only as base64 (or raw bytes on PUT).
 */
export function embeddingBytes(v: unknown, where: string): Uint8Array {
  if (typeof v === "string") {
    const bytes = fromBase64(v);
    if (!bytes) throw badRequest(`${where} is a string but not standard base64 (A-Z a-z 0-9 + /, padded with =)`);
    return checkEmbeddingBytes(bytes, where);
  }
  if (!Array.isArray(v)) throw badRequest(`${where} must be an array of numbers or a base64 string`);
  if (v.length === 0 || v.length * 4 > MAX_EMBEDDING_BYTES) throw badRequest(`${where} has ${v.length} values; 1 to ${MAX_EMBEDDING_BYTES / 4}`);
  const f = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== "number")
      throw badRequest(`${where}[${i}] is ${x === null ? "null" : typeof x}, not a number (JSON cannot carry NaN or Infinity: send such embeddings as base64)`);
    f[i] = x;
    if (!Number.isFinite(f[i])) throw badRequest(`${where}[${i}] = ${x} is beyond the range of float32`);
  }
  return new Uint8Array(f.buffer);
}

/**
 * Float32 values as a JSON array, exact: every finite float32 is written in the shortest form
 * that parses back to the same double (so Float32Array gives the same bits), -0 as "-0" (which
 * JSON.stringify would write as 0). NaN and +-Infinity have no JSON form: written as null (as
 * JSON.stringify does); `nonFinite` tells the caller.
 */
export function floatsJson(f: Float32Array): { text: string; nonFinite: boolean } {
  let text = "[";
  let nonFinite = false;
  for (let i = 0; i < f.length; i++) {
    if (i) text += ",";
    const x = f[i];
    if (x !== x || x === Infinity || x === -Infinity) {
      text += "null";
      nonFinite = true;
    } else if (x === 0 && 1 / x < 0) text += "-0";
    else text += String(x);
  }
  return { text: text + "]", nonFinite };
}

export function littleEndianFloats(bytes: Uint8Array): Float32Array {
  // Workers run on little-endian hosts; the copy also aligns the buffer.
  return new Float32Array(bytes.slice().buffer);
}

// ---- content types ------------------------------------------------------------------------------

function mediaType(request: Request): string | null {
  const ct = request.headers.get("content-type");
  if (ct === null) return null;
  return ct.split(";")[0].trim().toLowerCase();
}

/**
 * JSON bodies: application/json (or any +json type), text/plain (what fetch sends for a string
 * body without a content type), or no content type at all. Anything else is 415.
 */
export function requireJsonType(request: Request): void {
  const t = mediaType(request);
  if (t === null || t === "" || t === "application/json" || t.endsWith("+json") || t === "text/plain") return;
  throw new ApiError(415, "unsupported_media_type", `this route takes a JSON body (Content-Type: application/json), not ${t}`);
}

/** Raw embedding bytes: application/octet-stream (or no content type). */
export function requireOctetType(request: Request): void {
  const t = mediaType(request);
  if (t === null || t === "" || t === "application/octet-stream") return;
  throw new ApiError(415, "unsupported_media_type", `an embedding is raw little-endian float32 bytes (Content-Type: application/octet-stream), not ${t}`);
}
