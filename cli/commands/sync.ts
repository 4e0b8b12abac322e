// sync <dir>: pull + merge + push between the vault folder and the remote. When a watch owns the
// folder, it is asked to sync (watch-socket.ts) and nothing else is loaded: no store, no scan.
import { parse, emit } from "../args.ts";
import { askWatch } from "../watch-socket.ts";
import type { SyncReport } from "../../engine/sync/report.ts";

export const summary = "Pull, merge and push: bring the folder and the remote to the same state.";
export const usage = "penumbra-sync sync <dir> [--token <t>] [--json]";

export type Mode = "sync" | "push" | "pull";

export async function runSyncLike(mode: Mode, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  // A watch owns the folder (two processes must not write its local state at once) and knows what
  // changed: it syncs for us, nothing is scanned here. A watch syncs both ways, so push and pull
  // get a sync. No watch (or a stale one): the scan, as always.
  const asked = await askWatch(positionals[0], mode);
  if (asked.servedBy === "watch") {
    const { report, ignored, skipped, hashed } = asked.result;
    const out = { ...report, ignored, skipped, hashed, servedBy: "watch" as const, watchPid: asked.pid };
    emit(values.json, out, () => `${humanReport("sync", out)}\n  served by the running watch (pid ${asked.pid}${mode === "sync" ? "" : `, which syncs both ways: asked for ${mode}`}); nothing was scanned here`);
    return 0;
  }
  if (asked.stale) process.stderr.write(`note: ${asked.stale}; scanning the folder\n`);
  const [{ tokenFrom }, { scanAndSync }, { makeProgress, progressWanted }] = await Promise.all([import("../context.ts"), import("../folder-sync.ts"), import("../progress.ts")]);
  const token = tokenFrom(values.token);
  const r = await scanAndSync(positionals[0], token, mode, makeProgress(progressWanted(values.json)));
  const out = { ...r.report, ignored: r.ignored, skipped: r.skipped, hashed: r.hashed, servedBy: "scan" as const };
  emit(values.json, out, () => humanReport(mode, out));
  return 0;
}

function humanReport(mode: Mode, r: SyncReport & { ignored: string[]; skipped: string[] }): string {
  const kb = (n: number) => (n < 10240 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);
  const lines = [
    `${mode}: snapshot ${r.snapshot ?? "(empty vault)"}`,
    `  sent ${kb(r.uploaded.bytes)} in ${r.uploaded.requests} request(s); received ${kb(r.downloaded.bytes)} in ${r.downloaded.requests} request(s)`,
    `  local changes sent: +${r.pushed.added} ~${r.pushed.modified} -${r.pushed.deleted}; remote changes applied: +${r.changes.added} ~${r.changes.modified} -${r.changes.deleted}`,
  ];
  if (r.merged) lines.push(`  merged concurrent edits (${r.conflicts.length} conflict(s) resolved)`);
  for (const c of r.conflicts) lines.push(`  conflict: ${c.id}: ${c.kind}${c.copy ? ` -> copy ${c.copy}` : ""}`);
  if (r.needsEmbedding.length) lines.push(`  re-embed: ${r.needsEmbedding.join(", ")}`);
  for (const i of r.ignored) lines.push(`  ignored ${i}`);
  for (const s of r.skipped) lines.push(`  left alone (edited during sync, next sync sends it): ${s}`);
  return lines.join("\n");
}

export const run = (args: string[]) => runSyncLike("sync", args);
