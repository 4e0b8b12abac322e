// Main-thread responsiveness of the inspector during a clone of a generated vault (notes with
// embeddings and positions), in Chromium: a PerformanceObserver collects every long task (> 50 ms)
// and long animation frame (with script attribution), and a timer heartbeat measures the longest
// stretch in which the main thread ran no timer (on a loaded machine that includes time the OS did
// not schedule it). The whole device runs in the device worker (engine/browser/device-worker.ts).
//
//   default (CI)       1,000 notes; asserts a regression guard (no task over 200 ms: the engine
//                      back on the main thread gives tasks of 270-500 ms per pack)
//   PENUMBRA_LONG=1    10,000 notes; asserts the goal: no long task at all
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { writeFile } from "node:fs/promises";
import { AppServer, launch, nodeDevice, seed, waitSynced, pageHead, artifact, chromiumOrSkip, type Browser } from "./helpers.ts";

const VAULT = "longtasks";
const LONG = process.env.PENUMBRA_LONG === "1";
const NOTES = Number(process.env.PENUMBRA_LONGTASK_NOTES ?? (LONG ? 10_000 : 1_000));
const run = chromiumOrSkip();

// Runs in the page before its scripts (addInitScript): a string, so no bundler helpers sneak in.
const PROBE = `
  window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push({ start: e.startTime, duration: e.duration }); }).observe({ type: "longtask", buffered: true });
  window.__frames = [];
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__frames.push({ start: e.startTime, duration: e.duration, blocking: e.blockingDuration, scripts: (e.scripts || []).map((x) => ({ invoker: x.invoker, fn: x.sourceFunctionName, url: (x.sourceURL || "").split("/").pop(), duration: Math.round(x.duration) })) }); }).observe({ type: "long-animation-frame", buffered: true });
  } catch {}
  window.__gaps = [];
  // A heartbeat every ~4 ms (a timer, not a busy ping-pong: that would take a whole core of a
  // 2-core machine from the workers and measure its own competition).
  window.__beat = (on) => {
    if (!on) { window.__beating = false; return; }
    window.__beating = true;
    let last = performance.now();
    const beat = () => {
      const t = performance.now();
      window.__gaps.push({ at: last, gap: t - last });
      last = t;
      if (window.__beating) setTimeout(beat, 0);
    };
    setTimeout(beat, 0);
  };
`;

describe.runIf(run)(`main-thread long tasks during a ${NOTES.toLocaleString("en")}-note clone in Chromium`, () => {
  let server: AppServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await AppServer.start();
    const node = await nodeDevice(server.url, VAULT, server.token);
    await seed(node.v, NOTES, 42);
    await node.sync();
    browser = await launch();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it("clones the vault; reports every main-thread task over 50 ms", async () => {
    const { page } = browser;
    await page.addInitScript(PROBE);
    await page.goto(`${server.url}/app/`);
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    // The form is filled before the window opens: the harness's own work is not the page's.
    await page.getByLabel("Vault", { exact: true }).fill(VAULT);
    await page.getByLabel("Token").fill(server.token);
    const t0 = await page.evaluate(() => {
      (globalThis as unknown as { __beat(on: boolean): void }).__beat(true);
      return performance.now();
    });
    await page.evaluate(() => (document.querySelector("#signin-form button[type=submit]") as HTMLButtonElement).click());
    await waitSynced(page, 120_000);
    const t1 = await page.evaluate(() => {
      (globalThis as unknown as { __beat(on: boolean): void }).__beat(false);
      return performance.now();
    });
    const h = await pageHead(page);
    expect(h.size).toBe(NOTES);
    const r = await page.evaluate(() => ({
      long: (globalThis as unknown as { __long: { start: number; duration: number }[] }).__long,
      gaps: (globalThis as unknown as { __gaps: { at: number; gap: number }[] }).__gaps,
      report: (globalThis as unknown as { inspector: { lastReport: { ms: number; downloaded: { bytes: number; objects: number; packs: number } } } }).inspector.lastReport,
      frames: (globalThis as unknown as { __frames: { start: number; duration: number; blocking: number; scripts: unknown[] }[] }).__frames,
    }));
    const during = r.long.filter((e) => e.start >= t0 && e.start <= t1);
    const longest = Math.max(0, ...during.map((e) => e.duration));
    const gaps = r.gaps.filter((g) => g.at >= t0).map((g) => g.gap).sort((a, b) => b - a);
    const summary = {
      notes: NOTES,
      syncMs: r.report.ms,
      signInToSyncedMs: Math.round(t1 - t0),
      downloaded: r.report.downloaded,
      longTasksOver50ms: during.length,
      longestLongTaskMs: Math.round(longest),
      longTasks: during.map((e) => ({ at: Math.round(e.start - t0), duration: Math.round(e.duration) })),
      longestMainThreadGapMs: Math.round(gaps[0] ?? 0),
      gapP99Ms: Math.round(gaps[Math.floor(gaps.length / 100)] ?? 0),
      heartbeats: gaps.length,
      longTasksOutsideTheWindow: r.long.filter((e) => e.start < t0 || e.start > t1).map((e) => Math.round(e.duration)),
      // What ran in the slowest frames (long animation frames: script attribution, where Chromium has it).
      slowestFrames: r.frames
        .filter((f) => f.start >= t0 && f.start <= t1)
        .sort((a, b) => b.duration - a.duration)
        .slice(0, 5)
        .map((f) => ({ at: Math.round(f.start - t0), duration: Math.round(f.duration), blocking: Math.round(f.blocking), scripts: f.scripts })),
    };
    console.log(`long tasks during the ${NOTES}-note clone: ${JSON.stringify(summary)}`);
    await writeFile(await artifact("longtasks.json"), JSON.stringify(summary, null, 2) + "\n");
    // The goal is no long task at all: asserted in the long run. The short run asserts a guard with a
    // wide margin, so that a loaded 2-core CI machine (where the OS may not run a 5 ms task for
    // 100 ms) does not fail it, while the engine's work back on the main thread would.
    if (LONG || process.env.PENUMBRA_LONGTASK_STRICT === "1") expect(during.map((e) => Math.round(e.duration))).toEqual([]);
    else expect(longest).toBeLessThan(Number(process.env.PENUMBRA_LONGTASK_MAX_MS ?? 200));
  }, 120_000);
});
