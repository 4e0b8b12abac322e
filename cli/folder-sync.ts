// A vault folder synced by scanning it: scan -> local snapshot -> engine sync -> write what
// changed back to the folder. The one-shot `sync`, `push` and `pull` (when no watch owns the folder),
// `watch` (with the paths its watcher saw), `demo` and the benchmarks all go through syncFolder.
// Kept apart from cli/commands/sync.ts so that a one-shot sync a running watch serves loads none of it.
import { phaseEnded, progressDone } from "./heap-mode.ts";
import { openFolder, explain, saveCheckout, closeFolder, finishCheckout, type FolderContext } from "./context.ts";
import { scanFolder, scannedChanges, scannedEntry, applyTree, rescanPaths, type ScanResult } from "./vault-folder.ts";
import { sync, push, pull } from "../engine/sync/sync.ts";
import { EarlyUpload } from "../engine/sync/early-upload.ts";
import { commitFirst, keyOrder, takesFirstCommit } from "../engine/vault/commit-first.ts";
import { countChanges, type ChangeCounts, type SyncReport } from "../engine/sync/report.ts";
import type { Vault } from "../engine/vault/vault.ts";
import type { Entry } from "../engine/core/tree.ts";
import { makeProgress, type Progress } from "./progress.ts";
import { crashPoint, instrumentRemote } from "./crash-hook.ts";

export type Mode = "sync" | "push" | "pull";

/** Opens the folder, syncs it by a scan (showing `progress`), closes it; errors as a user can act on them (explain). */
export async function scanAndSync(dir: string, token: string, mode: Mode, progress: Progress) {
  const ctx = await openFolder(dir, token);
  try {
    let result;
    try {
      result = await syncFolder(ctx, mode, progress);
    } finally {
      progress.stop();
    }
    const { report, ignored, skipped, hashed } = result;
    return { report, ignored, skipped, hashed };
  } catch (e) {
    explain(e, ctx);
  } finally {
    await closeFolder(ctx);
  }
}

/**
 * Scan -> local snapshot -> engine sync -> write what changed back to the folder. With `paths`
 * (`<sub>/<name>` of files a watcher saw change) only those files are looked at (watch.ts).
 */
export async function syncFolder(ctx: FolderContext, mode: Mode, progress: Progress = makeProgress(false), paths?: Iterable<string>) {
  // A sync of this process that failed after moving the head (a merge whose push failed) left the
  // folder behind it: catch up first, as opening the folder would (watch keeps it open).
  await finishCheckout(ctx);
  let hashedBytes = 0;
  progress.phase("hashing");
  instrumentRemote(ctx.remote);
  // A big scan flushes packs as it goes: send them while it goes on (not for pull: it sends nothing).
  const early = mode === "pull" ? null : new EarlyUpload(ctx.vault, ctx.remote);
  const before = { ...ctx.remote.stats };
  let files = 0;
  const onFile = (n: number) => {
    progress.update((hashedBytes += n));
    early?.poke();
    // A big scan's garbage (file records, staged copies, packs built) is collected as it grows
    // (heap-mode.ts): an initial push at 100,000 notes peaked at 545 MiB instead of 628, for ~3 more
    // CPU-s. Looked at every 512 files read: the heap's statistics are not free.
    if (!paths && ++files % 512 === 0) progressDone();
  };
  let scan;
  // Given paths: their rows and working entries are updated in place; a full scan reports changes.
  // A vault's first snapshot takes the scan's changes from the checkout rows at its commit.
  const first = !paths && takesFirstCommit(ctx.vault);
  if (paths) scan = await rescanPaths(ctx.dir, ctx.vault, ctx.checkout, paths, onFile);
  else scan = await scanIntoVault(ctx, onFile, first);
  await ctx.reader.release?.();
  // A full scan's per-file records and the commit's decoded nodes are dead once each is done
  // (heap-mode.ts); a watcher's few paths leave little behind.
  if (!paths) phaseEnded();
  crashPoint("scanned");
  const localChanges = first ? await commitFirstCounted(ctx) : await commitCounted(ctx.vault);
  if (!paths) phaseEnded();
  await early?.settle(); // the commit's own pack (and a last flush's) go with the push
  const sentEarly = { requests: ctx.remote.stats.requests - before.requests, bytes: ctx.remote.stats.bytesUp - before.bytesUp };
  const from = ctx.vault.headRoot;
  // The folder now reflects `from`: record it before the head can move (crash safety, context.ts).
  await saveCheckout(ctx, from);
  crashPoint("committed");
  const op = mode === "sync" ? sync : mode === "push" ? push : pull;
  let phase = "";
  const report: SyncReport = await op(ctx.vault, ctx.remote, {
    sentPacks: early?.sent,
    onProgress: (p) => {
      const name = p.phase === "upload" ? "uploading" : "downloading";
      if (name !== phase) progress.phase((phase = name), p.total);
      progress.update(p.bytes);
      if (!paths) progressDone();
    },
  });
  progress.stop();
  if (!paths) phaseEnded();
  // The folder's changes were committed above, so the engine saw none: report them here.
  if (mode !== "pull" && localChanges) report.pushed = localChanges;
  report.uploaded.requests += sentEarly.requests;
  report.uploaded.bytes += sentEarly.bytes;
  crashPoint("synced");
  const to = ctx.vault.headRoot;
  let skipped: string[] = [];
  if (to && to !== from) skipped = (await applyTree(ctx.dir, ctx.vault, to, ctx.checkout)).skipped;
  ctx.store.releaseIndexMemory(); // what a big checkout held (the object index) is not kept through the state writes
  await saveCheckout(ctx, to);
  crashPoint("done");
  return { report, ignored: scan.ignored, skipped, hashed: scan.hashed, hashedBytes: scan.bytesRead };
}

