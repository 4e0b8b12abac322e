// Bulk staging through the worker: notes are encoded, hashed and packed off the main thread, the
// packs stored as they are, and the vault's working state pointed at the new addresses. The next
// commit (or sync) records them; the packs are listed as unpushed, so the push uploads them as they
// are. Plain (sha256) vaults only: the worker names objects by SHA-256.
import type { StoredObject } from "../core/object.ts";
import type { ObjectType } from "../core/object.ts";
import type { Vault } from "../vault/vault.ts";
import type { EngineWorker } from "./client.ts";
import type { NoteInput, StageResult } from "./protocol.ts";
import { yieldToEventLoop } from "../store/idb-store.ts";

export interface StageReport {
  notes: number;
  packs: number;
  bytes: number;
  rejected: StageResult["rejected"];
}

export async function stageNotes(vault: Vault, worker: EngineWorker, input: { notes?: NoteInput[]; json?: Blob | string }): Promise<StageReport> {
  const r = await worker.stage(input, vault.packTarget);
  let bytes = 0;
  for (const p of r.packs) {
    const objects: StoredObject[] = p.addrs.map((addr, i) => ({ addr, type: p.types[i] as ObjectType, bytes: p.data.subarray(p.starts[i], i + 1 < p.starts.length ? p.starts[i + 1] : p.data.length) }));
    await vault.store.putObjects(objects, p.bytes);
    bytes += p.bytes.length;
  }
  // Listed before the entries point at them: a push must carry these packs.
  await vault.setRefs({ unpushed: [...vault.refs.unpushed, ...r.packs.map((p) => p.id)], unpushedBytes: (vault.refs.unpushedBytes ?? 0) + bytes });
  let t = performance.now();
  for (const e of r.entries) {
    const { id, ...parts } = e;
    vault.setEntry(id, parts);
    if (performance.now() - t > 8) {
      await yieldToEventLoop();
      t = performance.now();
    }
  }
  return { notes: r.entries.length, packs: r.packs.length, bytes, rejected: r.rejected };
}
