// Child process: a CPU profile of the Worker itself (workerd's inspector, Chrome DevTools protocol)
// while it ingests packs pushed the way the engine pushes them (4 packs a request). The Worker is
// built and served like cli/local-server.ts does, plus an inspector port; storage is a fresh
// folder. Needs WebSocket: run with node --experimental-websocket on Node 20.
//
//   node --experimental-websocket --import tsx bench/worker-profile.ts '{"packsDir": "...", "packs": 20, "out": "x.cpuprofile"}'
import { readdir, readFile, writeFile, rm, mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { Miniflare } from "miniflare";
import { buildWorker, readWranglerConfig } from "../cli/local-server.ts";
import { HttpRemote } from "../engine/remote/http-remote.ts";
import { measureSelf } from "./child.ts";

interface Args {
  packsDir: string;
  packs: number;
  state: string;
  out: string;
}
const args = JSON.parse(process.argv[2] ?? "{}") as Args;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

await measureSelf(async (m) => {
  await rm(args.state, { recursive: true, force: true });
  await mkdir(args.state, { recursive: true });
  const { compatibilityDate, vars } = await readWranglerConfig();
  const script = path.join(args.state, "worker.js");
  await buildWorker(script);
  const inspectorPort = await freePort();
  const mf = new Miniflare({
    modules: true,
    scriptPath: script,
    modulesRoot: args.state,
    compatibilityDate,
    r2Buckets: { BUCKET: "penumbra-sync" },
    r2Persist: path.join(args.state, "r2"),
    durableObjects: { VAULT: { className: "VaultObject", useSQLite: true } },
    durableObjectsPersist: path.join(args.state, "do"),
    bindings: { ...vars, SYNC_TOKEN: "profile" },
    cf: false,
    host: "127.0.0.1",
    port: 0,
    inspectorPort,
  });
  try {
    const url = (await mf.ready).origin;
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
    const target = targets.find((t) => t.id.startsWith("core:user")) ?? targets[0];
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve);
      ws.addEventListener("error", reject);
    });
    // workerd's inspector answers some commands by echoing them (id and method, no result): that
    // counts as done, except for Profiler.stop, whose answer must carry the profile.
    let next = 0;
    let stopId = -1;
    const waiting = new Map<number, (v: { result?: { profile?: unknown } }) => void>();
    ws.addEventListener("message", (e) => {
      const msg = JSON.parse(String(e.data)) as { id?: number; method?: string; result?: { profile?: unknown } };
      if (msg.id === undefined) return;
      if (msg.id === stopId && !msg.result?.profile) return;
      waiting.get(msg.id)?.(msg);
    });
    const send = (method: string, params: object = {}, timeoutMs = 30_000) =>
      new Promise<{ result?: { profile?: unknown } }>((resolve, reject) => {
        const id = ++next;
        if (method === "Profiler.stop") stopId = id;
        const timer = setTimeout(() => reject(new Error(`inspector did not answer ${method} in ${timeoutMs} ms`)), timeoutMs);
        waiting.set(id, (v) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(v);
        });
        ws.send(JSON.stringify({ id, method, params }));
      });

    const remote = new HttpRemote({ url, vault: "profile", token: "profile" });
    await remote.create({ format: 1, addressing: "sha256", encryption: null });
    const names = (await readdir(args.packsDir)).filter((n) => n.endsWith(".pack")).sort().slice(0, args.packs);
    const packs = await Promise.all(names.map(async (n) => new Uint8Array(await readFile(path.join(args.packsDir, n)))));
    await send("Profiler.enable");
    await send("Profiler.setSamplingInterval", { interval: 500 });
    await send("Profiler.start");
    const t0 = performance.now();
    for (let i = 0; i < packs.length; i += 4) await remote.push(packs.slice(i, i + 4));
    const pushMs = performance.now() - t0;
    const stopped = await send("Profiler.stop", {}, 120_000);
    await writeFile(args.out, JSON.stringify(stopped.result?.profile ?? {}));
    ws.close();
    Object.assign(m, { pushMs, packs: packs.length, bytes: packs.reduce((n, p) => n + p.length, 0), requests: Math.ceil(packs.length / 4) });
  } finally {
    await mf.dispose();
  }
});
