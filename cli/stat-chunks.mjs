// The stat loop of stat-files.ts, shared by the calling thread and its stat threads (stat-worker.mjs):
// plain JavaScript so a thread starts in ~20 ms without loading TypeScript. stat-files.ts documents
// the layout it writes.
//
// Node 20's statSync builds a Stats object and four Dates per call: at 300,000 files that is ~1.5
// million objects and, measured on a no-op sync of 100,000 notes, ~0.5 s of garbage collection on
// top of the stats themselves. Node's own binding fills one shared Float64Array instead; it is used
// only after it has answered a probe exactly as statSync does, else statSync is.
import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const STAT_MISSING = 0;
export const STAT_FILE = 1;
export const STAT_OTHER = 2;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
// Field positions of the binding's array (node's kFsStatsFieldsNumber layout).
const MODE = 1;
const INO = 7;
const SIZE = 8;
const MTIME_SEC = 12;
const MTIME_NSEC = 13;

/** statSync's answer for `path` as [size, mtimeMs, ino, kind] written at `at`. */
function statPortable(path, sigs, at) {
  let s;
  try {
    s = statSync(path, { throwIfNoEntry: false });
  } catch {
    s = undefined; // a file we cannot stat counts as missing, as in readFolderFile ("gone")
  }
  if (!s) sigs[at + 3] = STAT_MISSING;
  else {
    sigs[at] = s.size;
    sigs[at + 1] = s.mtimeMs;
    sigs[at + 2] = s.ino;
    sigs[at + 3] = s.isFile() ? STAT_FILE : STAT_OTHER;
  }
}

function bindingStatter() {
  let binding;
  try {
    binding = process.binding("fs");
  } catch {
    return null;
  }
  if (typeof binding?.stat !== "function") return null;
  const stat = (path, sigs, at) => {
    let v;
    try {
      v = binding.stat(path, false, undefined, false);
    } catch {
      v = undefined;
    }
    if (!v) sigs[at + 3] = STAT_MISSING;
    else {
      sigs[at] = v[SIZE];
      sigs[at + 1] = v[MTIME_SEC] * 1e3 + v[MTIME_NSEC] / 1e6; // Node's own mtimeMs formula
      sigs[at + 2] = v[INO];
      sigs[at + 3] = (v[MODE] & S_IFMT) === S_IFREG ? STAT_FILE : STAT_OTHER;
    }
  };
  // The probe: this module's own file and a missing path must answer as statSync does.
  const probe = fileURLToPath(import.meta.url);
  const a = new Float64Array(8);
  stat(probe, a, 0);
  statPortable(probe, a, 4);
  stat(`${probe}.missing`, a, 0);
  const missingOk = a[3] === STAT_MISSING;
  stat(probe, a, 0);
  if (a[7] !== STAT_FILE) return null;
  for (let i = 0; i < 4; i++) if (a[i] !== a[4 + i]) return null;
  return missingOk ? stat : null;
}

/** The fastest stat that answers exactly as statSync: (path, sigs, at) => void. */
export const statInto = bindingStatter() ?? statPortable;

/** fstatSync's [size, mtimeMs, ino] of an open file (a checkout takes one per file it writes). */
function fstatPortable(fd) {
  const s = fstatSync(fd);
  return [s.size, s.mtimeMs, s.ino];
}

function bindingFstatter() {
  let binding;
  try {
    binding = process.binding("fs");
  } catch {
    return null;
  }
  if (typeof binding?.fstat !== "function") return null;
  const fstat = (fd) => {
    const v = binding.fstat(fd, false, undefined, false);
    if (!v) return fstatPortable(fd); // an error: let fstatSync throw it
    return [v[SIZE], v[MTIME_SEC] * 1e3 + v[MTIME_NSEC] / 1e6, v[INO]];
  };
  // The probe: this module's own file must answer as fstatSync does.
  const fd = openSync(fileURLToPath(import.meta.url), "r");
  try {
    const a = fstat(fd);
    const b = fstatPortable(fd);
    return a.every((x, i) => x === b[i]) ? fstat : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** The fastest fstat that answers exactly as fstatSync: fd => [size, mtimeMs, ino]. */
export const fstatSig = bindingFstatter() ?? fstatPortable;

/**
 * Takes chunks from the shared counter `next[0]` until none is left and stats each of their paths
 * into `sigs`: path i of group g is `prefix + nameAt(g, i) + suffix`. Chunk c covers paths
 * [c x chunk, (c + 1) x chunk) of one group; `firstChunk[g]` is group g's first chunk (and
 * firstChunk[groups.length] the total).
 */
export function statChunks(groups, nameAt, firstChunk, chunk, sigs, next) {
  let g = 0;
  let base = 0; // index of group g's first path
  for (;;) {
    const c = Atomics.add(next, 0, 1);
    if (c >= firstChunk[groups.length]) return;
    while (c >= firstChunk[g + 1]) base += groups[g++].count;
    const { prefix, count, suffix } = groups[g];
    const start = (c - firstChunk[g]) * chunk;
    const end = Math.min(count, start + chunk);
    for (let i = start; i < end; i++) statInto(prefix + nameAt(g, i) + suffix, sigs, 4 * (base + i));
  }
}

/**
 * The groups' names as bytes in shared memory, for threads: `bytes` holds every name's UTF-8, each
 * followed by a NUL (no path holds one), over the groups in order; `ends[k]` is where name k's NUL
 * is. A thread decodes one name per stat instead of receiving 300,000 strings (a joined copy of them
 * cost ~45 MiB across one thread); one write per group keeps the encoding at memcpy speed.
 */
export function shareNames(groups) {
  const encoded = groups.map((g) => Buffer.from(g.names.length ? g.names.join("\0") + "\0" : ""));
  let byteLength = 0;
  let total = 0;
  for (let i = 0; i < groups.length; i++) {
    byteLength += encoded[i].length;
    total += groups[i].names.length;
  }
  const bytes = Buffer.from(new SharedArrayBuffer(byteLength));
  let at = 0;
  for (const e of encoded) {
    bytes.set(e, at);
    at += e.length;
  }
  const ends = new Int32Array(new SharedArrayBuffer(4 * total));
  let k = 0;
  for (let i = bytes.indexOf(0); i !== -1; i = bytes.indexOf(0, i + 1)) ends[k++] = i;
  if (k !== total) throw new Error(`shareNames: ${total} names but ${k} ends (a name holds a NUL)`);
  return { bytes: bytes.buffer, ends: ends.buffer };
}

/** nameAt over shareNames' buffers, given each group's first name index. */
export function sharedNameAt(shared, groupStarts) {
  const bytes = Buffer.from(shared.bytes);
  const ends = new Int32Array(shared.ends);
  return (g, i) => {
    const k = groupStarts[g] + i;
    return bytes.toString("utf8", k === 0 ? 0 : ends[k - 1] + 1, ends[k]);
  };
}
