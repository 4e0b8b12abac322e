// The CLI's one-shot sync on a big folder, measured process by process (issue 14): wall time, peak
// RSS (GNU time's "Maximum resident set size") and, with --prof, a V8 CPU profile per run.
//
//   npx tsx bench/noop-profile.ts setup   --work bench/work/s100k --notes 100000
//   npx tsx bench/noop-profile.ts measure --work bench/work/s100k [--runs 3] [--edit] [--prof] [--folder <dir>] [--port 8799] [--watch]
//
// setup generates the folder (sample/generator.ts, seed 1) in <work>/vault and pushes it to a local
// server kept in <work>/server; measure starts that server again and runs `sync` --runs times
// (nothing changed, or with --edit one note rewritten before each run), printing the median.
// --watch: the same runs twice, first with no watch (the one-shot scans), then with a `watch` on the
// folder (the one-shot asks it to sync: docs/design.md, "Live sync"), and both medians side by side.
// The watch's debounce is an hour, so an --edit is carried by the one-shot's request, not by the watch.
import { spawn } from "node:child_process";
import { readFile, writeFile, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLocalServer } from "../cli/local-server.ts";
import { generateVault } from "../sample/generator.ts";
import { writeVaultFolder } from "../sample/folder.ts";
import { ROOT } from "./child.ts";
import { spawnWatch } from "../test/helpers/watch.ts";

const TOKEN = "bench-noop-token";
const DEFAULT_PORT = 8799;

interface Run {
  wallS: number;
  userS: number;
  sysS: number;
  peakRssMiB: number;
  hashed: number;
  servedBy: string;
}

function cli(args: string[], wrap: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const cmd = [...wrap, process.execPath, join(ROOT, "bin/penumbra-sync.js"), ...args];
    const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, env: { ...process.env, PENUMBRA_SYNC_TOKEN: TOKEN }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => done({ code: code ?? 1, stdout, stderr }));
  });
}

/** Bytes and files of the folder's .penumbra-sync state, by top-level kind. */
async function stateBytes(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const walk = async (p: string, kind: string) => {
    for (const e of await readdir(p, { withFileTypes: true })) {
      const q = join(p, e.name);
      if (e.isDirectory()) await walk(q, kind || e.name);
      else out[kind || e.name] = (out[kind || e.name] ?? 0) + (await stat(q)).size;
    }
  };
  await walk(join(dir, ".penumbra-sync"), "");
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs the one-shot `sync` `runCount` times under GNU time; prints each run and the medians; returns the median wall time. */
async function measureRuns(label: string, folder: string, work: string, runCount: number, edit: boolean, profile: boolean): Promise<string> {
  const runs: Run[] = [];
  for (let i = 0; i < runCount; i++) {
    if (edit) {
      const p = join(folder, "notes", (await readdir(join(folder, "notes"))).sort()[7 + i]);
      const note = JSON.parse(await readFile(p, "utf8"));
      note.body = `${note.body ?? ""}\nedited by noop-profile run ${Date.now()}`;
      await writeFile(p, JSON.stringify(note, null, 2));
    }
    const prof = profile ? ["--cpu-prof", "--cpu-prof-dir", join(work, "prof")] : [];
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = spawn("/usr/bin/time", ["-v", process.execPath, ...prof, join(ROOT, "bin/penumbra-sync.js"), "sync", folder, "--json"], { cwd: ROOT, env: { ...process.env, PENUMBRA_SYNC_TOKEN: TOKEN }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("exit", (code) => done({ code: code ?? 1, stdout, stderr }));
    });
    if (r.code !== 0) throw new Error(r.stderr);
    const num = (re: RegExp) => Number(re.exec(r.stderr)?.[1] ?? NaN);
    const el = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr)!;
    const wallS = Number(el[1] ?? 0) * 3600 + Number(el[2]) * 60 + Number(el[3]);
    const out = JSON.parse(r.stdout) as { hashed: number; servedBy: string };
    const run = { wallS, userS: num(/User time \(seconds\): ([\d.]+)/), sysS: num(/System time \(seconds\): ([\d.]+)/), peakRssMiB: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024, hashed: out.hashed, servedBy: out.servedBy };
    console.log(JSON.stringify(run));
    runs.push(run);
  }
  const wall = `${median(runs.map((r) => r.wallS)).toFixed(2)} s`;
  console.log(
    `${label}: median of ${runs.length}: wall ${median(runs.map((r) => r.wallS)).toFixed(2)} s, user ${median(runs.map((r) => r.userS)).toFixed(2)} s, sys ${median(runs.map((r) => r.sysS)).toFixed(2)} s, peak RSS ${median(runs.map((r) => r.peakRssMiB)).toFixed(0)} MiB; state bytes ${JSON.stringify(await stateBytes(folder))}`,
  );
  return wall;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { work: { type: "string" }, notes: { type: "string" }, runs: { type: "string" }, edit: { type: "boolean" }, prof: { type: "boolean" }, folder: { type: "string" }, port: { type: "string" }, watch: { type: "boolean" } },
  });
  const work = resolve(values.work ?? "bench/work/s100k");
  const folder = resolve(values.folder ?? join(work, "vault"));
  const server = await startLocalServer({ port: Number(values.port ?? DEFAULT_PORT), state: join(work, "server"), token: TOKEN });
  try {
    if (positionals[0] === "setup") {
      const n = Number(values.notes ?? 100_000);
      let t = Date.now();
      await writeVaultFolder(folder, generateVault({ notes: n, seed: 1 }));
      console.log(`generated ${n} notes in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      const init = await cli(["init", folder, "--remote", server.url, "--vault", "bench"]);
      if (init.code !== 0) throw new Error(init.stderr);
      t = Date.now();
      const push = await cli(["sync", folder, "--json"]);
      if (push.code !== 0) throw new Error(push.stderr);
      console.log(`initial push in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      return;
    }
    const measure = (label: string) => measureRuns(label, folder, work, Number(values.runs ?? 3), !!values.edit, !!values.prof);
    if (!values.watch) return void (await measure("no watch"));
    const alone = await measure("no watch: the one-shot scans");
    const w = spawnWatch(folder, ["--debounce-ms", "3600000"], { PENUMBRA_SYNC_TOKEN: TOKEN });
    let withWatch: string;
    try {
      await w.waitFor((e) => e.event === "live", "the watch live");
      await w.waitFor((e) => e.event === "sync" && e.reasons.includes("start"), "the watch's start sync");
      withWatch = await measure("a watch running: the one-shot asks it");
    } finally {
      await w.stop("SIGINT");
    }
    console.log(`\none-shot sync${values.edit ? " (one note edited)" : " (nothing changed)"}, median wall time:\n  no watch      ${alone}\n  watch running ${withWatch}`);
  } finally {
    await server.stop();
  }
}

await main();
