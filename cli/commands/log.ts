// log <dir>: the vault's snapshot chain as the server keeps it.
import { parse, emit } from "../args.ts";
import { UsageError } from "../errors.ts";
import { openFolder, tokenFrom, explain } from "../context.ts";

export const summary = "List the vault's snapshots (newest first): id, time, device, counts.";
export const usage = "penumbra-sync log <dir> [--limit 20] [--token <t>] [--json]";

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { limit: { type: "string" } });
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError("--limit must be 1..1000");
  const ctx = await openFolder(positionals[0], tokenFrom(values.token));
  try {
    const log = await ctx.remote.log(limit);
    // Encrypted vaults: the server keeps no device, time or counts (it cannot read snapshots); this
    // device fills them in from the snapshots it holds (opened and authenticated like any object).
    if (ctx.vault.encrypted) {
      for (const e of log.snapshots) {
        if (e.device !== undefined) continue;
        const snap = await ctx.vault.snapshot(e.snapshot).catch(() => null);
        if (snap) Object.assign(e, { root: snap.root, device: snap.device, time: snap.time, stats: snap.stats });
      }
    }
    emit(values.json, log, () =>
      log.snapshots
        .map((s) => `${s.snapshot.slice(0, 16)}  #${s.seq}  ${s.time ?? s.committedAt}  ${s.device ?? "?"}  ${s.stats ? `${s.stats.notes} notes, ${s.stats.embeddings} embeddings, ${s.stats.positions} positions` : ""}${s.parents.length > 1 ? "  (merge)" : ""}`)
        .join("\n") || "(no snapshots yet)",
    );
    return 0;
  } catch (e) {
    explain(e, ctx);
  } finally {
    await ctx.store.close();
  }
}
