// Main-thread responsiveness of the page during a 10,000-note sync (a clone of a generated vault,
// 10,000 notes with embeddings and positions), in Chromium: a PerformanceObserver collects every
// long task (> 50 ms), and a heartbeat (a MessageChannel ping-pong) measures the longest stretch in
// which the main thread could not run a task, so figures under 50 ms are seen too.
// Hashing, inflating and verifying run in the engine worker (engine/browser/).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { writeFile } from "node:fs/promises";
import { AppServer, launch, nodeDevice, seed, waitSynced, pageHead, artifact, chromiumOrSkip, type Browser } from "./helpers.ts";

const VAULT = "longtasks";
const NOTES = Number(process.env.PENUMBRA_LONGTASK_NOTES ?? 10_000);
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

describe.runIf(run)(`main-thread long tasks during a ${NOTES.toLocaleString("en")}-note sync in Chromium`, () => {
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
    // The goal is no long task at all (PENUMBRA_LONGTASK_STRICT=1 asserts it). By default this is a
    // guard against regressions (hashing or inflating back on the main thread gives tasks of
    // seconds), loose enough for a loaded 2-core CI machine, where every task runs several times longer.
    if (process.env.PENUMBRA_LONGTASK_STRICT === "1") expect(during.map((e) => Math.round(e.duration))).toEqual([]);
    else expect(longest).toBeLessThan(Number(process.env.PENUMBRA_LONGTASK_MAX_MS ?? 1500));
  }, 120_000);
});
