// restore <dir> --snapshot <id> [--note <id>]: bring back a vault state or one note from history.
// The restored files are recorded as a local snapshot: the next sync sends them like any other change.
// The folder's current state is recorded as a local snapshot first, so a restore is itself undoable.
import { parse, emit } from "../args.ts";
import { UsageError, CliError } from "../errors.ts";
import { openFolder, tokenFrom, explain, saveCheckout } from "../context.ts";
import { scanFolder, applyChanges } from "../vault-folder.ts";
import { fetchSnapshot } from "../../engine/sync/sync.ts";
import { diffTrees, lookup } from "../../engine/core/tree.ts";
import { isAddress } from "../../engine/core/hash.ts";
import { isNoteId } from "../../engine/core/parts.ts";

export const summary = "Bring back the whole vault, or one note, as it was in a snapshot (then run sync to send it).";
export const usage = "penumbra-sync restore <dir> --snapshot <id> [--note <id>] [--token <t>] [--json]";

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { snapshot: { type: "string" }, note: { type: "string" } });
  if (!values.snapshot || !/^[0-9a-f]{8,64}$/.test(values.snapshot)) throw new UsageError("--snapshot <id> is required (a snapshot id from `log`)");
  if (values.note !== undefined && !isNoteId(values.note)) throw new UsageError("--note must be a note id [A-Za-z0-9._-]{1,128}");
  const ctx = await openFolder(positionals[0], tokenFrom(values.token));
  try {
    const v = ctx.vault;
    let snapshot = values.snapshot;
    if (!isAddress(snapshot)) {
      // A prefix, as `log` prints: resolve it against the remote log.
      const matches = (await ctx.remote.log(1000)).snapshots.filter((s) => s.snapshot.startsWith(snapshot));
      if (matches.length !== 1) throw new CliError(`snapshot ${snapshot} ${matches.length ? "is ambiguous" : "is not in the last 1000 snapshots"}`, "give more of its id (see log)");
      snapshot = matches[0].snapshot;
    }
    const scan = await scanFolder(ctx.dir, v, ctx.checkout, undefined, ctx.reader);
    v.updateEntries(scan.changes);
    await v.commit("before restore");
    await saveCheckout(ctx, v.headRoot);
    await fetchSnapshot(v, ctx.remote, snapshot);
    const target = (await v.snapshot(snapshot)).root;
    let changes;
    if (values.note) {
      const old = await lookup(target, v.keying.keyOf(values.note), v.load);
      if (!old) throw new CliError(`note ${values.note} is not in snapshot ${snapshot.slice(0, 16)}`, "pick another snapshot (see log)");
      const cur = await v.entryOf(values.note);
      changes = [{ id: values.note, before: cur, after: old }];
    } else changes = (await diffTrees(v.headRoot, target, v.load)).changes;
    const r = await applyChanges(ctx.dir, v, changes, ctx.checkout);
    // The restored state becomes a local snapshot, which the checkout's rows now describe (a file
    // left alone keeps an unknown signature: the next scan reads it, and the user's edit wins).
    for (const c of changes) {
      if (c.after) v.putEntry(c.after);
      else v.removeEntry(c.id);
    }
    await v.commit("restore");
    await saveCheckout(ctx, v.headRoot);
    const out = { snapshot, note: values.note ?? null, restored: changes.length, written: r.written, deleted: r.deleted, skipped: r.skipped };
    emit(values.json, out, () => `restored ${values.note ? `note ${values.note}` : `${changes.length} change(s)`} from snapshot ${snapshot.slice(0, 16)}: ${r.written} file(s) written, ${r.deleted} removed. Run sync to send it.`);
    return 0;
  } catch (e) {
    explain(e, ctx);
  } finally {
    await ctx.store.close();
  }
}
