// A scan-pool thread's handler: stats and reads a batch of the vault folder's files
// (readFolderRaw, canonicalForm) and answers with one buffer for all the bytes read.
import { canonicalForm, readFolderRaw, ReadScratch, type FileRead, type FileSig } from "./vault-folder.ts";
import type { PartName } from "../engine/core/parts.ts";
import type { PoolHandler } from "../engine/node/worker-pool.ts";

export interface ScanRequest {
  files: { path: string; part: PartName; cached?: FileSig }[];
}

/** The reads of a batch, in order; the bytes of "read" results back to back in `data`. */
export interface ScanAnswer {
  reads: (Exclude<FileRead, { kind: "read" }> | { kind: "read"; sig: FileSig; rawLength: number; end: number })[];
  data: Uint8Array;
}

/**
 * The thread's buffers, reused from batch to batch: files are read into `scratch` and their
 * canonical bytes written into `answer`, so a batch allocates one buffer (the answer it sends),
 * not two per file (a read and an encoded copy) left for the thread's collector.
 */
const scratch = new ReadScratch();
const encoder = new TextEncoder();
let answer = new Uint8Array(1024 * 1024);
/** Buffers grown past this by one batch are let go after it. */
const KEEP_BYTES = 8 * 1024 * 1024;

/** Room for `n` more bytes after `at` in the answer being built. */
function room(at: number, n: number): void {
  if (at + n <= answer.length) return;
  const grown = new Uint8Array(Math.max(at + n, 2 * answer.length));
  grown.set(answer.subarray(0, at));
  answer = grown;
}

export const handle: PoolHandler<ScanRequest, ScanAnswer> = ({ files }) => {
  let at = 0;
  const reads = files.map((f): ScanAnswer["reads"][number] => {
    const r = readFolderRaw(f.path, f.cached, scratch);
    if (r.kind !== "raw") return r;
    const form = canonicalForm(f.part, r.raw);
    if (typeof form === "string") {
      room(at, form.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
      at += encoder.encodeInto(form, answer.subarray(at)).written;
    } else if (form instanceof Uint8Array) {
      room(at, form.length);
      answer.set(form, at);
      at += form.length;
    } else return { kind: "bad", sig: r.sig, rawLength: r.raw.length, message: form.error };
    return { kind: "read", sig: r.sig, rawLength: r.raw.length, end: at };
  });
  const data = answer.slice(0, at);
  // A batch with a huge file grew the buffers: not kept for the batches after it.
  if (answer.length > KEEP_BYTES) answer = new Uint8Array(1024 * 1024);
  scratch.shrink(KEEP_BYTES);
  return { result: { reads, data }, transfer: [data.buffer as ArrayBuffer] };
};

/** The FileReads of an answer, their bytes as views into its buffer. */
export function unpackScanAnswer(a: ScanAnswer): FileRead[] {
  let start = 0;
  return a.reads.map((r) => {
    if (r.kind !== "read") return r;
    const bytes = a.data.subarray(start, r.end);
    start = r.end;
    return { kind: "read", sig: r.sig, rawLength: r.rawLength, bytes };
  });
}
