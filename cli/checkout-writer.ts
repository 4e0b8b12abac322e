// A checkout-writer thread's handler (checkout-stage.ts): creates a batch of a first checkout's new
// files in one staging folder, each open(O_CREAT | O_EXCL), write, fstat, close, and answers their
// signatures. Creating 300,000 files is most of a clone's checkout, nearly all of it kernel time:
// on threads, one per part folder (three directories, so their locks do not serialize each other),
// it overlaps with the calling thread reading the next files. A note's or position's file (its
// stored JSON re-indented) is made here too: parse, stringify and UTF-8 of 200,000 files were the
// calling thread's largest cost after the reads.
import { closeSync, constants as fsConstants, openSync, unlinkSync, writeSync } from "node:fs";
import { fstatSig } from "./stat-chunks.mjs";
import { decodeJsonPart, type PartName } from "../engine/core/parts.ts";
import type { PoolHandler } from "../engine/node/worker-pool.ts";
import { ReusedBuffer } from "./reused-buffer.ts";

const CREATE_NEW = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL;

const utf8 = new TextEncoder();

/** A part's file bytes from its stored bytes: an embedding's raw bytes; a note or position as 2-space indented JSON and a newline. */
export function fileBytes(part: PartName, stored: Uint8Array): Uint8Array {
  if (part === "embedding") return stored;
  return utf8.encode(fileText(part, stored));
}

function fileText(part: PartName, stored: Uint8Array): string {
  return JSON.stringify(decodeJsonPart(stored, part), null, 2) + "\n";
}

/** fileBytes into a buffer reused from file to file (valid until the next call; reused-buffer.ts). */
const scratch = new ReusedBuffer(64 * 1024);
function fileBytesScratch(part: PartName, stored: Uint8Array): Uint8Array {
  if (part === "embedding") return stored;
  const end = scratch.encodeAt(fileText(part, stored), 0); // may replace scratch.bytes: read it after
  return scratch.bytes.subarray(0, end);
}

export interface WriteRequest {
  /** The staging folder, with a trailing separator. */
  prefix: string;
  /** The part every file of the batch holds (its files are made from their stored bytes by fileBytes). */
  part: PartName;
  /** File names, checked by the caller. */
  names: string[];
  /** The parts' stored bytes back to back: file i's are data[ends[i - 1] (0 for the first), ends[i]). */
  data: Uint8Array;
  ends: Uint32Array;
  /**
   * Replace a file of that name: a batch retried on the calling thread after its thread died part
   * way through it (the staging folder is this run's alone: that file is one of ours, maybe torn).
   */
  replace?: boolean;
}

/** Per file [size, mtimeMs, ino], in order; and the request's bytes, given back (their buffer is reused). */
export interface WriteAnswer {
  sigs: Float64Array;
  data?: Uint8Array;
}

/** Writes one staged file (a name met twice is a bug: EEXIST) and returns its signature. */
export function writeNew(path: string, bytes: Uint8Array, mode = 0o666): [number, number, number] {
  const fd = openSync(path, CREATE_NEW, mode);
  try {
    for (let n = 0; n < bytes.length; ) n += writeSync(fd, bytes, n, bytes.length - n);
    return fstatSig(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeBatch({ prefix, part, names, data, ends, replace }: WriteRequest): Float64Array {
  const sigs = new Float64Array(3 * names.length);
  let start = 0;
  for (let i = 0; i < names.length; i++) {
    const path = prefix + names[i];
    if (replace) {
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
    }
    const s = writeNew(path, fileBytesScratch(part, data.subarray(start, ends[i])));
    sigs[3 * i] = s[0];
    sigs[3 * i + 1] = s[1];
    sigs[3 * i + 2] = s[2];
    start = ends[i];
  }
  scratch.shrink(); // grown by a huge note: not kept
  return sigs;
}

export const handle: PoolHandler<WriteRequest, WriteAnswer> = (request) => {
  const sigs = writeBatch(request);
  // The bytes go back to the sender (transferred): this thread never holds a batch's buffer past its batch.
  return { result: { sigs, data: request.data }, transfer: [sigs.buffer as ArrayBuffer, request.data.buffer as ArrayBuffer] };
};
