// Throughput of the client pipeline, stage by stage, for plain and encrypted vaults, with every
// step on the main thread ("inline") and with the worker threads the CLI uses ("threads": the seal
// pool for sealing, the scan pool for reading the folder). Prints a markdown table (and writes it
// with --out).
//
//   node --import tsx bench/pipeline.ts [--notes 10000] [--rounds 3] [--seed 42] [--out file.md]
//                                       [--stage engine] [--mode pool]     (one case, for a profile)
//
// Stages (MB = 1e6 bytes of vault data: note files, embeddings and positions as the folder holds them):
//   seal      the work encryption adds: every object sealed (DEFLATE where it pays, padding, SIV
//             nonce, XChaCha20-Poly1305), from canonical, addressed objects in memory
//   pack      staged objects -> packs in the file store (plain: gzip frames; encrypted: sealed objects)
//   engine    note files' bytes in memory -> parsed, canonical, addressed, staged, packed (a
//             background flush every 16 MiB, as the scan does) and committed: the engine API's path
//   folder    the CLI's path: the vault folder scanned (stat, read, parse, ...) and committed
// Each figure is the median of the rounds; cpu is the process's CPU time (all threads) per wall
// second, so "2.0" means both cores of this machine were busy throughout.
import { parseArgs } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir, availableParallelism, cpus } from "node:os";
import path from "node:path";
import { Vault } from "../engine/vault/vault.ts";
import { FsStore } from "../engine/node/fs-store.ts";
import { installNodeFastPaths, nodeCompressor } from "../engine/node/native.ts";
import { installNodeCrypto } from "../engine/crypto/node.ts";
import { VaultKeys } from "../engine/crypto/keys.ts";
import { inlineSealer, useBatchSealer } from "../engine/crypto/seal-batch.ts";
import { SealPool } from "../engine/node/seal-pool.ts";
import { ScanPool } from "../cli/scan-pool.ts";
import { ObjectType } from "../engine/core/object.ts";
import { canonicalBytes, parseJsonObjectBytes } from "../engine/core/canonical.ts";
import { CheckoutIndex } from "../cli/checkout-index.ts";
import { scanFolder } from "../cli/vault-folder.ts";
import { generateVault, embeddingBytes } from "../sample/generator.ts";
import { writeVaultFolder } from "../sample/folder.ts";

installNodeFastPaths();
installNodeCrypto();

const { values: args } = parseArgs({
  options: {
    notes: { type: "string", default: "10000" },
    rounds: { type: "string", default: "3" },
    seed: { type: "string", default: "42" },
    out: { type: "string" },
    // For profiling one case: a stage name and a vault mode name (substrings), e.g. --stage engine --mode pool
    stage: { type: "string", default: "" },
    mode: { type: "string", default: "" },
  },
});
const NOTES = Number(args.notes);
const ROUNDS = Number(args.rounds);
const FLUSH_BYTES = 16 * 1024 * 1024;

interface Item {
  id: string;
  note: Uint8Array;
  embedding: Uint8Array;
  position: Uint8Array;
}

const te = new TextEncoder();
const items: Item[] = [];
for (const n of generateVault({ notes: NOTES, seed: Number(args.seed) }))
  // The bytes writeVaultFolder puts in the files (so that every stage handles the same data).
  items.push({ id: n.id, note: te.encode(JSON.stringify(n.note, null, 2)), embedding: embeddingBytes(n.embedding), position: te.encode(JSON.stringify(n.position)) });
const vaultBytes = items.reduce((s, i) => s + i.note.length + i.embedding.length + i.position.length, 0);

type Mode = { name: string; keys?: VaultKeys; threads?: boolean };
const keys = VaultKeys.generate();
const MODES: Mode[] = [{ name: "plain, inline" }, { name: "plain, threads", threads: true }, { name: "encrypted, inline", keys }, { name: "encrypted, threads", keys, threads: true }];
const pool = new SealPool();
const scanPool = new ScanPool();

interface Sample {
  ms: number;
  cpuMs: number;
}

async function time(f: () => Promise<void>): Promise<Sample> {
  const t = performance.now();
  const c = process.cpuUsage();
  await f();
  const d = process.cpuUsage(c);
  return { ms: performance.now() - t, cpuMs: (d.user + d.system) / 1000 };
}

