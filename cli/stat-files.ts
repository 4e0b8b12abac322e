// Stats many files at once, on the calling thread and (for big batches) on plain-JS threads beside
// it, the way git's preload-index spreads lstat over threads: a no-op scan of 300,000 files is
// ~300,000 stat calls (~3 us each in Node, ~2 us of it in the kernel) and nothing else, so the wall
// time divides by the cores. Paths come as groups (a folder prefix, names, a suffix: the threads
// build each path as they go, so 300,000 full paths are never held), each path's answer is
// [size, mtimeMs, ino, kind] at 4 x its index (over the groups in order) of a Float64Array.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

import { shareNames, statChunks } from "./stat-chunks.mjs";

/** `kind` of a stat answer. */
export { STAT_MISSING, STAT_FILE, STAT_OTHER } from "./stat-chunks.mjs";

export interface StatFilesOptions {
  /** Threads beside the calling one (default: cores - 1, at most 3). */
  threads?: number;
  /** Fewer paths than this are stat'ed on the calling thread alone (default 20,000). */
  minParallel?: number;
  /** Whether the calling thread takes chunks too (default true; false lets a test see the threads' answers alone). */
  callerStats?: boolean;
}

/** Paths a thread takes at a time. */
const CHUNK = 1024;

export interface PathGroup {
  prefix: string;
  names: readonly string[];
  suffix: string;
}

/** Chunks are numbered over the groups: chunk c covers paths [c x CHUNK, (c + 1) x CHUNK) of one group (groups start on a chunk). */
function chunkStarts(groups: readonly PathGroup[]): number[] {
  const firstChunk: number[] = [];
  let c = 0;
  for (const g of groups) {
    firstChunk.push(c);
    c += Math.ceil(g.names.length / CHUNK);
  }
  firstChunk.push(c);
  return firstChunk;
}

/**
 * Stats every path (following symlinks, as readFolderFile does). A thread that fails to start or
 * dies leaves its chunks to the others: the calling thread takes chunks until none is left, and
 * a chunk a dead thread had taken is stat'ed again here.
 */
export async function statFiles(groups: readonly PathGroup[], opts: StatFilesOptions = {}): Promise<Float64Array> {
  const total = groups.reduce((n, g) => n + g.names.length, 0);
  const threads = total < (opts.minParallel ?? 20_000) ? 0 : (opts.threads ?? Math.min(3, availableParallelism() - 1));
  const firstChunk = chunkStarts(groups);
  const out = new SharedArrayBuffer(total * 4 * 8);
  const counter = new SharedArrayBuffer(4);
  const sigs = new Float64Array(out);
  const next = new Int32Array(counter);
  const meta = groups.map((g) => ({ prefix: g.prefix, count: g.names.length, suffix: g.suffix }));
  const nameAt = (g: number, i: number) => groups[g].names[i];
  if (threads <= 0) {
    statChunks(meta, nameAt, firstChunk, CHUNK, sigs, next);
    return sigs;
  }
  const names = shareNames(groups);
  const groupStarts: number[] = [];
  meta.reduce((n, g) => (groupStarts.push(n), n + g.count), 0);
  let died = false;
  const done = Array.from({ length: threads }, () => {
    const w = new Worker(new URL("./stat-worker.mjs", import.meta.url), { execArgv: [], workerData: { groups: meta, groupStarts, names, firstChunk, counter, out, chunk: CHUNK } });
    return new Promise<void>((resolve) => {
      let finished = false;
      w.once("message", () => {
        finished = true;
        resolve();
      });
      w.once("exit", () => {
        if (!finished) died = true; // an error, or killed: its chunks are done again below
        resolve();
      });
      w.once("error", () => {});
    });
  });
  if (opts.callerStats ?? true) statChunks(meta, nameAt, firstChunk, CHUNK, sigs, next);
  await Promise.all(done);
  if (died) {
    // Which chunks a dead thread left half done is unknown: stat everything again here.
    next[0] = 0;
    statChunks(meta, nameAt, firstChunk, CHUNK, sigs, next);
  }
  return sigs;
}
