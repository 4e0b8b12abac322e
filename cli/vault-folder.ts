// The vault folder <-> the engine's working state.
//
//   <dir>/notes/<id>.json       a JSON object
//   <dir>/embeddings/<id>.bin   raw little-endian float32
//   <dir>/positions/<id>.json   a JSON object
//
// A stat cache (size, mtime, inode -> address), like git's index, means unchanged files are neither
// re-read nor re-hashed. Files a pull writes are written atomically; a file the user changed while
// a sync ran is never overwritten.
import { readdir, mkdir } from "node:fs/promises";
import { readFileSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Stats } from "node:fs";
import { canonicalBytes, parseJsonObjectBytes } from "../engine/core/canonical.ts";
import { isNoteId, decodeJsonPart, type PartName } from "../engine/core/parts.ts";
import { diffTrees, type Entry, type TreeChange } from "../engine/core/tree.ts";
import type { Address } from "../engine/core/hash.ts";
import type { Vault } from "../engine/vault/vault.ts";
import { writeFileAtomicSync } from "../engine/node/atomic-file.ts";

export const PART_DIRS: Record<PartName, { dir: string; ext: string }> = {
  note: { dir: "notes", ext: ".json" },
  embedding: { dir: "embeddings", ext: ".bin" },
  position: { dir: "positions", ext: ".json" },
};

/** path -> [size, mtimeMs, ino, address, chunked(0/1) or dims] */
export type StatCache = Record<string, [number, number, number, Address, number]>;

/**
 * A scan packs what it has staged every this many bytes: an initial push never holds the folder in
 * memory, and the CLI uploads each flush's packs while the scan goes on (early-upload.ts).
 */
const SCAN_FLUSH_BYTES = 16 * 1024 * 1024;

export interface ScanResult {
  entries: Map<string, Entry>;
  ignored: string[];
  /** Files read and hashed (not served from the stat cache). */
  hashed: number;
  bytesRead: number;
  /** Whether the stat cache gained, changed or lost a row (if not, it need not be saved again). */
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
  /** `<sub>/<name>`: the stat cache's key. */
  rel: string;
  path: string;
}

/** [size, mtimeMs, ino]: what tells a file unchanged (git's index keeps the same). */
export type FileSig = [number, number, number];

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
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return { kind: "gone" };
  }
  if (!st.isFile()) return { kind: "notfile" };
  const s = sig(st);
  if (cached && cached[0] === s[0] && cached[1] === s[1] && cached[2] === s[2]) return { kind: "cached", sig: s };
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch {
    return { kind: "gone" };
  }
  if (part === "embedding") return { kind: "read", sig: s, rawLength: raw.length, bytes: raw };
  try {
    return { kind: "read", sig: s, rawLength: raw.length, bytes: canonicalBytes(parseJsonObjectBytes(raw, part)) };
  } catch (err) {
    return { kind: "bad", sig: s, rawLength: raw.length, message: (err as Error).message };
  }
}

/** Reads files for a scan, in order; `readFolderFile` one by one unless a pool does it on threads. */
export interface FolderReader {
  read(files: readonly FolderFile[], cache: StatCache): AsyncIterable<FileRead>;
}

/** The stat signature a file's cache row recorded, if it has one. */
export function cachedSig(cache: StatCache, rel: string): FileSig | undefined {
  const c = cache[rel];
  return c && [c[0], c[1], c[2]];
}

export const inlineReader: FolderReader = {
  async *read(files, cache) {
    for (const f of files) yield readFolderFile(f.path, f.part, cachedSig(cache, f.rel));
  },
};

