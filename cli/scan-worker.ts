// A scan-pool thread's handler: stats and reads a batch of the vault folder's files
// (readFolderFile) and answers with one buffer for all the bytes read.
import { readFolderFile, type FileRead, type FileSig } from "./vault-folder.ts";
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

export const handle: PoolHandler<ScanRequest, ScanAnswer> = ({ files }) => {
  const reads = files.map((f) => readFolderFile(f.path, f.part, f.cached));
  let total = 0;
  for (const r of reads) if (r.kind === "read") total += r.bytes.length;
  const data = new Uint8Array(total);
  let at = 0;
  const out = reads.map((r) => {
    if (r.kind !== "read") return r;
    data.set(r.bytes, at);
    at += r.bytes.length;
    return { kind: "read" as const, sig: r.sig, rawLength: r.rawLength, end: at };
  });
  return { result: { reads: out, data }, transfer: [data.buffer as ArrayBuffer] };
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
