// Peak RSS of the CLI's one-shot operations on a big vault folder (issue 14's "client peak RSS <=
// 256 MiB for every operation"), one process per operation, as the benchmark runs the client:
//
//   npx tsx bench/memory-ops.ts --work bench/work/s100k --port 8811 <op> [--runs 3] [--count 1000] [--folder <dir>] [--sample]
//
// ops: noop (sync, nothing changed), edit (--count notes edited the way the app edits them: text,
// embedding, position; then sync), delete (--count notes' files removed; then sync), pull (sync of
// --folder, another device: what the edits before it committed), clone (init a fresh --folder,
// then sync it: the first pull of the whole vault; the folder is removed first), initial (the files
// of --folder pushed into a new vault: its .penumbra-sync is removed, init names a new vault).
// MEMOPS_NODE_ARGS (space-separated) are given to the measured node process (V8 flags, say);
// MEMOPS_WRAPPER (space-separated) runs it under a tool ("heaptrack -o /tmp/ht": native allocations).
// Each run prints wall, user, sys and VmHWM (GNU time); with --sample the run goes through
// bench/memsample.mjs and prints its labelled marks and the sample at the peak.
// The server (the Worker in workerd, state <work>/server) is started here on --port; the folders'
// config must name that port.
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLocalServer } from "../cli/local-server.ts";
import { makeRng } from "../sample/generator.ts";
import { listIds, pick, editNotes, deleteNotes } from "./edits.ts";
import { ROOT } from "./child.ts";

const TOKEN = "bench-noop-token";

interface Run {
  op: string;
  wallS: number;
  userS: number;
  sysS: number;
  peakRssMiB: number;
}

function timed(args: string[], sample: boolean): Promise<{ run: Omit<Run, "op">; stdout: string; marks: string }> {
  return new Promise((done, fail) => {
    const out = join(ROOT, "bench/work", `memsample-${process.pid}.json`);
    const pre = [...(process.env.MEMOPS_NODE_ARGS?.split(" ").filter(Boolean) ?? []), ...(sample ? ["--import", join(ROOT, "bench/memsample.mjs")] : [])];
    const wrap = process.env.MEMOPS_WRAPPER?.split(" ").filter(Boolean) ?? [];
    const child = spawn("/usr/bin/time", ["-v", ...wrap, process.execPath, ...pre, join(ROOT, "bin/penumbra-sync.js"), ...args], {
      cwd: ROOT,
      env: { ...process.env, PENUMBRA_SYNC_TOKEN: TOKEN, MEMSAMPLE_OUT: out },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", async (code) => {
      if (code !== 0) return fail(new Error(stderr));
      const num = (re: RegExp) => Number(re.exec(stderr)?.[1] ?? NaN);
      const el = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr)!;
      let marks = "";
      if (sample) {
        const d = JSON.parse(await readFile(out, "utf8")) as { peak: object; marks: object[] };
        marks = [...d.marks.map((m) => `  ${JSON.stringify(m)}`), `  peak sample ${JSON.stringify(d.peak)}`].join("\n");
        // MEMOPS_KEEP_SAMPLES=<file>: the whole timeline kept there (the last run's).
        if (process.env.MEMOPS_KEEP_SAMPLES) await writeFile(process.env.MEMOPS_KEEP_SAMPLES, JSON.stringify(d));
        await rm(out, { force: true });
      }
      done({
        run: {
          wallS: Number(el[1] ?? 0) * 3600 + Number(el[2]) * 60 + Number(el[3]),
          userS: num(/User time \(seconds\): ([\d.]+)/),
          sysS: num(/System time \(seconds\): ([\d.]+)/),
          peakRssMiB: Math.round(num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024),
        },
        stdout,
        marks,
      });
    });
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      work: { type: "string" },
      port: { type: "string" },
      runs: { type: "string" },
      count: { type: "string" },
      folder: { type: "string" },
      sample: { type: "boolean" },
      seed: { type: "string" },
    },
  });
  const op = positionals[0];
  const work = resolve(values.work ?? "bench/work/s100k");
  const a = join(work, "vault");
  const count = Number(values.count ?? 1000);
  const server = await startLocalServer({ port: Number(values.port ?? 8811), state: join(work, "server"), token: TOKEN });
  const rng = makeRng(Number(values.seed ?? Date.now() % 1e9));
  const runs: Run[] = [];
  try {
    for (let i = 0; i < Number(values.runs ?? 1); i++) {
      let args = ["sync", a, "--json"];
      if (op === "edit") await editNotes(a, pick(await listIds(a), count, rng), rng);
      else if (op === "delete") await deleteNotes(a, pick(await listIds(a), count, rng));
      else if (op === "pull") args = ["sync", resolve(values.folder!), "--json"];
      else if (op === "clone") {
        const b = resolve(values.folder!);
        await rm(b, { recursive: true, force: true });
        await timed(["init", b, "--remote", server.url, "--vault", "bench"], false);
        args = ["sync", b, "--json"];
      } else if (op === "initial") {
        // The folder's files pushed into a new vault: its state is removed, init names a new vault.
        const f = resolve(values.folder!);
        await rm(join(f, ".penumbra-sync"), { recursive: true, force: true });
        await timed(["init", f, "--remote", server.url, "--vault", `initial-${Date.now()}`], false);
        args = ["sync", f, "--json"];
      } else if (op !== "noop") throw new Error(`unknown op ${op}`);
      const { run, marks } = await timed(args, !!values.sample);
      runs.push({ op, ...run });
      console.log(JSON.stringify({ op, ...run }));
      if (marks) console.log(marks);
    }
  } finally {
    await server.stop();
  }
  const rss = runs.map((r) => r.peakRssMiB);
  console.log(`${op}: peak RSS ${rss.join(", ")} MiB; CPU ${runs.map((r) => (r.userS + r.sysS).toFixed(2)).join(", ")} s`);
}

await main();
