// status <dir>: local changes not yet pushed, the remote head, the last sync.
import { parse, emit } from "../args.ts";
import { openFolder, tokenFrom, explain } from "../context.ts";
import { scanFolder } from "../vault-folder.ts";
import { diffTrees } from "../../engine/core/tree.ts";
import { updateTree } from "../../engine/core/tree-update.ts";
import { countChanges } from "../../engine/sync/report.ts";

export const summary = "Show local changes not yet pushed, the remote head and the last synced snapshot.";
export const usage = "penumbra-sync status <dir> [--token <t>] [--json]";

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const ctx = await openFolder(positionals[0], tokenFrom(values.token));
  try {
    const scan = await scanFolder(ctx.dir, ctx.vault, ctx.checkout, undefined, ctx.reader);
    const tree = await updateTree(ctx.vault.headRoot, scan.changes, ctx.vault.load, ctx.vault.keying, ctx.vault.keyHashCache);
    const baseRoot = await ctx.vault.rootOf(ctx.vault.refs.base);
    const load = async (a: string) => tree.nodes.get(a) ?? ctx.vault.load(a);
    const local = (await diffTrees(baseRoot, tree.root, load)).changes;
    let remoteHead: string | null = null;
    let remoteError: string | undefined;
    try {
      remoteHead = (await ctx.remote.info())?.head?.snapshot ?? null;
    } catch (e) {
      try {
        explain(e, ctx);
      } catch (err) {
        remoteError = (err as Error).message;
      }
    }
    const out = {
      unpushed: countChanges(local),
      changed: local.map((c) => ({ id: c.id, change: !c.before ? "added" : !c.after ? "deleted" : "modified" })),
      lastSynced: ctx.vault.refs.base,
      localHead: ctx.vault.refs.head,
      remoteHead,
      upToDate: remoteHead === ctx.vault.refs.base && local.length === 0,
      ignored: scan.ignored,
      ...(remoteError ? { remoteError } : {}),
    };
    emit(values.json, out, () =>
      [
        `local changes not pushed: +${out.unpushed.added} ~${out.unpushed.modified} -${out.unpushed.deleted}`,
        ...out.changed.slice(0, 20).map((c) => `  ${c.change} ${c.id}`),
        `last synced snapshot: ${out.lastSynced ?? "(never)"}`,
        `remote head: ${remoteError ? `unknown (${remoteError})` : (remoteHead ?? "(empty vault)")}`,
        out.upToDate ? "up to date" : remoteHead !== out.lastSynced ? "remote has changes: run sync" : "run sync to send local changes",
      ].join("\n"),
    );
    return 0;
  } finally {
    await ctx.store.close();
  }
}
