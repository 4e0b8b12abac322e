// Bundled into a page by store-chromium.test.ts: the store conformance suite against IdbStore on
// Chromium's real IndexedDB (frames kept as Blobs), and once more with Uint8Array values.
import { storeConformance } from "../../store/conformance.ts";
import { idbHarness } from "../../store/idb-harness.ts";

export interface CaseResult {
  name: string;
  ok: boolean;
  skipped?: string;
  error?: string;
  ms: number;
}

async function runAll(): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const c of [...storeConformance(idbHarness({}, "IdbStore (Chromium)")), ...storeConformance(idbHarness({ blobs: false }, "IdbStore (Chromium, Uint8Array values)"))]) {
    const t = performance.now();
    try {
      const r = await c.run();
      out.push({ name: c.name, ok: true, skipped: typeof r === "string" ? r : undefined, ms: Math.round(performance.now() - t) });
    } catch (e) {
      out.push({ name: c.name, ok: false, error: `${(e as Error).name}: ${(e as Error).message}`, ms: Math.round(performance.now() - t) });
    }
  }
  return out;
}

(globalThis as unknown as { runConformance: typeof runAll }).runConformance = runAll;
