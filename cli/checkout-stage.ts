// The first checkout of a part folder (a clone: `notes/`, `embeddings/` or `positions/` empty and
// without a single checkout row) writes its files into a staging folder inside the state folder and
// then renames that folder over the empty part folder, once, instead of giving each file a temp
// file and a rename of its own (docs/design.md, "Checkout index", "A clone's first checkout").
//
// Per file that is open(O_CREAT | O_EXCL), write, fstat, close: four calls instead of six (stat,
// open, write, fstat, close, rename), and one directory entry made instead of two made and one
// removed. What stays true:
//   - no torn file is ever seen in a part folder: files are written in the staging folder, which no
//     scan reads, and reach the part folder all at once, complete, by one rename(2) of the folder;
//     a kill leaves the staging folder behind, which the next checkout removes and writes again;
//   - no file the user made is overwritten: rename(2) replaces an empty directory only; if anything
//     appeared in the part folder meanwhile (ENOTEMPTY/EEXIST) each staged file is moved by link(2),
//     which fails on an existing name (EEXIST: the user's file stays, and its row makes the next
//     scan read it), then unlinked from the staging folder;
//   - the rows' signatures stay valid: rename(2) of the folder and link(2) keep each file's inode,
//     size and mtime (only the ctime moves, which no signature holds).
//
// A big first checkout (threads(): thousands of files) creates them on writer threads, one per part
// folder (checkout-writer.ts), in batches: the calling thread reads and re-encodes the next files
// meanwhile. A file's row is set when its batch's answer comes back; drain() waits for every batch
// before finish() moves anything in, so the rules above hold unchanged (a kill while threads write
// leaves only the staging folder).
import { statSync, linkSync, lstatSync, mkdirSync, opendirSync, readdirSync, renameSync, rmdirSync, rmSync, chmodSync, unlinkSync } from "node:fs";
import { join, sep } from "node:path";
import type { PartName } from "../engine/core/parts.ts";
import { WorkerPool } from "../engine/node/worker-pool.ts";
import { STATE_DIR } from "./state-dir.ts";
import { PARTS, UNKNOWN_SIG, type CheckoutIndex, type FileSig } from "./checkout-index.ts";
import { fileBytes, handle, writeNew, type WriteAnswer, type WriteRequest } from "./checkout-writer.ts";

/** `<dir>/.penumbra-sync/checkout-new/<part folder>/`: files of a first checkout before they are moved in. */
export const STAGE_DIR = "checkout-new";

/** A batch goes to its writer thread at this many files or bytes (whichever first). */
const BATCH_FILES = 128;
const BATCH_BYTES = 256 * 1024;
/**
 * Batches out per thread before the caller waits: enough to keep a thread busy while the next one
 * is filled, few enough that the bytes held stay small (3 x 5 x 256 KiB, and the copies sent).
 */
const IN_FLIGHT = 4;
/** Sent-back buffers kept for reuse (3 threads x IN_FLIGHT + 1 batches out at most). */
const SPARE_BUFFERS = 16;
/** A writer thread's young generation (MiB). */
const WRITER_YOUNG_MB = 4;

/**
 * Files queued for one part's writer thread, and what to do with each one's signature. The bytes are
 * copied in as they come: a file's bytes may be a view into a 256 KiB frame of the store's cache,
 * and a batch of views into different frames held them all (a clone grew by ~80 MiB).
 */
interface Batch {
  names: string[];
  data: Uint8Array;
  bytes: number;
  ends: number[];
  done: ((sig: FileSig) => void)[];
}

const emptyBatch = (): Batch => ({ names: [], data: new Uint8Array(16 * 1024), bytes: 0, ends: [], done: [] });

/** Part folder names, as in vault-folder.ts (kept here so this module needs nothing from it). */
const SUBS: Record<PartName, string> = { note: "notes", embedding: "embeddings", position: "positions" };

export interface StageOutcome {
  /** Staged files that could not be moved in because a file of that name appeared: `<sub>/<name>`. */
  skipped: string[];
}

export class CheckoutStage {
  private constructor(
    private readonly dir: string,
    private readonly root: string,
    /** Per part: the staging folder's path with a trailing separator, or null (the part is written in place). */
    private readonly prefixes: (string | null)[],
    /** Per part: the permission bits of the empty folder the staged one replaces (-1: none). */
    private readonly modes: number[],
  ) {}

