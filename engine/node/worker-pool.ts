// Worker threads for CPU-bound batches (sealing, reading and hashing a folder): requests go round
// robin, answers come back by id. A thread that dies is not replaced: its requests, and every later
// one, run on the calling thread through the caller's fallback (same results, one core). Idle
// threads never keep the process alive. Threads start at the first request: under tsx each takes
// ~0.4 s to start, so callers send work only when there is enough of it.
import { Worker, type ResourceLimits, type Transferable } from "node:worker_threads";
import { availableParallelism } from "node:os";

/** What a pool thread's module exports (pool-worker.mjs calls it for every request). */
export type PoolHandler<Req, Res> = (request: Req) => { result: Res; transfer: Transferable[] };

/** An error the handler threw on a pool thread (its original name and message). */
export class PoolTaskError extends Error {
  constructor(name: string, message: string, readonly code?: string) {
    super(message);
    this.name = name;
  }
}

type Answer<Res> = { id: number; ok: true; result: Res } | { id: number; ok: false; error: { name: string; message: string; code?: string } };
type Pending<Res> = { fallback: () => Res; resolve: (r: Res) => void; reject: (e: Error) => void };

/**
 * Threads for work the main thread does the other half of (reading a scan's files, sealing its
 * objects): one fewer than the cores, at least one, at most three. On two cores a second thread
 * only competed with the main thread, and each is an isolate with its own heap and allocator arena
 * (measurements: cli/scan-pool.ts, seal-pool.ts).
 */
export function threadsBesideMain(cores = availableParallelism()): number {
  return Math.max(1, Math.min(3, cores - 1));
}

export class WorkerPool<Req, Res> {
  private workers: Worker[] = [];
  private pending = new Map<number, Pending<Res>>();
  private nextId = 1;
  private turn = 0;
  private broken: Error | null = null;

  /** `module`: a TypeScript module exporting `handle: PoolHandler<Req, Res>`; `limits`: each thread's heap limits. */
  constructor(private readonly module: URL, readonly size: number, private readonly name: string, private readonly limits?: ResourceLimits) {}

  /** Why the threads were given up (every request then runs on the calling thread), or null. */
  get failure(): Error | null {
    return this.broken;
  }

  get started(): boolean {
    return this.workers.length > 0;
  }

  /**
   * Runs `request` on a thread (round robin, or thread number `thread`: a caller that keeps each
   * thread to one kind of work); `fallback` computes the same result here if the thread dies.
   */
  run(request: Req, transfer: Transferable[], fallback: () => Res, thread?: number): Promise<Res> {
    if (this.broken) return new Promise((resolve) => resolve(fallback()));
    this.start();
    const id = this.nextId++;
    const w = this.workers[(thread ?? this.turn++) % this.workers.length];
    return new Promise<Res>((resolve, reject) => {
      this.pending.set(id, { fallback, resolve, reject });
      if (this.pending.size === 1) for (const x of this.workers) x.ref();
      w.postMessage({ id, request }, transfer);
    });
  }

  private start(): void {
    if (this.workers.length) return;
    for (let i = 0; i < this.size; i++) {
      // No inherited flags (`-e`, `--input-type`, ... would break the thread): its entry loads what it needs.
      const w = new Worker(new URL("./pool-worker.mjs", import.meta.url), { name: `${this.name}-${i}`, execArgv: [], workerData: { module: this.module.href }, resourceLimits: this.limits });
      w.on("message", (m: Answer<Res>) => this.settle(m));
      w.on("error", (e) => this.fail(e));
      w.on("exit", (code) => {
        if (this.workers.includes(w)) this.fail(new Error(`a ${this.name} thread exited (code ${code})`));
      });
      w.unref(); // idle threads never keep the process alive; run() refs them while a request is out
      this.workers.push(w);
    }
  }

  private settle(m: Answer<Res>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) for (const x of this.workers) x.unref();
    if (m.ok) p.resolve(m.result);
    else p.reject(new PoolTaskError(m.error.name, m.error.message, m.error.code));
  }

  /** A thread died (not a task's error: those come back as answers): finish its requests here. */
  private fail(e: Error): void {
    this.broken ??= e;
    const workers = this.workers;
    this.workers = [];
    for (const w of workers) void w.terminate();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      try {
        p.resolve(p.fallback());
      } catch (err) {
        p.reject(err as Error);
      }
    }
  }

  /** Stops the threads (a later request starts them again). */
  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
