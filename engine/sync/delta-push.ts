// Pushes packs with their tree nodes as deltas against the server's tree (delta-frame.ts,
// delta-bases.ts), falling back to the packs as they are when the server refuses the deltas.
//
// Deltas are sent only in plain vaults (an encrypted vault's nodes are sealed; the server cannot
// resolve them) and only against the last synced snapshot, which is the server's head whenever the
// push can succeed. A server that refuses them — a Worker older than delta frames answers
// `bad_pack` for codec 3, a current one `bad_delta` (base gone, unreadable, over its read budget) —
// gets the same request again without deltas, and no more deltas in this run.
import { encodeWirePack, type BaseFinder } from "../core/delta-frame.ts";
import type { Address } from "../core/hash.ts";
import { RemoteError, type CommitRequest, type PushResult, type Remote } from "../remote/remote.ts";
import type { Vault } from "../vault/vault.ts";
import { treeBaseFinder } from "./delta-bases.ts";

export interface DeltaPusher {
  push(packs: Uint8Array[], commit?: CommitRequest): Promise<PushResult>;
}

export async function deltaPusher(v: Vault, remote: Remote, enabled = true): Promise<DeltaPusher> {
  const base = v.refs.base;
  let finder: BaseFinder | null = enabled && !v.encrypted && base ? treeBaseFinder((await v.snapshot(base as Address)).root, v.load) : null;
  return {
    async push(packs, commit) {
      if (!finder) return remote.push(packs, commit);
      const f = finder;
      // A base this device cannot read (damaged local state) only costs that node's delta.
      const wire = await Promise.all(packs.map((p) => encodeWirePack(p, (o, b) => f(o, b).catch(() => null))));
      try {
        return await remote.push(wire, commit);
      } catch (e) {
        if (!refusesDeltas(e)) throw e;
        finder = null;
        return remote.push(packs, commit);
      }
    },
  };
}

function refusesDeltas(e: unknown): boolean {
  if (!(e instanceof RemoteError) || e.status !== 400) return false;
  return e.code === "bad_delta" || (e.code === "bad_pack" && /frame codec 3\b/.test(e.message));
}
