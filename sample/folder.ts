// The sample vault on disk: writes generated notes in the folder layout the app uses, and the
// command line that does it (npx tsx sample/folder.ts --notes 1000 --seed 1 --out <dir>).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { embeddingBytes, generateVault, type GeneratedNote, type GenerateOptions } from "./generator.ts";

/** Writes the vault folder layout the app uses: notes/, embeddings/, positions/ keyed by id. */
export async function writeVaultFolder(dir: string, notes: Iterable<GeneratedNote>): Promise<{ notes: number; bytes: number }> {
  const dirs = ["notes", "embeddings", "positions"].map((d) => join(dir, d));
  await Promise.all(dirs.map((d) => mkdir(d, { recursive: true })));
  const enc = new TextEncoder();
  let count = 0;
  let bytes = 0;
  // Bounded batches: parallel enough to keep the disk busy, without holding the whole vault.
  let batch: Promise<void>[] = [];
  for (const n of notes) {
    const files: [string, Uint8Array][] = [
      [join(dirs[0], `${n.id}.json`), enc.encode(JSON.stringify(n.note, null, 2))],
      [join(dirs[1], `${n.id}.bin`), embeddingBytes(n.embedding)],
      [join(dirs[2], `${n.id}.json`), enc.encode(JSON.stringify(n.position))],
    ];
    for (const [path, data] of files) {
      bytes += data.length;
      batch.push(writeFile(path, data));
    }
    count++;
    if (batch.length >= 192) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  return { notes: count, bytes };
}

// ---------------------------------------------------------------------------------------------
// CLI: npx tsx sample/folder.ts --notes 1000 --seed 1 --out <dir>

async function main(argv: string[]): Promise<void> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) args.set(argv[i].slice(2), argv[i + 1] ?? "");
  }
  const out = args.get("out");
  const notes = Number(args.get("notes") ?? 1000);
  const seed = Number(args.get("seed") ?? 1);
  if (!out || !Number.isInteger(notes) || notes < 0 || !Number.isInteger(seed)) {
    console.error("usage: tsx sample/folder.ts --notes <n> --seed <n> --out <dir> [--dims 384] [--large 0.01]");
    process.exit(2);
  }
  const opts: GenerateOptions = { notes, seed };
  if (args.has("dims")) opts.dims = Number(args.get("dims"));
  if (args.has("large")) opts.largeFraction = Number(args.get("large"));
  const started = performance.now();
  const r = await writeVaultFolder(out, generateVault(opts));
  const secs = ((performance.now() - started) / 1000).toFixed(2);
  console.log(`wrote ${r.notes} notes (${r.notes * 3} files), ${r.bytes} bytes to ${out} in ${secs}s`);
}

// Only a run of this file itself is the command line. The benchmark bundles its child scripts,
// and one that imports this module (bench/baseline/client.ts) carried it inside its own file, where
// import.meta.url is the bundle's, equal to process.argv[1]: the predecessor's client then stopped
// at this usage message.
if (process.argv[1] && /(^|[\\/])folder\.ts$/.test(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
