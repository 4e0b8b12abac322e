// verify <dir>: re-hash every object this device holds for its head and every object the remote
// serves for its head, and name the notes any corruption touches.
import { parse, emit } from "../args.ts";
import { openFolder, tokenFrom, explain } from "../context.ts";
import { iterateTree, entryRefs, decodeNode } from "../../engine/core/tree.ts";
import { decodeChunkList } from "../../engine/core/chunklist.ts";
import type { Address } from "../../engine/core/hash.ts";
import type { Vault } from "../../engine/vault/vault.ts";

export const summary = "Re-hash local and remote objects and report any corruption (and which notes it touches).";
export const usage = "penumbra-sync verify <dir> [--token <t>] [--json]";

/** Every object reachable from a snapshot, with the note ids that reference each. */
async function reachable(v: Vault, snapshot: Address): Promise<{ objects: Map<Address, string[]>; broken: Map<Address, string> }> {
  const objects = new Map<Address, string[]>();
  const broken = new Map<Address, string>();
  const add = (a: Address, id?: string) => {
    const ids = objects.get(a) ?? [];
    if (id) ids.push(id);
    objects.set(a, ids);
  };
  add(snapshot);
  const safeLoad = async (a: Address) => {
    try {
      return await v.load(a);
    } catch (e) {
      broken.set(a, (e as Error).message);
      return null;
    }
  };
  const snapBytes = await safeLoad(snapshot);
  if (!snapBytes) return { objects, broken };
  const root = (await v.snapshot(snapshot)).root;
  const walk = async (node: Address): Promise<void> => {
    add(node);
    const bytes = await safeLoad(node);
    if (!bytes) return;
    const n = decodeNode(bytes);
    if (n.level > 0) for (const c of (n as { children: { addr: Address }[] }).children) await walk(c.addr);
  };
  await walk(root);
  if (broken.size === 0) {
    for await (const e of iterateTree(root, v.load)) {
      for (const a of entryRefs(e)) add(a, e.id);
      if (e.chunked && e.note) {
        const list = await safeLoad(e.note);
        if (list) for (const c of decodeChunkList(list).chunks) add(c.addr, e.id);
      }
    }
  }
  return { objects, broken };
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const ctx = await openFolder(positionals[0], tokenFrom(values.token));
  try {
    const v = ctx.vault;
    const head = v.refs.head;
    const local = { checked: 0, corrupt: [] as { addr: Address; notes: string[]; error: string }[] };
    const refs = head ? await reachable(v, head) : { objects: new Map<Address, string[]>(), broken: new Map<Address, string>() };
    for (const [addr, error] of refs.broken) local.corrupt.push({ addr, notes: refs.objects.get(addr) ?? [], error });
    for (const [addr, notes] of refs.objects) {
      if (refs.broken.has(addr)) continue;
      local.checked++;
      try {
        await v.load(addr);
      } catch (e) {
        local.corrupt.push({ addr, notes, error: (e as Error).message });
      }
    }
    // The remote: pull everything it serves and check each pack and object by hash.
    const remote = { checked: 0, packs: 0, corruptPacks: 0, missing: [] as Address[], errors: [] as string[] };
    const seen = new Set<Address>();
    let remoteHead: Address | null = null;
    try {
      const res = await ctx.remote.pull(null, [], async (pack) => {
        remote.packs++;
        try {
          // Plain vaults: every object's SHA-256; encrypted vaults: every object authenticated (opened).
          for (const o of await v.readPack(pack)) seen.add(o.addr);
        } catch (e) {
          remote.corruptPacks++;
          remote.errors.push((e as Error).message);
        }
      });
      remoteHead = res.head?.snapshot ?? null;
      if (remoteHead === head) for (const a of refs.objects.keys()) if (!seen.has(a)) remote.missing.push(a);
      remote.checked = seen.size;
    } catch (e) {
      explain(e, ctx);
    }
    const affected = [...new Set([...local.corrupt.flatMap((c) => c.notes), ...remote.missing.flatMap((a) => refs.objects.get(a) ?? [])])].sort();
    const ok = local.corrupt.length === 0 && remote.corruptPacks === 0 && remote.missing.length === 0;
    const out = { ok, head, remoteHead, local, remote, affectedNotes: affected };
    emit(values.json, out, () =>
      [
        `local: ${local.checked} object(s) checked, ${local.corrupt.length} corrupt`,
        `remote: ${remote.packs} pack(s), ${remote.checked} object(s) checked, ${remote.corruptPacks} corrupt pack(s), ${remote.missing.length} object(s) of the head missing or damaged`,
        ...remote.errors.slice(0, 5).map((e) => `  ${e}`),
        ok ? "ok" : `affected notes: ${affected.join(", ") || "(tree structure)"}`,
      ].join("\n"),
    );
    return ok ? 0 : 1;
  } finally {
    await ctx.store.close();
  }
}