  /**
   * Per part: whether its staging folder was made. Only on its first file: a pull that adds no file
   * to an empty part folder (a vault without positions) leaves that folder, and a watch on it, alone.
   */
  private readonly made = [false, false, false];

  /** The writer threads (thread p writes part p), once threads() was called. */
  private pool: WorkerPool<WriteRequest, WriteAnswer> | null = null;
  private batches: Batch[] = [emptyBatch(), emptyBatch(), emptyBatch()];
  /** Per part: batches sent and not yet answered, oldest first. */
  private readonly inflight: Promise<void>[][] = [[], [], []];
  /** Buffers the threads sent back, reused for the next batches. */
  private spare: ArrayBuffer[] = [];

  /**
   * Decides per part whether the checkout stages it: the checkout has no row of that part and its
   * folder is missing or empty (a real folder, not a symlink). Removes a staging folder a killed
   * run left, whatever is decided.
   */
  static open(dir: string, checkout: CheckoutIndex): CheckoutStage {
    const root = join(dir, STATE_DIR, STAGE_DIR);
    rmSync(root, { recursive: true, force: true });
    // The staging folder must be on the folder's file system (a state folder symlinked elsewhere is not: no rename across).
    const sameDevice = statSync(join(dir, STATE_DIR), { throwIfNoEntry: false })?.dev === statSync(dir).dev;
    const prefixes = PARTS.map((part) => {
      if (!sameDevice || checkout.hasRows(part)) return null;
      const target = join(dir, SUBS[part]);
      let mode = -1;
      try {
        const st = lstatSync(target);
        if (!st.isDirectory() || !isEmptyDir(target)) return null;
        mode = st.mode & 0o7777;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") return null;
      }
      return { prefix: join(root, SUBS[part]) + sep, mode };
    });
    return new CheckoutStage(dir, root, prefixes.map((x) => x?.prefix ?? null), prefixes.map((x) => x?.mode ?? -1));
  }

  /** Whether new files of this part go to the staging folder. */
  stages(part: PartName): boolean {
    return this.prefixes[PARTS.indexOf(part)] !== null;
  }

  /**
   * Writes a new file of a staged part (`name` is `<id><ext>`, checked by the caller) and returns its
   * signature. O_EXCL: the staging folder was made empty by this run, so a name met twice is a bug.
   */
  write(part: PartName, name: string, bytes: Uint8Array): FileSig {
    const p = this.make(part);
    return writeNew(this.prefixes[p]! + name, bytes);
  }

  /** Makes the part's staging folder on its first file; answers the part's number. */
  private make(part: PartName): number {
    const p = PARTS.indexOf(part);
    if (!this.made[p]) {
      const stage = this.prefixes[p]!.slice(0, -1);
      mkdirSync(stage, { recursive: true });
      if (this.modes[p] >= 0) chmodSync(stage, this.modes[p]); // the folder that replaces it keeps its permissions
      this.made[p] = true;
    }
    return p;
  }

  /**
   * From now on add() writes on threads, one per part folder (a big checkout: each starts in ~20 ms
   * and costs ~9 MiB). Their young generation is kept small: what they allocate (a batch, a note's
   * parsed JSON) dies at once, and at V8's default each thread's grew by tens of MiB (a clone's
   * peak RSS rose above its pull's).
   */
  threads(): void {
    this.pool ??= new WorkerPool(new URL("./checkout-writer.ts", import.meta.url), PARTS.length, "penumbra-checkout", { maxYoungGenerationSizeMb: WRITER_YOUNG_MB });
  }

  /**
   * Writes the file of a part given its stored bytes (the file is fileBytes(part, stored)); `done`
   * gets its signature, maybe later: with threads() the file is queued for its part's thread and
   * made and written there in a batch. Waits while that thread has IN_FLIGHT batches out. A batch's
   * error (a part that does not decode, a failed write) is thrown here or by drain().
   */
  async add(part: PartName, name: string, stored: Uint8Array, done: (sig: FileSig) => void): Promise<void> {
    if (!this.pool) return done(this.write(part, name, fileBytes(part, stored)));
    const p = this.make(part);
    const b = this.batches[p];
    if (b.bytes + stored.length > b.data.length) {
      const more = new Uint8Array(Math.max(2 * b.data.length, b.bytes + stored.length));
      more.set(b.data.subarray(0, b.bytes));
      b.data = more;
    }
    b.data.set(stored, b.bytes);
    b.bytes += stored.length;
    b.names.push(name);
    b.ends.push(b.bytes);
    b.done.push(done);
    if (b.names.length < BATCH_FILES && b.bytes < BATCH_BYTES) return;
    this.send(p);
    if (this.inflight[p].length > IN_FLIGHT) await this.inflight[p].shift();
  }