/**
 * A full scan, its changes handed to the vault's working state and not kept: the vault holds its
 * own copy, and an initial push's 100,000 entries need not live twice through the commit and upload.
 * For a vault's `first` snapshot they are left in the checkout rows (commitFirstCounted walks them).
 */
async function scanIntoVault(ctx: FolderContext, onFile: (bytes: number) => void, first: boolean): Promise<Omit<ScanResult, "changes">> {
  const { changes, ...rest } = await scanFolder(ctx.dir, ctx.vault, ctx.checkout, onFile, ctx.reader, first ? "later" : (id, e) => (e ? ctx.vault.putEntry(e) : ctx.vault.removeEntry(id)));
  return rest;
}

/**
 * A vault's first snapshot, its tree built from the scan's changes as they are walked off the
 * checkout rows (engine/vault/commit-first.ts): an initial push never holds its 100,000 entries. A first
 * scan's changes are all additions (the checkout described the empty tree). The rows come in id
 * order, a plain tree's key order; a keyed tree (encrypted vaults) takes the ids in its key order
 * and each entry is made again from its rows at its turn.
 */
async function commitFirstCounted(ctx: FolderContext): Promise<ChangeCounts | null> {
  const { vault: v, checkout } = ctx;
  function* added(): Generator<Entry> {
    for (const [id, e] of scannedChanges(checkout)) {
      if (!e) throw new Error(`a first scan removed note ${id}, which no snapshot had`);
      yield e;
    }
  }
  function* inKeyOrder(): Generator<Entry> {
    // Each id with its rows' slots (3 a note): its entry is made again from them at its turn.
    const ids: string[] = [];
    const slots: number[] = [];
    for (const [id, e, s] of scannedChanges(checkout)) {
      if (!e) throw new Error(`a first scan removed note ${id}, which no snapshot had`);
      ids.push(id);
      slots.push(s[0], s[1], s[2]);
    }
    for (const i of keyOrder(v.keying, ids)) yield scannedEntry(checkout, ids[i], slots.slice(3 * i, 3 * i + 3))!;
  }
  const { added: n } = await commitFirst(v, v.keying.plainKeys ? added() : inKeyOrder());
  return n ? { added: n, modified: 0, deleted: 0 } : null;
}

/**
 * Commits the folder's changes and counts them at once: an initial push commits 100,000 changes,
 * which need not live through the upload (null: nothing changed).
 */
async function commitCounted(v: Vault): Promise<ChangeCounts | null> {
  const { changes } = await v.commit();
  return changes.length ? countChanges(changes) : null;
}