/** The folder's candidate files in scan order (parts, then names sorted); names that are not `<id><ext>` are reported. */
async function listFolder(dir: string, ignored: string[]): Promise<FolderFile[]> {
  const files: FolderFile[] = [];
  for (const part of ["note", "embedding", "position"] as PartName[]) {
    const { dir: sub, ext } = PART_DIRS[part];
    let names: string[];
    try {
      names = await readdir(join(dir, sub));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    names.sort();
    for (const name of names) {
      if (name.startsWith(".") && name.endsWith(".tmp")) continue; // our own atomic-write temp files
      const id = name.endsWith(ext) ? name.slice(0, -ext.length) : "";
      const rel = `${sub}/${name}`;
      if (!isNoteId(id)) ignored.push(`${rel}: not <id>${ext} with id [A-Za-z0-9._-]{1,128}`);
      else files.push({ part, id, rel, path: join(dir, sub, name) });
    }
  }
  return files;
}

/**
 * Reads the folder into entries, staging new content in the vault. Bad files are reported, never
 * uploaded. `reader` may read on other threads (scan-pool.ts); the result is the same.
 */
export async function scanFolder(dir: string, v: Vault, cache: StatCache, onFile?: (bytes: number) => void, reader: FolderReader = inlineReader): Promise<ScanResult> {
  const entries = new Map<string, Entry>();
  const ignored: string[] = [];
  let hashed = 0;
  let bytesRead = 0;
  let cacheChanged = false;
  const files = await listFolder(dir, ignored);
  let i = 0;
  for await (const r of reader.read(files, cache)) {
    const { part, id, rel } = files[i++];
    if (r.kind === "gone") continue;
    if (r.kind === "notfile") {
      ignored.push(`${rel}: not a regular file`);
      continue;
    }
    const e: Entry = entries.get(id) ?? { id };
    if (r.kind === "cached") {
      const c = cache[rel];
      setPart(e, part, c[3], c[4]);
      entries.set(id, e);
      continue;
    }
    bytesRead += r.rawLength;
    hashed++;
    onFile?.(r.rawLength);
    if (r.kind === "bad") {
      ignored.push(`${rel}: ${r.message}`);
      continue;
    }
    let addr: Address;
    let extra: number;
    try {
      [addr, extra] = stageFile(v, part, r.bytes);
    } catch (err) {
      ignored.push(`${rel}: ${(err as Error).message}`);
      continue;
    }
    cache[rel] = [...r.sig, addr, extra];
    cacheChanged = true;
    setPart(e, part, addr, extra);
    entries.set(id, e);
    if (v.stagedBytes >= SCAN_FLUSH_BYTES) await v.flushStaged({ background: true });
    // While sealing runs on other threads, let its answers in: they pack and store between files.
    else if (v.flushInProgress && hashed % 16 === 0) await new Promise(setImmediate);
  }
  if (i !== files.length) throw new Error(`the folder reader gave ${i} results for ${files.length} files`);
  // Cache rows of files that are gone must not linger (a re-created file would match by chance).
  for (const rel of Object.keys(cache)) {
    const [sub, name] = rel.split("/");
    const part = (Object.keys(PART_DIRS) as PartName[]).find((p) => PART_DIRS[p].dir === sub);
    const id = part ? name.slice(0, -PART_DIRS[part].ext.length) : "";
    const e = entries.get(id);
    if (!part || !e || !hasPart(e, part)) {
      delete cache[rel];
      cacheChanged = true;
    }
  }
  return { entries, ignored: ignored.sort(), hashed, bytesRead, cacheChanged };
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

/**
 * Re-reads only these files (`<sub>/<name>`, e.g. from a watcher) and updates the vault's working
 * state and the stat cache exactly as a full scan of the folder would for them: a file gone, not
 * a regular file or unreadable as its part loses that part. Everything else is left as it is, so
 * the result equals a full scan when the other files did not change.
 */
export function rescanPaths(dir: string, v: Vault, cache: StatCache, rels: Iterable<string>, onFile?: (bytes: number) => void): Omit<ScanResult, "entries"> & { changed: number } {
  const out = { ignored: [] as string[], hashed: 0, bytesRead: 0, cacheChanged: false, changed: 0 };
  for (const rel of new Set(rels)) {
    const [sub, name, more] = rel.split("/");
    const part = (Object.keys(PART_DIRS) as PartName[]).find((p) => PART_DIRS[p].dir === sub);
    if (!part || !name || more !== undefined || (name.startsWith(".") && name.endsWith(".tmp"))) continue;
    const id = name.endsWith(PART_DIRS[part].ext) ? name.slice(0, -PART_DIRS[part].ext.length) : "";
    if (!isNoteId(id)) {
      if (statSync(join(dir, sub, name), { throwIfNoEntry: false })) out.ignored.push(`${rel}: not <id>${PART_DIRS[part].ext} with id [A-Za-z0-9._-]{1,128}`);
      continue;
    }
    const r = readFolderFile(join(dir, sub, name), part, cachedSig(cache, rel));
    let found: [Address, number] | null = null;
    if (r.kind === "cached") found = [cache[rel][3], cache[rel][4]];
    else if (r.kind === "notfile") out.ignored.push(`${rel}: not a regular file`);
    else if (r.kind !== "gone") {
      out.bytesRead += r.rawLength;
      out.hashed++;
      onFile?.(r.rawLength);
      if (r.kind === "bad") out.ignored.push(`${rel}: ${r.message}`);
      else {
        try {
          found = stageFile(v, part, r.bytes);
          cache[rel] = [...r.sig, ...found];
          out.cacheChanged = true;
        } catch (err) {
          out.ignored.push(`${rel}: ${(err as Error).message}`);
        }
      }
    }
    if (!found && cache[rel]) {
      delete cache[rel];
      out.cacheChanged = true;
    }
    const e = v.entry(id);
    const now = found ? ({ id } as Entry) : undefined;
    if (now && found) setPart(now, part, found[0], found[1]);
    if (partAddr(e, part) === partAddr(now, part) && (part !== "note" || !!e?.chunked === !!now?.chunked)) continue;
    v.setEntry(id, part === "note" ? { note: now?.note, chunked: now?.chunked } : part === "embedding" ? { embedding: now?.embedding, dims: now?.dims } : { position: now?.position });
    out.changed++;
  }
  out.ignored.sort();
  return out;
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

function hasPart(e: Entry, part: PartName): boolean {
  return part === "note" ? !!e.note : part === "embedding" ? !!e.embedding : !!e.position;
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

/**
 * Makes the folder match tree `to`, given that it matched tree `from` (per the stat cache). Writes
 * are atomic; a file whose stat no longer matches the cache was edited meanwhile and is skipped.
 */
export async function applyTree(dir: string, v: Vault, from: Address | null, to: Address, cache: StatCache): Promise<ApplyResult> {
  if (from === to) return { written: 0, deleted: 0, skipped: [] };
  return applyChanges(dir, v, (await diffTrees(from, to, v.load)).changes, cache);
}

/** Writes these entry changes to the folder (same rules as applyTree). */
export async function applyChanges(dir: string, v: Vault, changes: readonly TreeChange[], cache: StatCache): Promise<ApplyResult> {
  const out: ApplyResult = { written: 0, deleted: 0, skipped: [] };
  // Every path first: a change list with one unsafe id writes nothing at all.
  for (const c of changes) for (const part of Object.keys(PART_DIRS) as PartName[]) partPath(dir, part, c.id);
  for (const c of changes) {
    for (const part of ["note", "embedding", "position"] as PartName[]) {
      const before = partAddr(c.before, part);
      const after = partAddr(c.after, part);
      if (before === after) continue;
      const path = partPath(dir, part, c.id);
      const rel = `${PART_DIRS[part].dir}/${c.id}${PART_DIRS[part].ext}`;
      // Synchronous file calls, as in the scan: a clone writes tens of thousands of small files.
      const cur = statSync(path, { throwIfNoEntry: false });
      const cached = cache[rel];
      if (cur) {
        const [size, mtime, ino] = sig(cur);
        const untouched = cached && cached[0] === size && cached[1] === mtime && cached[2] === ino;
        // The file must be what we last saw (or already the new content), else the user is editing it.
        if (!untouched && !(cached && cached[3] === after)) {
          out.skipped.push(rel);
          continue;
        }
      } else if (before && cached) {
        // Deleted locally while we synced: leave it deleted; the next sync sends the delete.
        out.skipped.push(rel);
        continue;
      }
      if (!after) {
        if (cur) {
          try {
            unlinkSync(path);
          } catch {}
        }
        delete cache[rel];
        out.deleted++;
        continue;
      }
      const e = c.after as Entry;
      let bytes: Uint8Array;
      let extra = 0;
      if (part === "embedding") {
        bytes = await v.load(after);
        extra = e.dims ?? bytes.length / 4;
      } else {
        const raw = part === "note" ? await v.readPart(after, e.chunked) : await v.load(after);
        bytes = new TextEncoder().encode(JSON.stringify(decodeJsonPart(raw, part), null, 2) + "\n");
        extra = part === "note" && e.chunked ? 1 : 0;
      }
      const st = writeFileAtomicSync(path, bytes);
      cache[rel] = [...sig(st), after, extra];
      out.written++;
    }
  }
  return out;
}
