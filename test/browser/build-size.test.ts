// The browser build (scripts/build-browser.ts): what a page loads of the engine stays within the
// issue's goal of 60 KiB gzipped, dependencies included, and the inspector's page script holds no
// engine (the device runs in the device worker).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildBrowser, SIZE_GOAL, type BrowserBuild } from "../../scripts/build-browser.ts";

describe("the browser build", () => {
  let out: string;
  let build: BrowserBuild;

  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), "penumbra-build-"));
    build = await buildBrowser({ out });
  }, 60_000);

  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it("keeps each way of loading the engine within 60 KiB gzipped", () => {
    const totals = Object.fromEntries(build.totals.map((t) => [t.name, t.gzip]));
    console.log(`browser build, gzipped: ${build.totals.map((t) => `${t.name} ${(t.gzip / 1024).toFixed(1)} KiB`).join("; ")}`);
    expect(Object.keys(totals)).toEqual(["the inspector (page + device worker)", "the engine in a page (+ its compute worker)"]);
    for (const t of build.totals) expect(t.gzip, t.name).toBeLessThanOrEqual(SIZE_GOAL);
  });

  it("leaves the engine out of the inspector's page script", () => {
    const page = build.files.find((f) => f.file.endsWith("site/app/app.js"));
    const device = build.files.find((f) => f.file.endsWith("site/app/device-worker.js"));
    expect(page && device).toBeTruthy();
    // The engine alone is over 40 KiB gzipped; the page is its DOM code and the worker proxy.
    expect(page!.gzip).toBeLessThan(10 * 1024);
    expect(device!.gzip).toBeGreaterThan(30 * 1024);
  });
});
