// Reading the vault folder on worker threads: stat, read and canonical JSON for every file cost
// ~100 us a note on one core, the largest part of the CLI's pipeline. Batches of files go to the
// threads and their results come back in scan order; the vault (staging, addresses, the stat
// cache) stays on the main thread. Used only for big scans: a thread takes ~0.4 s to start.
import { WorkerPool, threadsBesideMain } from "../engine/node/worker-pool.ts";
import { inlineReader, type FileRead, type FolderFile, type FolderReader } from "./vault-folder.ts";
import { preferSpeed } from "./heap-mode.ts";
import { handle, unpackScanAnswer, type ScanAnswer, type ScanRequest } from "./scan-worker.ts";

export interface ScanPoolOptions {
  /**
   * Reading threads (default: threadsBesideMain, 1-3). The main thread does the scan's other half
   * for every file a thread reads (hash, stage, pack, send), and each thread's isolate holds the
   * answers that staged objects still view. An initial push at 100,000 notes here (2 cores):
   * 278/287 MiB peak with one thread, 305/322 with two, in 75-76 against 76-80 s (alternating runs).
   */
  size?: number;
  /** Files per message (default 256). */
  batch?: number;
  /** Messages in flight (default 4 per thread): enough to keep the threads busy, a bounded memory. */
  inFlight?: number;
  /**
   * Scans with fewer files to read (without a stat-cache row) stay on the main thread (default
   * 15,000, ~5,000 notes: measured in a fresh process, where the threads' start counts, 2,000 notes
   * scanned in 1.36 s inline and 1.62 s on threads, 5,000 in 2.67 and 2.60 s). A scan that only
   * stats gains nothing on threads: a no-op of 300,000 files took 4.7-6.0 s on threads and 5.6-6.5 s
   * inline here.
   */
  minReads?: number;
}

/**
 * A scan thread's young generation (MiB). A file's parsed JSON dies with the file: V8's default
 * young generation (up to 48 MiB) only held more garbage. An initial push at 100,000 notes peaked
 * at 501-503 MiB with 4 MiB, 512-534 MiB with the default, at the same CPU (alternating runs).
 */
const SCAN_YOUNG_MB = 4;

export class ScanPool implements FolderReader {
  private readonly pool: WorkerPool<ScanRequest, ScanAnswer>;
  private readonly batch: number;
  private readonly inFlight: number;
  private readonly minReads: number;

  constructor(opts: ScanPoolOptions = {}) {
    this.pool = new WorkerPool(new URL("./scan-worker.ts", import.meta.url), opts.size ?? threadsBesideMain(), "penumbra-scan", { maxYoungGenerationSizeMb: SCAN_YOUNG_MB });
    this.batch = opts.batch ?? 256;
    this.inFlight = opts.inFlight ?? 4 * this.pool.size;
    this.minReads = opts.minReads ?? 15_000;
  }

  get started(): boolean {
    return this.pool.started;
  }

  get failure(): Error | null {
    return this.pool.failure;
  }

  async *read(files: readonly FolderFile[], expectedReads?: number): AsyncIterable<FileRead> {
    const uncached = expectedReads ?? files.reduce((n, f) => (f.cached ? n : n + 1), 0);
    if (uncached < this.minReads) return yield* inlineReader.read(files);
    preferSpeed();
    const requests: ScanRequest["files"][] = [];
    for (let i = 0; i < files.length; i += this.batch)
      requests.push(
        files.slice(i, i + this.batch).map((f) => ({ path: f.path, part: f.part, cached: f.cached })),
      );
    const send = (r: ScanRequest["files"]) => {
      // If a thread dies, its batch is read here, by the same handler.
      const p = this.pool.run({ files: r }, [], () => handle({ files: r }).result);
      p.catch(() => {}); // awaited in order below; an error meanwhile is not "unhandled"
      return p;
    };
    const queue: Promise<ScanAnswer>[] = [];
    let next = 0;
    while (next < requests.length && queue.length < this.inFlight) queue.push(send(requests[next++]));
    while (queue.length) {
      const answer = await queue.shift()!;
      if (next < requests.length) queue.push(send(requests[next++]));
      yield* unpackScanAnswer(answer);
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /**
   * Stops the threads after a scan (the next big scan starts them again, ~20 ms bundled): each is
   * a V8 isolate of ~40 MiB, which an initial push would otherwise keep through its commit and upload.
   */
  release(): Promise<void> {
    return this.pool.close();
  }
}