  private send(p: number): void {
    const b = this.batches[p];
    if (b.names.length === 0) return;
    this.batches[p] = emptyBatch();
    const mine = b.data.subarray(0, b.bytes);
    // The thread gets a copy, transferred (and transferred back with the answer, for the next batch):
    // a copy made by postMessage would be the thread's to free, which a thread that allocates
    // little (the embeddings') did only once tens of MiB of them had piled up. The batch's own
    // bytes stay here: if the thread dies, the batch is written here again (replacing what it wrote of it).
    const wire = this.wireBuffer(b.bytes);
    wire.set(mine);
    const request: WriteRequest = { prefix: this.prefixes[p]!, part: PARTS[p], names: b.names, data: wire, ends: Uint32Array.from(b.ends) };
    const answer = this.pool!.run(request, [wire.buffer as ArrayBuffer], () => handle({ ...request, data: mine, replace: true }).result, p);
    const applied = answer.then(({ sigs, data }) => {
      if (data && this.spare.length < SPARE_BUFFERS) this.spare.push(data.buffer as ArrayBuffer);
      for (let i = 0; i < b.done.length; i++) b.done[i]([sigs[3 * i], sigs[3 * i + 1], sigs[3 * i + 2]]);
    });
    applied.catch(() => {}); // awaited by add() or drain(); an error meanwhile is not "unhandled"
    this.inflight[p].push(applied);
  }

  /** `n` bytes to send: a buffer a thread sent back if one is big enough, else a new one. */
  private wireBuffer(n: number): Uint8Array {
    const i = this.spare.findIndex((a) => a.byteLength >= n);
    if (i < 0) return new Uint8Array(Math.max(n, BATCH_BYTES));
    const [a] = this.spare.splice(i, 1);
    return new Uint8Array(a, 0, n);
  }

  /** Sends what is queued and waits for every batch (all their `done` called); throws the first error. */
  async drain(): Promise<void> {
    if (!this.pool) return;
    for (let p = 0; p < PARTS.length; p++) this.send(p);
    let failure: unknown = null;
    for (const q of this.inflight) {
      while (q.length) await q.shift()!.catch((e) => (failure ??= e));
    }
    if (failure) throw failure;
  }

  /** Stops the writer threads (after drain(), or to give up after an error: their batches are dropped). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    this.batches = [emptyBatch(), emptyBatch(), emptyBatch()];
    this.spare = [];
    for (const q of this.inflight) q.length = 0;
    await pool?.close();
  }

  /**
   * Moves every staged part folder in, then removes the staging folder. A part folder that is no
   * longer empty gets the staged files one by one (link, never over an existing name); a name taken
   * meanwhile keeps the user's file, and its row keeps the tree's part with an unknown signature so
   * the next scan reads that file (as a checkout does for a file edited while it ran).
   */
  finish(checkout: CheckoutIndex): StageOutcome {
    if (this.batches.some((b) => b.names.length) || this.inflight.some((q) => q.length)) throw new Error("checkout stage: finish() before drain()");
    const out: StageOutcome = { skipped: [] };
    PARTS.forEach((part, p) => {
      const prefix = this.prefixes[p];
      if (prefix === null || !this.made[p]) return;
      const stage = prefix.slice(0, -1);
      const target = join(this.dir, SUBS[part]);
      try {
        renameSync(stage, target);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      }
      const ext = part === "embedding" ? ".bin" : ".json";
      for (const name of readdirSync(stage)) {
        const from = prefix + name;
        try {
          linkSync(from, join(target, name));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
          const id = name.slice(0, -ext.length);
          const row = checkout.get(part, id);
          if (row) checkout.set(part, id, { ...row, sig: UNKNOWN_SIG });
          out.skipped.push(`${SUBS[part]}/${name}`);
        }
        unlinkSync(from);
      }
      rmdirSync(stage);
    });
    rmSync(this.root, { recursive: true, force: true });
    return out;
  }
}

function isEmptyDir(path: string): boolean {
  const d = opendirSync(path);
  try {
    return d.readSync() === null;
  } finally {
    d.closeSync();
  }
}
