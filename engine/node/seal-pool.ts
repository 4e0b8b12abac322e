// Sealing on worker threads: an encrypted vault's initial push seals tens of thousands of objects,
// and DEFLATE + ChaCha20-Poly1305 + two HMACs per object are the encrypted pipeline's main cost.
// The pool spreads batches over the machine's cores; the bytes are those sealObject gives inline
// (sealing is deterministic). Small syncs stay inline: a thread takes ~0.4 s to start, so the
// pool starts only once enough has been sealed to repay it.
import { encodeSealBatch, inlineSealer, splitSealedBatch, useBatchSealer, type BatchSealer, type SealJob, type SealedBatchWire } from "../crypto/seal-batch.ts";
import type { SealKeys } from "../crypto/seal.ts";
import { WorkerPool, threadsBesideMain } from "./worker-pool.ts";
import { handle, type SealRequest } from "./seal-worker.ts";

/**
 * Each thread's young generation (MiB). A batch is 512 KiB in and about as much out, so V8's
 * default (up to 16 MiB semi-spaces) only let each idle isolate keep tens of MiB: an encrypted
 * initial push at 100,000 notes peaked at 525/531 MiB with it and 450/461 with 4 (alternating
 * runs, same CPU within the runs' noise).
 */
const SEAL_YOUNG_MB = 4;

export interface SealPoolOptions {
  /**
   * Worker threads (default: threadsBesideMain, 1-3). The main thread does the other half of
   * every object sealed (hash, stage, pack, send). An encrypted initial push at 100,000 notes on
   * two cores: 366/368 MiB peak with one thread, 377/387 with two, in 43.1/47.2 s against
   * 41.9/50.9 (alternating runs).
   */
  size?: number;
  /**
   * The threads start once this process has sealed this many bytes inline (default 16 MiB, ~0.5 s
   * of sealing): a thread takes ~0.4 s to start, so small syncs never start them and big ones do
   * early on.
   */
  minBytes?: number;
  /** Bytes per message to a thread (default 512 KiB): small enough to keep every thread busy. */
  chunkBytes?: number;
}

export class SealPool implements BatchSealer {
  private readonly pool: WorkerPool<SealRequest, SealedBatchWire>;
  private readonly minBytes: number;
  private readonly chunkBytes: number;
  private sealedInline = 0;

  constructor(opts: SealPoolOptions = {}) {
    this.pool = new WorkerPool(new URL("./seal-worker.ts", import.meta.url), opts.size ?? threadsBesideMain(), "penumbra-seal", { maxYoungGenerationSizeMb: SEAL_YOUNG_MB });
    this.minBytes = opts.minBytes ?? 16 * 1024 * 1024;
    this.chunkBytes = opts.chunkBytes ?? 512 * 1024;
  }

  get size(): number {
    return this.pool.size;
  }

  /** Why the threads were given up (every batch is then sealed inline), or null. */
  get failure(): Error | null {
    return this.pool.failure;
  }

  /** Whether the threads are running (they start once minBytes were sealed inline). */
  get started(): boolean {
    return this.pool.started;
  }

  async seal(keys: SealKeys, jobs: readonly SealJob[]): Promise<Uint8Array[]> {
    if (this.pool.failure || (!this.pool.started && this.sealedInline < this.minBytes)) {
      for (const j of jobs) this.sealedInline += j.bytes.length;
      return inlineSealer.seal(keys, jobs);
    }
    const chunks: SealJob[][] = [];
    let cur: SealJob[] = [];
    let bytes = 0;
    for (const j of jobs) {
      cur.push(j);
      bytes += j.bytes.length;
      if (bytes >= this.chunkBytes) {
        chunks.push(cur);
        cur = [];
        bytes = 0;
      }
    }
    if (cur.length) chunks.push(cur);
    const answers = await Promise.all(
      chunks.map((c) => {
        const batch = encodeSealBatch(c);
        // Transferred, not copied: if the thread dies, the jobs (still here) are sealed again.
        return this.pool.run({ keys, batch }, [batch.data.buffer as ArrayBuffer, batch.ends.buffer as ArrayBuffer], () => handle({ keys, batch: encodeSealBatch(c) }).result);
      }),
    );
    return answers.flatMap(splitSealedBatch);
  }

  /** Stops the threads (a later big batch starts them again). */
  close(): Promise<void> {
    return this.pool.close();
  }
}

let installed: SealPool | null = null;

/** Seals big batches on worker threads from now on (idempotent); returns the pool. */
export function installSealPool(opts?: SealPoolOptions): SealPool {
  if (!installed) {
    installed = new SealPool(opts);
    useBatchSealer(installed);
  }
  return installed;
}
