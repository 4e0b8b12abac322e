// The snapshot DAG: where two heads last agreed.
import type { Address } from "../core/hash.ts";
import type { Vault } from "../vault/vault.ts";
import { MissingObjectError } from "../vault/vault.ts";

async function ancestors(v: Vault, start: Address): Promise<Set<Address>> {
  const seen = new Set<Address>();
  const queue = [start];
  while (queue.length) {
    const s = queue.pop() as Address;
    if (seen.has(s)) continue;
    seen.add(s);
    try {
      queue.push(...(await v.snapshot(s)).parents);
    } catch (e) {
      // History older than what this device holds ends the walk there.
      if (!(e instanceof MissingObjectError)) throw e;
    }
  }
  return seen;
}

/**
 * The lowest common ancestor of two snapshots (null when they share none). With several (criss-
 * cross merges), the one with the smallest address: any fixed choice keeps merges deterministic.
 */
export async function mergeBase(v: Vault, a: Address, b: Address): Promise<Address | null> {
  const [aa, bb] = await Promise.all([ancestors(v, a), ancestors(v, b)]);
  const common = [...aa].filter((x) => bb.has(x));
  if (common.length === 0) return null;
  const dominated = new Set<Address>();
  for (const c of common) {
    for (const p of await ancestors(v, c)) if (p !== c) dominated.add(p);
  }
  const lowest = common.filter((c) => !dominated.has(c)).sort();
  return lowest[0] ?? null;
}
