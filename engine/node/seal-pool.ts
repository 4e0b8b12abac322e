// Sealing on worker threads: an encrypted vault's initial push seals tens of thousands of objects,
// and DEFLATE + ChaCha20-Poly1305 + two HMACs per object are the encrypted pipeline's main cost.
// The pool spreads batches over the machine's cores; the bytes are those sealObject gives inline
// (sealing is deterministic). Small batches stay inline: a worker takes ~0.4 s to start (tsx
// compiles its sources), so the pool starts only when a batch is big enough to repay it.
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { encodeSealBatch, inlineSealer, sealWireBatch, splitSealedBatch, useBatchSealer, type BatchSealer, type SealJob, type SealedBatchWire } from "../crypto/seal-batch.ts";
import type { SealKeys } from "../crypto/seal.ts";
import type { SealRequest } from "./seal-worker.ts";

export interface SealPoolOptions {
  /** Worker threads (default: the cores available, at most 4). */
  size?: number;
  /** Batches with fewer plaintext bytes than this are sealed inline (default 2 MiB). */
  minBytes?: number;
  /** Bytes per message to a worker (default 512 KiB): small enough to keep every worker busy. */
  chunkBytes?: number;
}

type Answer = { id: number; ok: true; sealed: SealedBatchWire } | { id: number; ok: false; error: { name: string; message: string } };
type Pending = { keys: SealKeys; jobs: SealJob[]; resolve: (s: SealedBatchWire) => void; reject: (e: Error) => void };

/** An error a seal worker threw while sealing (its original name and message). */
export class SealWorkerError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export class SealPool implements BatchSealer {
  readonly size: number;
  private readonly minBytes: number;
  private readonly chunkBytes: number;
  private workers: Worker[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private turn = 0;
  /** Set when a worker died: its batches and every later one are sealed inline (same bytes, one core). */
  private broken: Error | null = null;

  constructor(opts: SealPoolOptions = {}) {
    this.size = Math.max(1, Math.min(4, opts.size ?? availableParallelism()));
    this.minBytes = opts.minBytes ?? 2 * 1024 * 1024;
    this.chunkBytes = opts.chunkBytes ?? 512 * 1024;
  }

  /** Why the threads were given up (every batch is then sealed inline), or null. */
  get failure(): Error | null {
    return this.broken;
  }

  /** Whether the worker threads are running (they start at the first big batch). */
  get started(): boolean {
    return this.workers.length > 0;
  }

  async seal(keys: SealKeys, jobs: readonly SealJob[]): Promise<Uint8Array[]> {
    let total = 0;
    for (const j of jobs) total += j.bytes.length;
    if (this.broken || total < this.minBytes) return inlineSealer.seal(keys, jobs);
    this.start();
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
    const answers = await Promise.all(chunks.map((c) => this.send(keys, c)));
    return answers.flatMap(splitSealedBatch);
  }

  private start(): void {
    if (this.workers.length) return;
    for (let i = 0; i < this.size; i++) {
      // No inherited flags (`-e`, `--input-type`, ... would break the worker): its entry loads what it needs.
      const w = new Worker(new URL("./seal-worker.mjs", import.meta.url), { name: `penumbra-seal-${i}`, execArgv: [] });
      w.on("message", (m: Answer) => this.settle(m));
      w.on("error", (e) => this.fail(e));
      w.on("exit", (code) => {
        if (this.workers.includes(w)) this.fail(new Error(`a seal worker exited (code ${code})`));
      });
      w.unref(); // idle workers never keep the process alive; send() refs while a batch is out
      this.workers.push(w);
    }
  }

  private send(keys: SealKeys, jobs: SealJob[]): Promise<SealedBatchWire> {
    const batch = encodeSealBatch(jobs);
    if (this.broken) return Promise.resolve(sealWireBatch(keys, batch));
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length];
    return new Promise<SealedBatchWire>((resolve, reject) => {
      this.pending.set(id, { keys, jobs, resolve, reject });
      if (this.pending.size === 1) for (const x of this.workers) x.ref();
      // Transferred, not copied: if the worker dies, the jobs (still here) are sealed again.
      const msg: SealRequest = { id, keys, batch };
      w.postMessage(msg, [batch.data.buffer as ArrayBuffer, batch.ends.buffer as ArrayBuffer]);
    });
  }

  private settle(m: Answer): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) for (const x of this.workers) x.unref();
    if (m.ok) p.resolve(m.sealed);
    else p.reject(new SealWorkerError(m.error.name, m.error.message));
  }

  /** A worker died (not a sealing error: those come back as answers): finish its batches here. */
  private fail(e: Error): void {
    this.broken ??= e;
    const workers = this.workers;
    this.workers = [];
    for (const w of workers) void w.terminate();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      try {
        p.resolve(sealWireBatch(p.keys, encodeSealBatch(p.jobs)));
      } catch (err) {
        p.reject(err as Error);
      }
    }
  }

  /** Stops the worker threads (a later big batch starts them again). */
  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
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
