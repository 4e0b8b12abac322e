// Live sync: two `penumbra-sync watch` devices on one local server (through a byte-counting
// proxy). Measures the latency from a file write on one device to the edit on the other's disk,
// over --edits edits each way (p50, p95, max; debounce included), then what --idle-s seconds of
// idling cost: HTTP requests, bytes on the wire (WebSocket keep-alives included) and R2 operations.
//
//   node --import tsx bench/live.ts [--notes 10000] [--edits 50] [--idle-s 60] [--seed 42] [--out file.md]
import { parseArgs } from "node:util";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir, loadavg } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { startTestServer } from "../test/helpers/local-server.ts";
import { startCountingProxy } from "../test/helpers/counting-proxy.ts";
import { runCli } from "../test/helpers/cli.ts";
import { spawnWatch, type WatchProcess } from "../test/helpers/watch.ts";
import { generateVault, makeRng } from "../sample/generator.ts";
import { writeVaultFolder } from "../sample/folder.ts";

const { values: args } = parseArgs({
  options: {
    notes: { type: "string", default: "10000" },
    edits: { type: "string", default: "50" },
    "idle-s": { type: "string", default: "60" },
    seed: { type: "string", default: "42" },
    out: { type: "string" },
  },
});
const NOTES = Number(args.notes);
const EDITS = Number(args.edits);
const IDLE_S = Number(args["idle-s"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean> | boolean, what: string, limitMs = 600_000): Promise<void> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > limitMs) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const tmp = await mkdtemp(path.join(tmpdir(), "penumbra-bench-live-"));
const server = await startTestServer({ state: path.join(tmp, "server") });
const proxy = await startCountingProxy(server.url);
const env = { PENUMBRA_SYNC_TOKEN: server.token };
const A = path.join(tmp, "a");
const B = path.join(tmp, "b");
const watchers: WatchProcess[] = [];
try {
  const notes = [...generateVault({ notes: NOTES, seed: Number(args.seed) })];
  await writeVaultFolder(A, notes);
  for (const d of [A, B]) {
    const r = await runCli(["init", d, "--remote", proxy.url, "--vault", "bench-live"], env);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  let t = performance.now();
  const wa = spawnWatch(A, [], env);
  watchers.push(wa);
  await wa.waitFor((e) => e.event === "sync" && e.reasons.includes("start"), "A's initial push");
  const pushS = (performance.now() - t) / 1000;
  t = performance.now();
  const wb = spawnWatch(B, [], env);
  watchers.push(wb);
  await wb.waitFor((e) => e.event === "sync" && e.reasons.includes("start"), "B's clone");
  const cloneS = (performance.now() - t) / 1000;
  await Promise.all([wa, wb].map((w) => w.waitFor((e) => e.event === "live", "live")));

  const rng = makeRng(Number(args.seed) + 1);
  const latencies: Record<string, number[]> = { "A -> B": [], "B -> A": [] };
  for (let k = 0; k < EDITS * 2; k++) {
    const [from, to, dir] = k % 2 === 0 ? [A, B, "A -> B"] : [B, A, "B -> A"];
    const n = notes[Math.floor(rng.next() * notes.length)];
    const file = (root: string) => path.join(root, "notes", `${n.id}.json`);
    const note = JSON.parse(await readFile(file(from), "utf8"));
    const marker = `live-edit-${k}`;
    note.body = `${note.body ?? ""}\n${marker}`;
    const start = performance.now();
    await writeFile(file(from), JSON.stringify(note, null, 2));
    await until(async () => (await readFile(file(to), "utf8").catch(() => "")).includes(marker), `edit ${k} on the other side`);
    latencies[dir].push(performance.now() - start);
    await sleep(50); // the writer's own echo (the pulled file's events) settles
  }

  // Idle: both watching, nothing changing.
  await sleep(2000);
  proxy.reset();
  await sleep(IDLE_S * 1000);
  const idle = { requests: proxy.requests, bytes: proxy.up + proxy.down, r2: proxy.r2 };

  const rows = Object.entries(latencies).map(([dir, l]) => {
    const s = [...l].sort((x, y) => x - y);
    return `| ${dir} | ${s.length} | ${Math.round(quantile(s, 0.5))} | ${Math.round(quantile(s, 0.95))} | ${Math.round(s[s.length - 1])} |`;
  });
  const report = [
    `# Live sync, ${NOTES.toLocaleString("en")} notes (two \`watch\` devices, local server)`,
    "",
    `${new Date().toISOString()}, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; \`node --import tsx bench/live.ts --notes ${NOTES} --edits ${EDITS} --idle-s ${IDLE_S}\``,
    "",
    `Initial push by A's watch ${pushS.toFixed(1)} s, clone by B's watch ${cloneS.toFixed(1)} s.`,
    "",
    "Write on one device to the edit on the other's disk (debounce 300 ms included), ms:",
    "",
    "| direction | edits | p50 | p95 | max |",
    "|---|---:|---:|---:|---:|",
    ...rows,
    "",
    `${IDLE_S} s idle with both watching: ${idle.requests} HTTP requests, ${idle.bytes} bytes on the wire (WebSocket keep-alives included), R2 operations A=${idle.r2.A} B=${idle.r2.B}.`,
    "",
  ].join("\n");
  process.stdout.write(report);
  if (args.out) await writeFile(args.out, report);
} finally {
  for (const w of watchers) await w.stop("SIGINT");
  await proxy.close();
  await server.stop();
  await rm(tmp, { recursive: true, force: true });
}
