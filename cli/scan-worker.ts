// A scan-pool thread's handler: stats and reads a batch of the vault folder's files
// (readFolderRaw, canonicalForm) and answers with one buffer for all the bytes read.
import { canonicalForm, readFolderRaw, type FileRead, type FileSig } from "./vault-folder.ts";
import { ReusedBuffer } from "./reused-buffer.ts";
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
const scratch = new ReusedBuffer(64 * 1024);
const answer = new ReusedBuffer(1024 * 1024);

export const handle: PoolHandler<ScanRequest, ScanAnswer> = ({ files }) => {
  let at = 0;
  const reads = files.map((f): ScanAnswer["reads"][number] => {
    const r = readFolderRaw(f.path, f.cached, scratch);
    if (r.kind !== "raw") return r;
    const form = canonicalForm(f.part, r.raw);
    if (typeof form === "string") at = answer.encodeAt(form, at);
    else if (form instanceof Uint8Array) {
      answer.fit(at + form.length, at).set(form, at);
      at += form.length;
    } else return { kind: "bad", sig: r.sig, rawLength: r.raw.length, message: form.error };
    return { kind: "read", sig: r.sig, rawLength: r.raw.length, end: at };
  });
  const data = answer.bytes.slice(0, at);
  answer.shrink();
  scratch.shrink();
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
