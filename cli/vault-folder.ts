// The vault folder <-> the engine's working state.
//
//   <dir>/notes/<id>.json       a JSON object
//   <dir>/embeddings/<id>.bin   raw little-endian float32
//   <dir>/positions/<id>.json   a JSON object
//
// The checkout index (checkout-index.ts: the parts of the tree the folder reflects, each with the
// stat signature of its file), like git's index, means unchanged files are neither re-read nor
// re-hashed, and a scan reports only what changed. Files a pull writes are written atomically; a
// file the user changed while a sync ran is never overwritten.
import { readdir, mkdir } from "node:fs/promises";
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import type { Stats } from "node:fs";
import { canonicalJson, parseJsonObjectBytes } from "../engine/core/canonical.ts";
import { utf8 } from "../engine/core/bytes.ts";
import { isNoteId, decodeJsonPart, type PartName } from "../engine/core/parts.ts";
import { entriesEqual, type Entry, type TreeChange } from "../engine/core/tree.ts";
import { walkTreeDiff } from "../engine/core/tree-walk.ts";
import type { Address } from "../engine/core/hash.ts";
import type { Vault } from "../engine/vault/vault.ts";
import { writeFileAtomicSync } from "../engine/node/atomic-file.ts";
import { statFiles, STAT_FILE, STAT_MISSING, type PathGroup } from "./stat-files.ts";
import { CheckoutStage } from "./checkout-stage.ts";
import { fileBytes } from "./checkout-writer.ts";
import { crashPoint } from "./crash-hook.ts";
import { IdList } from "./id-list.ts";
import type { ReusedBuffer } from "./reused-buffer.ts";
import { PARTS, UNKNOWN_SIG, type CheckoutIndex, type CheckoutRow, type FileSig } from "./checkout-index.ts";

export type { FileSig } from "./checkout-index.ts";

export const PART_DIRS: Record<PartName, { dir: string; ext: string }> = {
  note: { dir: "notes", ext: ".json" },
  embedding: { dir: "embeddings", ext: ".bin" },
  position: { dir: "positions", ext: ".json" },
};

/**
 * A scan packs what it has staged every this many bytes: an initial push never holds the folder in
 * memory, and the CLI uploads each flush's packs while the scan goes on (early-upload.ts).
 */
const SCAN_FLUSH_BYTES = 16 * 1024 * 1024;
/**
 * ... or every this many objects: a staged object's records (its view, its address, its map slot)
 * are ~250 bytes of heap, and 100,000 positions of ~80 bytes each held ~25 MiB of them to the commit.
 */
const SCAN_FLUSH_OBJECTS = 32_768;

export interface ScanResult {
  /** The entries that differ from the checkout's tree (null: the note is gone), with their new parts staged. */
  changes: Map<string, Entry | null>;
  ignored: string[];
  /** Files read and hashed (not served from the stat cache). */
  hashed: number;
  bytesRead: number;
  /** Whether the checkout index gained, changed or lost a row (if not, it need not be saved again). */
  cacheChanged: boolean;
}

/** A tree named a file outside `<dir>/<part>/`: refused before anything is written. */
export class UnsafePathError extends Error {
  override name = "UnsafePathError";
}

/**
 * The file of one part of a note. The id is checked again here, whatever validated it before (the
 * tree codec, the Worker): a pull writes where this says, so it must never leave `<dir>/<part>/`.
 */
export function partPath(dir: string, part: PartName, id: string): string {
  const folder = resolve(dir, PART_DIRS[part].dir);
  const path = resolve(folder, id + PART_DIRS[part].ext);
  if (!isNoteId(id) || dirname(path) !== folder) throw new UnsafePathError(`refusing to write note id ${JSON.stringify(id).slice(0, 80)}: it is not a note id ([A-Za-z0-9._-]{1,128}) and could name a file outside ${folder}`);
  return path;
}

const sig = (s: Stats): FileSig => [s.size, s.mtimeMs, s.ino];

export async function ensureFolders(dir: string): Promise<void> {
  for (const p of Object.values(PART_DIRS)) await mkdir(join(dir, p.dir), { recursive: true });
}

/** A file of the folder to look at, in scan order. */
export interface FolderFile {
  part: PartName;
  id: string;
  /** `<sub>/<name>`, for messages. */
  rel: string;
  path: string;
  /** The signature its checkout row recorded, if it has one. */
  cached?: FileSig;
}

