// Smoke test of the benchmark (bench/): a 300-note run through the real local Worker, penumbra-sync
// only (the predecessor's 3 R2 writes per note, git and restic take too long for a <60 s test), no
// profile. Checks that the results table has every scenario and that the engine moved bytes.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBench } from "../../bench/bench.ts";
import type { BenchResult } from "../../bench/report.ts";

let out: string | undefined;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe("bench smoke (300 notes)", () => {
  it("writes a results table with every scenario row and nonzero engine bytes", async () => {
    out = await mkdtemp(path.join(tmpdir(), "penumbra-bench-smoke-"));
    const lines: string[] = [];
    const r: BenchResult = await runBench({ notes: 300, seed: 3, out, peers: [], profile: false, log: (s) => lines.push(s) });

    const engine = r.rows.filter((x) => x.system === "penumbra-sync");
    expect(engine.map((x) => x.scenario)).toEqual(r.scenarios.map((s) => s.id));
    for (const x of engine) {
      expect(x.status, `${x.scenario}: ${x.error}`).toBe("ok");
      expect((x.up ?? 0) + (x.down ?? 0), x.scenario).toBeGreaterThan(0);
      expect(x.requests, x.scenario).toBeGreaterThan(0);
      expect(x.startupMs, x.scenario).toBeGreaterThan(0); // the bundled client reports its own start-up
    }
    const row = (id: string) => engine.find((x) => x.scenario === id)!;
    for (const id of ["initial", "edit1", "edit1pct", "edit10pct", "delete"]) expect(row(id).up, id).toBeGreaterThan(1000);
    for (const id of ["initial-pull", "edit1-pull", "edit1pct-pull", "edit10pct-pull", "delete-pull", "clone"]) expect(row(id).down, id).toBeGreaterThan(1000);
    expect(row("noop").up! + row("noop").down!).toBeLessThan(2048);
    expect(row("initial").r2A).toBeGreaterThan(0); // one put per pack
    expect(row("clone").r2B).toBeGreaterThan(0); // read from the pull's E section

    const md = await readFile(path.join(out, "300-notes.md"), "utf8");
    for (const s of r.scenarios) expect(md).toContain(`| ${s.label} |`);
    expect(md).toContain("## Goals (issue 6)");
    expect(md).toMatch(/Machine: \d+ vCPU/);
    const json = JSON.parse(await readFile(path.join(out, "300-notes.json"), "utf8"));
    expect(json.rows.length).toBe(r.rows.length);
    const svg = await readFile(path.join(out, "300-notes.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("penumbra-sync");
  }, 120_000);
});
