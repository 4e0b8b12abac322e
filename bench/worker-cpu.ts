// The Worker's CPU per MB of pushed packs: workerd's own user + system time (/proc, so time the
// process spent descheduled on a loaded machine does not count, unlike a sampling profile) while it
// ingests a folder of packs the way the engine pushes them (4 a request), three rounds into fresh
// vaults of one fresh local server.
//
//   node --import tsx bench/worker-cpu.ts <packs dir, e.g. <vault>/.penumbra-sync/store/packs> <state dir>
import { readdir, readFile, rm, mkdir } from "node:fs/promises";
import path from "node:path";
import { Miniflare } from "miniflare";
import { buildWorker, readWranglerConfig } from "../cli/local-server.ts";
import { HttpRemote } from "../engine/remote/http-remote.ts";
import { workerdPids } from "./util.ts";
const [packsDir, state] = process.argv.slice(2);
await rm(state, { recursive: true, force: true }); await mkdir(state, { recursive: true });
const { compatibilityDate, vars } = await readWranglerConfig();
const script = path.join(state, "worker.js"); await buildWorker(script);
const mf = new Miniflare({ modules: true, scriptPath: script, modulesRoot: state, compatibilityDate, r2Buckets: { BUCKET: "penumbra-sync" }, r2Persist: path.join(state, "r2"), durableObjects: { VAULT: { className: "VaultObject", useSQLite: true } }, durableObjectsPersist: path.join(state, "do"), bindings: { ...vars, SYNC_TOKEN: "t" }, cf: false, host: "127.0.0.1", port: 0 });
const url = (await mf.ready).origin;
const pids = await workerdPids();
const cpu = async () => { let t = 0; for (const p of pids) { const f = (await readFile(`/proc/${p}/stat`, "utf8")).split(") ")[1].split(" "); t += Number(f[11]) + Number(f[12]); } return t / 100; };
const names = (await readdir(packsDir)).filter((n) => n.endsWith(".pack")).sort();
const packs = await Promise.all(names.map(async (n) => new Uint8Array(await readFile(path.join(packsDir, n)))));
const bytes = packs.reduce((n, p) => n + p.length, 0);
for (let round = 0; round < 3; round++) {
  const remote = new HttpRemote({ url, vault: `v${round}`, token: "t" });
  await remote.create({ format: 1, addressing: "sha256", encryption: null });
  const c0 = await cpu(); const t0 = performance.now();
  for (let i = 0; i < packs.length; i += 4) await remote.push(packs.slice(i, i + 4));
  const c = (await cpu()) - c0; const ms = performance.now() - t0;
  console.log(`round ${round}: ${packs.length} packs ${(bytes / 1e6).toFixed(1)} MB: workerd CPU ${c.toFixed(2)} s (${(c / (bytes / 1e6)).toFixed(4)} s/MB), wall ${(ms / 1000).toFixed(2)} s`);
}
await mf.dispose();