/** What looking at one file gives (on this thread or a scan thread: scan-pool.ts). */
export type FileRead =
  | { kind: "gone" } // deleted (or unreadable) while we looked
  | { kind: "notfile" }
  | { kind: "cached"; sig: FileSig } // matches its stat-cache row: not read
  | { kind: "read"; sig: FileSig; rawLength: number; bytes: Uint8Array } // canonical JSON, or an embedding's raw bytes
  | { kind: "bad"; sig: FileSig; rawLength: number; message: string };

/**
 * Stats a file and, unless it matches `cached`, reads it and puts JSON parts in canonical form.
 * Synchronous stat/read: for thousands of small files they cost ~10 us each, the promise versions
 * ~100 us (measured), and a scan has nothing else to do meanwhile.
 */
export function readFolderFile(path: string, part: PartName, cached?: FileSig): FileRead {
  const r = readFolderRaw(path, cached);
  if (r.kind !== "raw") return r;
  const form = canonicalForm(part, r.raw);
  if (typeof form === "object" && "error" in form) return { kind: "bad", sig: r.sig, rawLength: r.raw.length, message: form.error };
  return { kind: "read", sig: r.sig, rawLength: r.raw.length, bytes: typeof form === "string" ? utf8(form) : form };
}

/** A file looked at but not yet put in canonical form: `raw` is what the file holds. */
export type RawRead = Exclude<FileRead, { kind: "read" | "bad" }> | { kind: "raw"; sig: FileSig; raw: Uint8Array };

/**
 * `readFolderFile` up to the bytes as read. With `scratch` the bytes are read into it (grown as
 * needed) and are valid until its next use: a scan thread copies them into its answer at once,
 * where a buffer of their own per file lived on as garbage until that thread's next full collection
 * (~35 MiB of them at the peak of an initial push at 100,000 notes, heaptrack).
 */
export function readFolderRaw(path: string, cached?: FileSig, scratch?: ReusedBuffer): RawRead {
  if (cached) {
    // Known file: a stat first, and no read at all when its signature still matches.
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      return { kind: "gone" };
    }
    if (!st.isFile()) return { kind: "notfile" };
    const s = sig(st);
    if (cached[0] === s[0] && cached[1] === s[1] && cached[2] === s[2]) return { kind: "cached", sig: s };
  }
  // To be read: open, fstat, read, close. The signature comes from the open file, so it describes
  // the bytes read (a stat by path, then a read, was one more path walk per file: ~1 CPU-s of a
  // 100,000-note initial push). O_NONBLOCK: opening a FIFO must not wait for a writer.
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch {
    return { kind: "gone" };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: "notfile" };
    return { kind: "raw", sig: sig(st), raw: readAll(fd, st.size, scratch) };
  } catch {
    return { kind: "gone" };
  } finally {
    closeSync(fd);
  }
}

/**
 * What a part's file holds in the form that is hashed: an embedding's bytes as they are, a JSON
 * part's canonical JSON text (encoded by the caller, where it wants the bytes), or why not.
 */