async function withStore<T>(f: (store: FsStore) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "penumbra-pipeline-"));
  const store = await FsStore.open(dir, nodeCompressor);
  try {
    return await f(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Stages every part of every note (parse, canonical form, address); returns the entries' count. */
async function stageAll(v: Vault, flushEvery = Infinity): Promise<void> {
  let k = 0;
  for (const it of items) {
    const r = v.stageNoteBytes(canonicalBytes(parseJsonObjectBytes(it.note, "note")));
    const e = v.stageEmbeddingBytes(it.embedding);
    const p = v.stageJsonBlob(canonicalBytes(parseJsonObjectBytes(it.position, "position")));
    v.setEntry(it.id, { note: r.note, chunked: r.chunked, embedding: e, dims: it.embedding.length / 4, position: p });
    if (v.stagedBytes >= flushEvery) await v.flushStaged({ background: true });
    // While sealing runs on other threads, let its answers in (as the folder scan does).
    else if (v.flushInProgress && ++k % 16 === 0) await new Promise(setImmediate);
  }
}

// A null sample: the mode changes nothing in this stage (plain vaults never seal; only the folder is read on threads).
const stages: Record<string, (m: Mode) => Promise<Sample | null>> = {
  async seal(m) {
    if (!m.keys) return null;
    const jobs = items.flatMap((it) => {
      const note = canonicalBytes(parseJsonObjectBytes(it.note, "note"));
      const position = canonicalBytes(parseJsonObjectBytes(it.position, "position"));
      return [
        { type: ObjectType.Blob, addr: keys.addressOf(note), bytes: note, compress: true },
        { type: ObjectType.Blob, addr: keys.addressOf(it.embedding), bytes: it.embedding, compress: false },
        { type: ObjectType.Blob, addr: keys.addressOf(position), bytes: position, compress: true },
      ];
    });
    return time(async () => {
      // In 8 MiB windows, the next one sealing while the last is taken, as Vault.writePacks seals.
      const windows: (typeof jobs)[] = [[]];
      let bytes = 0;
      for (const j of jobs) {
        if (bytes >= 8 << 20) {
          windows.push([]);
          bytes = 0;
        }
        windows[windows.length - 1].push(j);
        bytes += j.bytes.length;
      }
      let next = m.keys!.sealMany(windows[0]);
      for (let w = 0; w < windows.length; w++) {
        const sealed = await next;
        if (w + 1 < windows.length) next = m.keys!.sealMany(windows[w + 1]);
        if (sealed.length !== windows[w].length) throw new Error("sealer lost objects");
      }
    });
  },
  async pack(m) {
    if (m.threads && !m.keys) return null;
    return withStore(async (store) => {
      const v = await Vault.open({ store, compressor: nodeCompressor, keys: m.keys, device: "bench" });
      await stageAll(v);
      return time(() => v.flushStaged());
    });
  },
  async engine(m) {
    if (m.threads && !m.keys) return null;
    return withStore(async (store) => {
      const v = await Vault.open({ store, compressor: nodeCompressor, keys: m.keys, device: "bench" });
      return time(async () => {
        await stageAll(v, FLUSH_BYTES);
        await v.commit();
      });
    });
  },
  async folder(m) {
    return withStore(async (store) => {
      const v = await Vault.open({ store, compressor: nodeCompressor, keys: m.keys, device: "bench" });
      return time(async () => {
        const scan = await scanFolder(folder, v, CheckoutIndex.empty(), undefined, m.threads ? scanPool : undefined);
        if (scan.bytesRead !== vaultBytes) throw new Error(`the scan read ${scan.bytesRead} bytes, the vault has ${vaultBytes}`);
        v.updateEntries(scan.changes);
        await v.commit();
      });
    });
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const folder = await mkdtemp(path.join(tmpdir(), "penumbra-pipeline-folder-"));
const rows: string[] = [];
try {
  await writeVaultFolder(folder, generateVault({ notes: NOTES, seed: Number(args.seed) }));
  for (const [stage, run] of Object.entries(stages)) {
    if (!stage.includes(args.stage as string)) continue;
    for (const m of MODES) {
      if (!m.name.includes(args.mode as string)) continue;
      useBatchSealer(m.threads ? pool : inlineSealer);
      const samples: Sample[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const s = await run(m);
        if (s) samples.push(s);
      }
      if (!samples.length) continue;
      const ms = median(samples.map((s) => s.ms));
      const cpu = median(samples.map((s) => s.cpuMs / s.ms));
      const row = `| ${stage} | ${m.name} | ${((vaultBytes / 1e3) / ms).toFixed(1)} | ${ms.toFixed(0)} | ${cpu.toFixed(2)} |`;
      console.log(row);
      rows.push(row);
    }
  }
} finally {
  useBatchSealer(inlineSealer);
  await pool.close();
  await scanPool.close();
  await rm(folder, { recursive: true, force: true });
}

const report = [
  `# Client pipeline throughput, ${NOTES.toLocaleString("en")} notes (${(vaultBytes / 1e6).toFixed(1)} MB of vault data)`,
  "",
  `${availableParallelism()} cores (${cpus()[0]?.model ?? "unknown"}), Node ${process.version}, median of ${ROUNDS} rounds; seal pool and scan pool: ${pool.size} worker threads each.`,
  "",
  "| stage | vault | MB/s | ms | cpu (cores busy) |",
  "|---|---|---:|---:|---:|",
  ...rows,
  "",
].join("\n");
if (args.out) await writeFile(args.out, report);
else console.log("\n" + report);
