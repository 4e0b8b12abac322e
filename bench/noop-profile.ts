// The CLI's one-shot sync on a big folder, measured process by process (issue 14): wall time, peak
// RSS (GNU time's "Maximum resident set size") and, with --prof, a V8 CPU profile per run.
//
//   npx tsx bench/noop-profile.ts setup   --work bench/work/s100k --notes 100000
//   npx tsx bench/noop-profile.ts measure --work bench/work/s100k [--runs 3] [--edit] [--prof] [--folder <dir>] [--port 8799]
//                                         [--after-watch | --beside-watch]
//
// --after-watch: a `watch` of the folder runs first until its first sync, then stops cleanly
// (SIGINT); the runs are the one-shot syncs that follow (issue 15's "no-op after a watch session").
// --beside-watch: the watch keeps running during the runs, so each one-shot sync asks it (its
// debounce is then an hour, so an --edit is carried by the one-shot's request, not by the watch).
//
// setup generates the folder (sample/generator.ts, seed 1) in <work>/vault and pushes it to a local
// server kept in <work>/server; measure starts that server again and runs `sync` --runs times
// (nothing changed, or with --edit one note rewritten before each run), printing the median.
import { spawn } from "node:child_process";
import { readFile, writeFile, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLocalServer } from "../cli/local-server.ts";
import { generateVault } from "../sample/generator.ts";
import { writeVaultFolder } from "../sample/folder.ts";
import { ROOT } from "./child.ts";

const TOKEN = "bench-noop-token";
const DEFAULT_PORT = 8799;

interface Run {
  wallS: number;
  userS: number;
  sysS: number;
  peakRssMiB: number;
  hashed: number;
  /** "scan", or "watch" when a running watch served the one-shot sync. */
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

/** `watch <folder>` until its first sync has reported; stop() sends SIGINT and waits for a clean exit. */
async function startWatch(folder: string, args: string[] = []): Promise<{ stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(ROOT, "bin/penumbra-sync.js"), "watch", folder, "--json", ...args], { cwd: ROOT, env: { ...process.env, PENUMBRA_SYNC_TOKEN: TOKEN }, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<number>((done) => child.on("exit", (code) => done(code ?? 1)));
  await new Promise<void>((done, fail) => {
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      if (buf.split("\n").some((l) => l.includes('"event":"sync"'))) done();
    });
    exited.then((code) => fail(new Error(`watch exited with ${code} before its first sync`)));
  });
  console.log("watch: first sync done");
  return {
    stop: async () => {
      child.kill("SIGINT");
      const code = await exited;
      if (code !== 0) throw new Error(`watch exited with ${code} on SIGINT`);
      console.log("watch: stopped cleanly");
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      work: { type: "string" },
      notes: { type: "string" },
      runs: { type: "string" },
      edit: { type: "boolean" },
      prof: { type: "boolean" },
      folder: { type: "string" },
      port: { type: "string" },
      "after-watch": { type: "boolean" },
      "beside-watch": { type: "boolean" },
    },
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
    const watch = values["after-watch"] || values["beside-watch"] ? await startWatch(folder, values["beside-watch"] ? ["--debounce-ms", "3600000"] : []) : null;
    if (watch && values["after-watch"]) await watch.stop();
    const runs: Run[] = [];
    for (let i = 0; i < Number(values.runs ?? 3); i++) {
      if (values.edit) {
        const p = join(folder, "notes", (await readdir(join(folder, "notes"))).sort()[7 + i]);
        const note = JSON.parse(await readFile(p, "utf8"));
        note.body = `${note.body ?? ""}\nedited by noop-profile run ${Date.now()}`;
        await writeFile(p, JSON.stringify(note, null, 2));
      }
      const prof = values.prof ? ["--cpu-prof", "--cpu-prof-dir", join(work, "prof")] : [];
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
    if (watch && values["beside-watch"]) await watch.stop();
    console.log(
      `median of ${runs.length}: wall ${median(runs.map((r) => r.wallS)).toFixed(2)} s, user ${median(runs.map((r) => r.userS)).toFixed(2)} s, sys ${median(runs.map((r) => r.sysS)).toFixed(2)} s, peak RSS ${median(runs.map((r) => r.peakRssMiB)).toFixed(0)} MiB; state bytes ${JSON.stringify(await stateBytes(folder))}`,
    );
  } finally {
    await server.stop();
  }
}

await main();
