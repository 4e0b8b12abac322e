// Client CPU per MB of an initial push, plain and encrypted, against restic's first backup of the
// same folder, back to back in one run (issue 14: "client CPU-seconds per MB of vault, initial
// push (plain and encrypted) <= restic's"). restic always encrypts, so the encrypted row is the
// like-for-like one.
//
//   npx tsx bench/encrypted-push.ts --folder bench/work/s100k/vault --work bench/work/encpush [--port 8813] [--only encrypted]
//
// --only (plain, encrypted or restic) runs that one push alone (comparing the code's own settings,
// which the environment passes to the CLI, e.g. PENUMBRA_SYNC_PHASE_GC=0).
// Each run pushes a hard-linked copy of the folder's notes/, embeddings/ and positions/ (the files are
// only read) with the CLI (`init`, then `sync`, timed by GNU time: the whole command, Node's start-up
// and the vault key's derivation included) into a new vault of one local server, then
// `restic backup` of the same files into a new repository. Prints a markdown table.
import { spawnSync } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLocalServer } from "../cli/local-server.ts";
import { ROOT } from "./child.ts";
import { ResticPeer } from "./peers.ts";
import { dirBytes, timedShell, type ShellRun } from "./util.ts";

const TOKEN = "bench-encpush-token";
const PASSPHRASE = "bench passphrase, not a secret";

const { values } = parseArgs({ options: { folder: { type: "string" }, work: { type: "string" }, port: { type: "string" }, only: { type: "string" } } });
const runs = (what: string) => !values.only || values.only === what;
if (!values.folder || !values.work) throw new Error("usage: bench/encrypted-push.ts --folder <vault folder> --work <scratch dir> [--port N] [--only plain|encrypted|restic]");
const source = resolve(values.folder);
const work = resolve(values.work);
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });

/** A hard-linked copy of the vault's three folders (no .penumbra-sync state). */
function linkedCopy(name: string): string {
  const dir = join(work, name);
  const r = spawnSync("sh", ["-c", `mkdir -p '${dir}' && cp -al '${source}/notes' '${source}/embeddings' '${source}/positions' '${dir}/'`]);
  if (r.status !== 0) throw new Error(`copy failed: ${r.stderr}`);
  return dir;
}

const { bytes, files } = await dirBytes(join(source, "notes")).then(async (n) => {
  const e = await dirBytes(join(source, "embeddings"));
  const p = await dirBytes(join(source, "positions"));
  return { bytes: n.bytes + e.bytes + p.bytes, files: n.files + e.files + p.files };
});
const mb = bytes / 1e6;

const server = await startLocalServer({ port: Number(values.port ?? 8813), state: join(work, "server"), token: TOKEN });
const cli = (args: string) =>
  timedShell(`'${process.execPath}' '${join(ROOT, "bin/penumbra-sync.js")}' ${args}`, { cwd: ROOT, env: { PENUMBRA_SYNC_TOKEN: TOKEN, PENUMBRA_SYNC_PASSPHRASE: PASSPHRASE } });

const rows: [string, ShellRun][] = [];
try {
  for (const [name, flag] of [
    ["penumbra-sync, plain", ""],
    ["penumbra-sync, encrypted", "--encrypt"],
  ] as const) {
    if (!runs(flag ? "encrypted" : "plain")) continue;
    const dir = linkedCopy(name.endsWith("plain") ? "plain" : "encrypted");
    const init = await cli(`init '${dir}' --remote ${server.url} --vault ${flag ? "enc" : "plain"} ${flag}`);
    if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
    const run = await cli(`sync '${dir}' --json`);
    if (run.code !== 0) throw new Error(`sync failed: ${run.stderr}`);
    rows.push([name, run]);
    console.error(`${name}: ${(run.wallMs / 1000).toFixed(1)} s wall, ${(run.cpuMs / 1000).toFixed(1)} s CPU`);
  }
  const restic = runs("restic") ? await ResticPeer.open(join(work, "restic"), linkedCopy("restic-src")) : null;
  if (restic) {
    const b = await restic.backup();
    rows.push([`restic ${restic.version.split(" ")[1] ?? ""} backup`, { ...b, code: 0, stdout: "", stderr: "", rchar: 0, wchar: 0 }]);
  }
} finally {
  await server.stop();
}

const load = (await import("node:os")).loadavg()[0].toFixed(1);
console.log(`Initial push of ${files.toLocaleString("en")} files, ${mb.toFixed(1)} MB (${source}); 1-minute load average ${load} at the end.\n`);
console.log("| system | wall | client CPU (user + sys) | CPU-s per MB | peak RSS |");
console.log("|---|---:|---:|---:|---:|");
const restic = rows.find(([n]) => n.startsWith("restic"))?.[1];
for (const [name, r] of rows) {
  const perMb = r.cpuMs / 1000 / mb;
  const ratio = restic ? ` (${(r.cpuMs / restic.cpuMs).toFixed(2)} x restic)` : "";
  console.log(`| ${name} | ${(r.wallMs / 1000).toFixed(1)} s | ${(r.cpuMs / 1000).toFixed(1)} s | ${perMb.toFixed(3)}${ratio} | ${Math.round(r.peakRssBytes / 2 ** 20)} MiB |`);
}
