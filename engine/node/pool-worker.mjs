// Entry of every worker-pool thread (worker-pool.ts). Worker threads do not inherit the loader the
// CLI registers, so this plain-JS file registers tsx when the module named in workerData is
// TypeScript, loads it, and answers each request with that module's `handle` (its result's buffers are
// transferred, not copied).
import { parentPort, workerData } from "node:worker_threads";

// A bundled CLI (scripts/build-cli.mjs) names a plain-JS module: no tsx, which costs a thread ~0.4 s.
if (workerData.module.endsWith(".ts")) (await import("tsx/esm/api")).register();
const { handle } = await import(workerData.module);
parentPort.on("message", ({ id, request }) => {
  try {
    const { result, transfer } = handle(request);
    parentPort.postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    parentPort.postMessage({ id, ok: false, error: { name: e?.name ?? "Error", message: e?.message ?? String(e), code: typeof e?.code === "string" ? e.code : undefined } });
  }
});
