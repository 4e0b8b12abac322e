// The LocalStore conformance suite (test/store/conformance.ts) against IdbStore in real Chromium:
// the cases are bundled into a page (served by playwright from memory on http://localhost, a secure
// context) and run on Chromium's own IndexedDB. Each case is one test here.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import path from "node:path";
import { build } from "esbuild";
import { launch, chromiumOrSkip, type Browser } from "./helpers.ts";
import { storeConformance } from "../store/conformance.ts";
import { idbHarness } from "../store/idb-harness.ts";
import type { CaseResult } from "./pages/conformance.ts";

const run = chromiumOrSkip();
const ORIGIN = "http://localhost:8788";
const names = [...storeConformance(idbHarness({}, "IdbStore (Chromium)")), ...storeConformance(idbHarness({ blobs: false }, "IdbStore (Chromium, Uint8Array values)"))].map((c) => c.name);

describe.runIf(run)("LocalStore conformance in Chromium", () => {
  let browser: Browser;
  let results: Map<string, CaseResult>;

  beforeAll(async () => {
    const bundle = await build({ entryPoints: [path.resolve("test/browser/pages/conformance.ts")], bundle: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent" });
    const js = bundle.outputFiles[0].text;
    browser = await launch();
    const { page } = browser;
    await page.route(`${ORIGIN}/**`, (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === "/conformance.js") return route.fulfill({ contentType: "text/javascript", body: js });
      return route.fulfill({ contentType: "text/html", body: `<!doctype html><title>conformance</title><script type="module" src="/conformance.js"></script>` });
    });
    await page.goto(`${ORIGIN}/`);
    await page.waitForFunction(() => "runConformance" in globalThis);
    const list = await page.evaluate(() => (globalThis as unknown as { runConformance(): Promise<CaseResult[]> }).runConformance());
    results = new Map(list.map((r) => [r.name, r]));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  for (const name of names) {
    it(name, (ctx) => {
      const r = results.get(name);
      expect(r, "the case ran in the page").toBeDefined();
      if (r!.skipped) ctx.skip(r!.skipped);
      expect(r!.error).toBeUndefined();
      expect(r!.ok).toBe(true);
    });
  }

  it("ran in a real browser", () => {
    expect(browser.errors).toEqual([]);
  });
});
