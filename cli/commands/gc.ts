// gc <dir>: ask the server to garbage-collect the folder's vault (POST /v1/vaults/:vault/gc), step
// by step until it is done; prints bytes, packs and objects before and after (docs/reliability.md).
import { parse, emit } from "../args.ts";
import { readFolderConfig, tokenFrom } from "../context.ts";
import { CliError } from "../errors.ts";

export const summary = "Garbage-collect the vault on the server (retention policy; --keep-head keeps only the head).";
export const usage = "penumbra-sync gc <dir> [--keep-head] [--token <t>] [--json]";

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { "keep-head": { type: "boolean" } });
  const config = await readFolderConfig(positionals[0]);
  const token = tokenFrom(values.token as string | undefined);
  const url = `${config.remote.replace(/\/+$/, "")}/v1/vaults/${encodeURIComponent(config.vault)}/gc`;
  const body = values["keep-head"] ? JSON.stringify({ keep: "head" }) : "";
  let first: Record<string, any> | null = null;
  let last: Record<string, any> = {};
  const total = { deletedPacks: 0, repackedPacks: 0, prunedSnapshots: 0 };
  for (let step = 0; step < 100; step++) {
    let res: Response;
    try {
      res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });
    } catch (e) {
      throw new CliError(`cannot reach ${config.remote}: ${(e as Error).message}`, "is the server running?", "unreachable");
    }
    last = (await res.json().catch(() => ({}))) as Record<string, any>;
    if (!res.ok) throw new CliError(`the server answered ${res.status} ${last.error ?? ""}: ${last.message ?? ""}`, undefined, String(last.error ?? "gc_failed"));
    if (last.busy) await new Promise((r) => setTimeout(r, 1000));
    else {
      first ??= last;
      total.deletedPacks += last.deletedPacks;
      total.repackedPacks += last.repackedPacks;
      total.prunedSnapshots += last.prunedSnapshots;
    }
    if (!last.more) break;
  }
  const out = { before: first?.before ?? last.before, after: last.after, ...total, more: !!last.more, unreadable: last.unreadable };
  emit(values.json, out, () =>
    [
      `gc: ${out.before?.bytes} -> ${out.after?.bytes} bytes, ${out.before?.packs} -> ${out.after?.packs} packs, ${out.before?.objects} -> ${out.after?.objects} objects`,
      `  deleted ${total.deletedPacks} pack(s), repacked ${total.repackedPacks}, pruned ${total.prunedSnapshots} snapshot(s)${out.more ? " (more work remains: run again)" : ""}`,
      ...(out.unreadable ? [`  stopped: unreadable objects ${out.unreadable.join(", ")} (run verify)`] : []),
    ].join("\n"),
  );
  return out.unreadable ? 1 : 0;
}
