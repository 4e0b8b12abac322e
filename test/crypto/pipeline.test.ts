// Throughput of the client pipeline with encryption (bench/pipeline.ts has it stage by stage),
// measured the way bench/ measures the plain one
// (vault bytes read and hashed per second of folder scan + commit into the local file store), for a
// plain and an encrypted vault on the same generated folder, plus the read side (every part read
// back through the store: opened, inflated and verified). Prints the numbers; asserts only that
// both vaults hold the same notes (times on a shared machine are not for asserting).
// PENUMBRA_LONG=1 runs the 10,000-note vault (46 MB) of the budgets; by default 2,000 notes.
import { describe, it, expect } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Vault } from "../../engine/vault/vault.ts";
import { FsStore } from "../../engine/node/fs-store.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { installNodeCrypto } from "../../engine/crypto/node.ts";
import { installSealPool } from "../../engine/node/seal-pool.ts";
import { VaultKeys } from "../../engine/crypto/keys.ts";
import { CheckoutIndex } from "../../cli/checkout-index.ts";
import { scanFolder } from "../../cli/vault-folder.ts";
import { generateVault } from "../../sample/generator.ts";
import { writeVaultFolder } from "../../sample/folder.ts";

installNodeFastPaths();
installNodeCrypto();
installSealPool(); // as the CLI does for encrypted vaults (plain vaults never seal)
const NOTES = process.env.PENUMBRA_LONG ? 10_000 : 2_000;

function clock() {
  const t = performance.now();
  const c = process.cpuUsage();
  return () => {
    const d = process.cpuUsage(c);
    return { wallMs: performance.now() - t, cpuMs: (d.user + d.system) / 1000 };
  };
}

async function run(folder: string, keys?: VaultKeys) {
  const dir = await mkdtemp(path.join(tmpdir(), "penumbra-pipe-"));
  try {
    const store = await FsStore.open(dir, nodeCompressor);
    const v = await Vault.open({ store, compressor: nodeCompressor, keys, device: "bench" });
    const write = clock();
    const scan = await scanFolder(folder, v, CheckoutIndex.empty());
    v.updateEntries(scan.changes);
    await v.commit();
    const w = write();
    await store.close();
    const store2 = await FsStore.open(dir, nodeCompressor);
    const v2 = await Vault.open({ store: store2, compressor: nodeCompressor, keys });
    const read = clock();
    let readBytes = 0;
    for (const id of v2.ids()) {
      const e = v2.entry(id)!;
      if (e.note) readBytes += (await v2.readPart(e.note, e.chunked)).length;
      if (e.embedding) readBytes += (await v2.load(e.embedding)).length;
      if (e.position) readBytes += (await v2.load(e.position)).length;
    }
    const r = read();
    await store2.close();
    return { bytes: scan.bytesRead, readBytes, w, r, ids: v2.ids(), head: v2.refs.head };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe(`client pipeline throughput, ${NOTES.toLocaleString("en")} notes`, () => {
  it("scan + commit (write) and read-back, plain vs encrypted", async () => {
    const folder = await mkdtemp(path.join(tmpdir(), "penumbra-pipe-folder-"));
    try {
      await writeVaultFolder(folder, generateVault({ notes: NOTES, seed: 42 }));
      const keys = VaultKeys.generate();
      const mbs = (bytes: number, ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(1);
      const rows: string[] = [];
      let plain;
      let enc;
      // Twice each, alternating: the second round has warm caches and JIT on both sides.
      for (let round = 0; round < 2; round++) {
        plain = await run(folder);
        enc = await run(folder, keys);
        for (const [name, x] of [["plain", plain], ["encrypted", enc]] as const)
          rows.push(
            `round ${round + 1} ${name.padEnd(9)} ${(x.bytes / 1e6).toFixed(1)} MB: write ${mbs(x.bytes, x.w.wallMs)} MB/s (cpu ${mbs(x.bytes, x.w.cpuMs)}), read ${mbs(x.readBytes, x.r.wallMs)} MB/s (cpu ${mbs(x.readBytes, x.r.cpuMs)})`,
          );
      }
      console.log(rows.join("\n"));
      expect(enc!.ids).toEqual(plain!.ids);
      expect(enc!.readBytes).toBe(plain!.readBytes);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }, 600_000);
});
