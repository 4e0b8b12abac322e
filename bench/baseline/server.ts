// Serves the predecessor's Worker (bench/baseline/worker.ts) locally the same way the real one is
// served (cli/local-server.ts): bundled with esbuild, run in workerd by Miniflare, R2 on disk.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { readWranglerConfig } from "../../cli/local-server.ts";

const ENTRY = fileURLToPath(new URL("./worker.ts", import.meta.url));

export interface LegacyServer {
  url: string;
  /** Objects in its bucket, from its /sync/status route (asked directly, not through the counting proxy). */
  objectCount(): Promise<{ objects: number; bytes: number }>;
  stop(): Promise<void>;
}

export async function startLegacyServer(state: string): Promise<LegacyServer> {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.WRANGLER_SEND_ERROR_REPORTS = "false";
  process.env.WRANGLER_HIDE_BANNER = "true";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const { compatibilityDate } = await readWranglerConfig();
  const scriptPath = path.join(state, ".build", "legacy-worker.js");
  await mkdir(path.dirname(scriptPath), { recursive: true });
  await build({ entryPoints: [ENTRY], outfile: scriptPath, bundle: true, format: "esm", platform: "neutral", target: "es2022", logLevel: "silent" });
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRoot: path.dirname(scriptPath),
    compatibilityDate,
    r2Buckets: { BUCKET: "penumbra-legacy" },
    r2Persist: path.join(state, "r2"),
    cf: false,
    host: "127.0.0.1",
    port: 0,
  });
  const url = (await mf.ready).origin;
  return {
    url,
    async objectCount() {
      const res = await fetch(`${url}/sync/status`);
      if (!res.ok) throw new Error(`/sync/status answered ${res.status}`);
      const j = (await res.json()) as { objects: number; bytesUsed: number };
      return { objects: j.objects, bytes: j.bytesUsed };
    },
    stop: () => mf.dispose(),
  };
}