export function canonicalForm(part: PartName, raw: Uint8Array): Uint8Array | string | { error: string } {
  if (part === "embedding") return raw;
  try {
    return canonicalJson(parseJsonObjectBytes(raw, part));
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/**
 * The file's first `size` bytes (as fstat said), as readFileSync reads a regular file. A file that
 * changes meanwhile gets a new mtime, so the next scan reads it again.
 */
function readAll(fd: number, size: number, scratch?: ReusedBuffer): Uint8Array {
  const buf = scratch ? scratch.fit(size) : Buffer.allocUnsafe(size);
  let n = 0;
  while (n < size) {
    const got = readSync(fd, buf, n, size - n, null);
    if (got === 0) break;
    n += got;
  }
  return n === buf.length ? buf : buf.subarray(0, n);
}

/** Reads files for a scan, in order; `readFolderFile` one by one unless a pool does it on threads. */
export interface FolderReader {
  /** `expectedReads`: how many files of the whole scan (not just these) have no checkout row. */
  read(files: readonly FolderFile[], expectedReads?: number): AsyncIterable<FileRead>;
  /** The scan is over: threads may stop until the next big scan starts them again. */
  release?(): Promise<void>;
}

export const inlineReader: FolderReader = {
  async *read(files) {
    for (const f of files) yield readFolderFile(f.path, f.part, f.cached);
  },
};

/** A scan compares files with the tree the checkout index describes: it must be the vault's head tree. */
function assertAtHead(checkout: CheckoutIndex, v: Vault): void {
  if (checkout.root !== v.headRoot) throw new Error(`the checkout index describes tree ${checkout.root}, the vault's head is tree ${v.headRoot}`);
}

/** The note id a part's file name names, or null (the name is then reported, never read). */
function idOfName(part: PartName, name: string): string | null {
  const { ext } = PART_DIRS[part];
  const id = name.endsWith(ext) ? name.slice(0, -ext.length) : "";
  return isNoteId(id) ? id : null;
}

/**
 * `id` as a string of its own. An id cut from a listing (IdList) is a slice that keeps the whole
 * listing alive behind it, and a scan keeps the ids of the files it read (their checkout rows,
 * the vault's working entries) past its listings. Ids are ASCII (isNoteId), which latin1 carries
 * over unchanged.
 */
function ownCopy(id: string): string {
  return Buffer.from(id, "latin1").toString("latin1");
}

const notAnId = (part: PartName, rel: string) => `${rel}: not <id>${PART_DIRS[part].ext} with id [A-Za-z0-9._-]{1,128}`;

/** One part's folder: the ids of its candidate files, sorted (the checkout's order); names that are not `<id><ext>` are reported. */
async function listPart(dir: string, part: PartName, ignored: string[]): Promise<IdList> {
  const { dir: sub } = PART_DIRS[part];
  let names: string[];
  try {
    names = await readdir(join(dir, sub));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return IdList.EMPTY;
    throw e;
  }
  const ids: string[] = [];
  for (const name of names) {
    if (name.startsWith(".") && name.endsWith(".tmp")) continue; // our own atomic-write temp files
    const id = idOfName(part, name);
    if (id === null) ignored.push(notAnId(part, `${sub}/${name}`));
    else ids.push(id);
  }
  return IdList.sorted(ids);
}

/**
 * Files are looked at in windows of this many: their records die young instead of 100,000 of them
 * living through a part folder's whole scan (a no-op of 300,000 files peaked ~70 MiB higher).
 */
const SCAN_WINDOW = 4096;

/**
 * Reads the folder against the checkout index: a file whose stat matches its row is not read; the
 * rest are read and staged in the vault, and their rows updated. Returns the entries that differ
 * from the checkout's tree (which must be the vault's head tree), hands each to `changed`, or
 * ("later") leaves them to the caller (scannedChanges). Bad files are reported, never
 * uploaded (their part is left out). `reader` may read on other threads (scan-pool.ts); the result
 * is the same. Memory: the checkout index, the three part folders' listings (IdList) and 32 bytes of stat per file, plus the changes.
 */
export async function scanFolder(dir: string, v: Vault, checkout: CheckoutIndex, onFile?: (bytes: number) => void, reader: FolderReader = inlineReader, changed?: ((id: string, entry: Entry | null) => void) | "later"): Promise<ScanResult> {
  assertAtHead(checkout, v);
  checkout.fold();
  const ignored: string[] = [];
  let hashed = 0;
  let bytesRead = 0;
  let cacheChanged = false;
  const drop = (part: PartName, id: string) => {
    if (!checkout.get(part, id)) return;
    checkout.delete(part, ownCopy(id));
    cacheChanged = true;
  };
  // The three listings at once (readdir runs on libuv's threads), then every file that has a row
  // is stat'ed in one batch spread over the cores (stat-files.ts): a no-op ends there, having
  // allocated nothing per file. Files without a row, or whose stat differs, go to the reader.
  const listed = await Promise.all(PARTS.map((part) => listPart(dir, part, ignored)));
  const rowOf: Int32Array[] = [];
  const groups: PathGroup[] = [];
  let reads = 0;
  PARTS.forEach((part, p) => {
    const ids = listed[p];
    const [start, end] = checkout.range(part);
    const rows = new Int32Array(ids.length);
    const withRow: string[] = [];
    for (let k = 0, r = start; k < ids.length; k++) {
      const id = ids.at(k);
      while (r < end && checkout.compareId(r, id) < 0) r++;
      if (r < end && checkout.compareId(r, id) === 0) {
        rows[k] = r++;
        withRow.push(id);
      } else {
        rows[k] = -1;
        reads++;
      }
    }
    rowOf.push(rows);
    const { dir: sub, ext } = PART_DIRS[part];
    groups.push({ prefix: join(dir, sub) + sep, names: withRow, suffix: ext });
  });
  // Each file without a row gets one: room for them at once (grown by doubling, an initial push's
  // 300,000 rows held 32 MiB of slots and 48 MiB while the last doubling copied, near its peak).
  checkout.reserve(reads);
  const stats = await statFiles(groups);
  let statAt = 0; // 4 x the index of the next answer in `stats`
  for (let p = 0; p < PARTS.length; p++) {
    const part = PARTS[p];
    const ids = listed[p];
    const rows = rowOf[p];
    listed[p] = IdList.EMPTY;
    const { dir: sub, ext } = PART_DIRS[part];
    const base = groups[p].prefix; // concatenated below: path.join per file costs ~0.5 us x 300,000
    const [start, end] = checkout.range(part);
    // Walk the files and this part's rows together (both sorted by id): a row without a file is a deleted part.
    let row = start;
    let files: FolderFile[] = [];
    const readFiles = async () => {
      let i = 0;
      for await (const r of reader.read(files, reads)) {
        const { id, rel } = files[i++];
        if (r.kind === "cached") continue;
        if (r.kind === "gone") {
          drop(part, id);
          continue;
        }
        if (r.kind === "notfile") {
          ignored.push(`${rel}: not a regular file`);
          drop(part, id);
          continue;
        }
        bytesRead += r.rawLength;
        hashed++;
        onFile?.(r.rawLength);
        if (r.kind === "bad") {
          ignored.push(`${rel}: ${r.message}`);
          drop(part, id);
          continue;
        }
        let addr: Address;
        let extra: number;
        try {
          [addr, extra] = stageFile(v, part, r.bytes);
        } catch (err) {
          ignored.push(`${rel}: ${(err as Error).message}`);
          drop(part, id);
          continue;
        }
        checkout.set(part, ownCopy(id), { sig: r.sig, addr, extra }); // the id is kept by the row and the working entry
        cacheChanged = true;
        if (v.stagedBytes >= SCAN_FLUSH_BYTES || v.stagedCount >= SCAN_FLUSH_OBJECTS) await v.flushStaged({ background: true });
        // While sealing runs on other threads, let its answers in: they pack and store between files.
        else if (v.flushInProgress && hashed % 16 === 0) await new Promise(setImmediate);
      }
      if (i !== files.length) throw new Error(`the folder reader gave ${i} results for ${files.length} files`);
      files = [];
    };
    for (let k = 0; k < ids.length; k++) {
      const r = rows[k];
      if (r >= 0) {
        for (; row < r; row++) drop(part, checkout.idAt(row));
        row = r + 1;
        const at = statAt;
        statAt += 4;
        const kind = stats[at + 3];
        if (kind === STAT_MISSING) {
          drop(part, ids.at(k)); // deleted since the listing
          continue;
        }
        if (kind === STAT_FILE && checkout.sigEquals(r, stats[at], stats[at + 1], stats[at + 2])) continue;
      }
      // New, changed or not a file: the reader looks (again, with its row's signature: a file
      // rewritten to its old signature meanwhile counts as unchanged, as it would have a moment
      // earlier). Its id is cut out of the listing only now: a no-op cuts none here.
      const id = ids.at(k);
      files.push({ part, id, rel: `${sub}/${id}${ext}`, path: base + id + ext, cached: r >= 0 ? checkout.sigAt(r) : undefined });
      if (files.length >= SCAN_WINDOW) await readFiles();
    }
    if (files.length) await readFiles();
    for (; row < end; row++) drop(part, checkout.idAt(row));
  }
  // With `changed`, each change goes there as it is made and `changes` stays empty: an initial
  // push's 100,000 entries were held twice at the scan's end, in this map and in the vault's copy.
  // "later": the caller walks them itself (scannedChanges), as a vault's first commit does.
  const changes = new Map<string, Entry | null>();
  if (changed !== "later") {
    const put = changed ?? ((id: string, e: Entry | null) => changes.set(id, e));
    for (const [id, e] of scannedChanges(checkout)) put(id, e);
  }
  return { changes, ignored: ignored.sort(), hashed, bytesRead, cacheChanged };
}

/**
 * The notes a scan changed, in id order, each whole: its rows as read (the checkout's tree) against
 * its rows now (null: it has none left). Made from the rows as they are walked, so nothing of
 * them is held meanwhile: an initial push's per-part edits were ~25 MiB of objects and hex
 * strings, and its first commit builds its tree from these as they come (engine/vault/commit-first.ts).
 */
export function* scannedChanges(checkout: CheckoutIndex): Generator<[string, Entry | null, Int32Array]> {
  for (const { id, rows, slots } of checkout.changedRows()) {
    const before = entryOfRows(id, (part) => checkout.original(part, id));
    const after = entryOfRows(id, (_, p) => rows[p]);
    if (!entriesEqual(before, after)) yield [id, after ?? null, slots];
  }
}

/**
 * A note's entry as its checkout rows now give it (undefined: it has none): one of scannedChanges'
 * entries, made again from the `slots` it came with (scannedChanges reuses them: copy them), not
 * by looking its rows up by id.
 */
export function scannedEntry(checkout: CheckoutIndex, id: string, slots: ArrayLike<number>): Entry | undefined {
  const rows = checkout.rowsOfSlots(id, slots);
  return entryOfRows(id, (_, p) => rows[p]);
}

function partOf(e: Entry, part: PartName): { addr: Address; extra: number } | null {
  const addr = partAddr(e, part);
  if (!addr) return null;
  return { addr, extra: part === "note" ? (e.chunked ? 1 : 0) : part === "embedding" ? (e.dims ?? 0) : 0 };
}

/** Stages a file's bytes as its part: [address, chunked(0/1) or dims] (throws on a bad embedding). */
function stageFile(v: Vault, part: PartName, bytes: Uint8Array): [Address, number] {
  if (part === "embedding") return [v.stageEmbeddingBytes(bytes), bytes.length / 4];
  if (part === "note") {
    const staged = v.stageNoteBytes(bytes);
    return [staged.note, staged.chunked ? 1 : 0];
  }
  return [v.stageJsonBlob(bytes), 0];
}

/** What rescanPaths did: like a scan's result, with the working state already updated. */
export type RescanResult = Omit<ScanResult, "changes"> & {
  /** Notes whose working entry this changed (0: the paths hold what the vault already had). */
  changed: number;
};

/**
 * Re-reads only these files (`<sub>/<name>`, e.g. from a watcher) against their checkout rows, and
 * updates those rows and the vault's working state exactly as a full scan of the folder would for
 * them: a file gone, not a regular file or unreadable as its part loses that part. No other row is
 * read (each is found by binary search), so the cost is the paths', not the folder's; the result
 * equals a full scan when the other files did not change.
 */
export async function rescanPaths(dir: string, v: Vault, checkout: CheckoutIndex, rels: Iterable<string>, onFile?: (bytes: number) => void): Promise<RescanResult> {
  assertAtHead(checkout, v);
  const out: RescanResult = { ignored: [], hashed: 0, bytesRead: 0, cacheChanged: false, changed: 0 };
  const touched = new Set<string>();
  for (const rel of new Set(rels)) {
    const [sub, name, more] = rel.split("/");
    const part = PARTS.find((p) => PART_DIRS[p].dir === sub);
    if (!part || !name || more !== undefined || (name.startsWith(".") && name.endsWith(".tmp"))) continue;
    const path = join(dir, sub, name);
    const id = idOfName(part, name);
    if (id === null) {
      if (statSync(path, { throwIfNoEntry: false })) out.ignored.push(notAnId(part, rel));
      continue;
    }
    touched.add(id);
    const row = checkout.get(part, id);
    const r = readFolderFile(path, part, row?.sig);
    let found = r.kind === "cached";
    if (r.kind === "notfile") out.ignored.push(`${rel}: not a regular file`);
    else if (r.kind === "read" || r.kind === "bad") {
      out.bytesRead += r.rawLength;
      out.hashed++;
      onFile?.(r.rawLength);
      if (r.kind === "bad") out.ignored.push(`${rel}: ${r.message}`);
      else {
        try {
          const [addr, extra] = stageFile(v, part, r.bytes);
          checkout.set(part, id, { sig: r.sig, addr, extra });
          out.cacheChanged = found = true;
        } catch (err) {
          out.ignored.push(`${rel}: ${(err as Error).message}`);
        }
      }
    }
    if (!found && row) {
      checkout.delete(part, id);
      out.cacheChanged = true;
    }
  }
  // The rows are the folder's working tree: each touched note's entry is its rows, all parts.
  for (const id of touched) {
    const now = entryOfRows(id, (part) => checkout.get(part, id));
    if (entriesEqual(await v.entryOf(id), now)) continue;
    if (now) v.putEntry(now);
    else v.removeEntry(id);
    out.changed++;
  }
  out.ignored.sort();
  return out;
}

/** A note's entry from its rows, one per part (undefined: it has none). */
function entryOfRows(id: string, rowOf: (part: PartName, index: number) => CheckoutRow | undefined): Entry | undefined {
  const e: Entry = { id };
  let any = false;
  for (let p = 0; p < PARTS.length; p++) {
    const part = PARTS[p];
    const r = rowOf(part, p);
    if (r) setPart(e, part, r.addr, r.extra);
    any ||= !!r;
  }
  return any ? e : undefined;
}

function setPart(e: Entry, part: PartName, addr: Address, extra: number): void {
  if (part === "note") {
    e.note = addr;
    if (extra) e.chunked = true;
  } else if (part === "embedding") {
    e.embedding = addr;
    e.dims = extra;
  } else e.position = addr;
}

function partAddr(e: Entry | undefined, part: PartName): Address | undefined {
  return e ? (part === "note" ? e.note : part === "embedding" ? e.embedding : e.position) : undefined;
}

export interface ApplyResult {
  written: number;
  deleted: number;
  /** Files the user changed while the sync ran: left alone, picked up by the next sync. */
  skipped: string[];
}

/** Changes a checkout writes at a time: the diff is streamed (tree-walk.ts), never held whole. */
const APPLY_BATCH = 1024;

/**
 * Makes the folder match tree `to`, given that it matched the checkout's tree. Writes are atomic; a
 * file whose stat no longer matches its row was edited meanwhile and is left alone (its row then
 * keeps `to`'s part with an unknown signature, so the next scan reads the file). The checkout then
 * describes `to`. The changes are walked twice, never listed: once to check every path (one unsafe
 * id writes nothing at all), then to write them a batch at a time, so a clone of 100,000 notes holds
 * one batch of changes, not all of them.
 */
export async function applyTree(dir: string, v: Vault, to: Address, checkout: CheckoutIndex, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const from = checkout.root;
  if (from === to) return { written: 0, deleted: 0, skipped: [] };
  let added = 0;
  let files = 0;
  for await (const c of walkTreeDiff(from, to, v.load)) {
    for (const part of PARTS) {
      partPath(dir, part, c.id);
      if (partAddr(c.after, part) !== partAddr(c.before, part)) files++;
    }
    if (!c.before) added++;
  }
  checkout.reserve(files); // one row changes per file written or removed
  const out: ApplyResult = { written: 0, deleted: 0, skipped: [] };
  // A part folder with no row and no file (a clone) is written through a staging folder: checkout-stage.ts.
  const stage = CheckoutStage.open(dir, checkout);
  if (added >= (opts.writerThreadsFrom ?? writerThreadsFrom())) stage.threads();
  try {
    let batch: TreeChange[] = [];
    const flush = async () => {
      const r = await writeChanges(dir, v, batch, checkout, stage); // paths checked above, for the whole diff
      out.written += r.written;
      out.deleted += r.deleted;
      out.skipped.push(...r.skipped);
      batch = [];
    };
    for await (const c of walkTreeDiff(from, to, v.load)) {
      batch.push(c);
      if (batch.length >= APPLY_BATCH) await flush();
    }
    await flush();
    await stage.drain();
  } finally {
    await stage.close();
  }
  crashPoint("staged");
  const moved = stage.finish(checkout);
  out.written -= moved.skipped.length;
  out.skipped.push(...moved.skipped);
  checkout.root = to;
  return out;
}

export interface ApplyOptions {
  /** Notes added from which a first checkout writes its files on threads (tests set 0). */
  writerThreadsFrom?: number;
}

/**
 * A first checkout of this many new notes or more creates its files on writer threads
 * (checkout-stage.ts): each thread starts in ~20 ms bundled (~0.4 s under tsx) and costs ~9 MiB.
 */
const WRITER_THREADS_FROM = 2000;

/** PENUMBRA_CHECKOUT_THREADS_FROM overrides it: a test hook (the crash test kills small clones while threads write). */
function writerThreadsFrom(): number {
  const v = Number(process.env.PENUMBRA_CHECKOUT_THREADS_FROM);
  return process.env.PENUMBRA_CHECKOUT_THREADS_FROM && Number.isInteger(v) && v >= 0 ? v : WRITER_THREADS_FROM;
}

/** Writes these entry changes to the folder (same rules as applyTree), row by row. */
export async function applyChanges(dir: string, v: Vault, changes: readonly TreeChange[], checkout: CheckoutIndex): Promise<ApplyResult> {
  // Every path first: a change list with one unsafe id writes nothing at all.
  for (const c of changes) for (const part of PARTS) partPath(dir, part, c.id);
  return writeChanges(dir, v, changes, checkout);
}

/** applyChanges once every path of `changes` has been checked. */
async function writeChanges(dir: string, v: Vault, changes: readonly TreeChange[], checkout: CheckoutIndex, stage?: CheckoutStage): Promise<ApplyResult> {
  const out: ApplyResult = { written: 0, deleted: 0, skipped: [] };
  for (const c of changes) {
    for (const part of PARTS) {
      const before = partAddr(c.before, part);
      const after = partAddr(c.after, part);
      if (before === after) continue;
      const e = c.after as Entry;
      const extra = after ? partOf(e, part)!.extra : 0;
      // A new file of a part being staged: no stat (its folder was empty and nothing of it had a row).
      if (after && !before && stage?.stages(part) && !checkout.get(part, c.id)) {
        await stage.add(part, c.id + PART_DIRS[part].ext, await storedPart(v, part, after, e), (sig) => checkout.set(part, c.id, { sig, addr: after, extra }));
        out.written++;
        continue;
      }
      const path = partPath(dir, part, c.id);
      const rel = `${PART_DIRS[part].dir}/${c.id}${PART_DIRS[part].ext}`;
      /** The file is not what we know: leave it, and keep the row to `after` with a signature that makes the next scan read it. */
      const leave = () => {
        out.skipped.push(rel);
        if (after) checkout.set(part, c.id, { sig: UNKNOWN_SIG, addr: after, extra });
        else checkout.delete(part, c.id);
      };
      // Synchronous file calls, as in the scan: a clone writes tens of thousands of small files.
      const cur = statSync(path, { throwIfNoEntry: false });
      const cached: CheckoutRow | undefined = checkout.get(part, c.id);
      if (cur) {
        const [size, mtime, ino] = sig(cur);
        const untouched = cached && cached.sig[0] === size && cached.sig[1] === mtime && cached.sig[2] === ino;
        // The file must be what we last saw (or already the new content), else the user is editing it.
        if (!untouched && !(cached && cached.addr === after && cached.sig[0] >= 0)) {
          leave();
          continue;
        }
      } else if (before && cached) {
        // Deleted locally while we synced: leave it deleted; the next sync sends the delete.
        leave();
        continue;
      }
      if (!after) {
        if (cur) {
          try {
            unlinkSync(path);
          } catch {}
        }
        checkout.delete(part, c.id);
        out.deleted++;
        continue;
      }
      const st = writeFileAtomicSync(path, await partBytes(v, part, after, e));
      checkout.set(part, c.id, { sig: sig(st), addr: after, extra });
      out.written++;
    }
  }
  return out;
}

/** A part's stored bytes (a chunked note's chunks joined). */
function storedPart(v: Vault, part: PartName, addr: Address, e: Entry): Promise<Uint8Array> {
  return part === "note" ? v.readPart(addr, e.chunked) : v.load(addr);
}

/** A part's file bytes (checkout-writer.ts's fileBytes). */
async function partBytes(v: Vault, part: PartName, addr: Address, e: Entry): Promise<Uint8Array> {
  return fileBytes(part, await storedPart(v, part, addr, e));
}
