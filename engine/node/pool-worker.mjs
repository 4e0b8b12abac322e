// Entry of every worker-pool thread (worker-pool.ts). Worker threads do not inherit the loader the
// CLI registers, so this plain-JS file registers tsx, loads the TypeScript module named in
// workerData, and answers each request with that module's `handle` (its result's buffers are
// transferred, not copied).
import { parentPort, workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
const { handle } = await import(workerData.module);
parentPort.on("message", ({ id, request }) => {
  try {
    const { result, transfer } = handle(request);
    parentPort.postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    parentPort.postMessage({ id, ok: false, error: { name: e?.name ?? "Error", message: e?.message ?? String(e) } });
  }
});
