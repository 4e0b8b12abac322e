// The load run (bench/load.ts, issue 7) at a small size, for correctness only: 4 clients x 3 rounds
// on one vault and 10 vaults at once against the real local Worker. Every client converges, nothing
// written is lost, every request is answered and none with a 5xx. Speed figures are the full run's
// business (npm run load, bench/results/load.md), never asserted here.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LoadTimeoutError, runLoad } from "../../bench/load.ts";
import { lostLines } from "../../bench/load-checks.ts";
import { pushCarriesCommit } from "../../bench/load-recorder.ts";
import { STREAM_MAGIC, Section, encodeSection, jsonSection } from "../../engine/core/stream.ts";
import { concatBytes } from "../../engine/core/bytes.ts";

let out: string | undefined;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe("load run (small)", () => {
  it("4 clients on one vault and 10 vaults at once: converged, nothing lost, no 5xx", async () => {
    out = await mkdtemp(path.join(tmpdir(), "penumbra-load-test-"));
    const r = await runLoad({ clients: 4, vaults: 10, rounds: 3, notesPerVault: 12, seed: 7, out, log: () => {} });
    expect(r.scenarios.map((s) => s.id)).toEqual(["A", "B"]);
    for (const s of r.scenarios) {
      expect(s.failures, s.label).toEqual([]);
      expect(s.converged, s.label).toBe(true);
      expect(s.nothingLost, s.label).toBe(true);
      expect(s.statuses.server5xx, s.label).toBe(0);
      // Every request is answered, in full. A kept-alive connection the server closes just as a
      // request goes out on it (this process's event loop is busy) fails that attempt; HttpRemote
      // sends it again. Such attempts are reported; no other kind of failure is allowed.
      expect(s.statuses.neverAnswered, s.label).toBe(0);
      for (const why of Object.keys(s.statuses.noAnswerReasons)) expect(why, s.label).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
      expect(s.statuses.incomplete, s.label).toBe(0);
      const attempts = s.phases.reduce((n, p) => n + p.requests, 0);
      expect(s.statuses.ok + s.statuses.conflict409 + s.statuses.client4xx + s.statuses.unanswered).toBe(attempts);
      expect(s.statuses.client4xx, s.label).toBe(0);
      expect(s.latency.commit.requests, s.label).toBeGreaterThan(0);
      for (const v of s.vaultOutcomes) {
        expect(v.linesWritten, v.vault).toBe(v.clients * 3 * 3);
        expect(v.notesAtEnd - v.conflictCopies, v.vault).toBe(12);
        // One sync per client to join, one per round, at least one quiet pass, and the verifying clone.
        expect(v.syncs + v.gaveUp, v.vault).toBeGreaterThanOrEqual(v.clients * (1 + 3 + 1) + 1);
      }
    }
    const a = r.scenarios[0];
    expect(a.clients).toBe(4);
    expect(r.scenarios[1].vaults).toBe(10);
    expect(r.scenarios[1].clients).toBe(15);
    // Every 409 on the wire is a lost compare-and-swap that a sync retried (the engine counts more
    // when a large push saw the head move before uploading, or gave up).
    for (const s of r.scenarios) expect(s.statuses.conflict409, s.label).toBeLessThanOrEqual(s.casRetries);
    expect(r.ok).toBe(true);
    const md = await readFile(path.join(out, "load.md"), "utf8");
    expect(md).toContain("Verdict: **pass");
    const json = JSON.parse(await readFile(path.join(out, "load.json"), "utf8"));
    expect(json.scenarios.length).toBe(2);
  }, 90_000);

  it("aborts with a clear error when the run exceeds its time bound", async () => {
    const run = runLoad({ clients: 4, vaults: 0, rounds: 1000, notesPerVault: 12, timeoutMs: 3000, out: null, log: () => {} });
    await expect(run).rejects.toBeInstanceOf(LoadTimeoutError);
    await expect(run).rejects.toThrow(/time bound of 3 s/);
  }, 30_000);
});

describe("load checks", () => {
  it("a line is kept in its note or a conflict copy of it; anywhere else it is lost", () => {
    const written = new Map([
      ["[l1]", "n1"],
      ["[l2]", "n1"],
      ["[l3]", "n2"],
    ]);
    const final = new Map([
      ["n1", "title\n[l1]"],
      ["n1.conflict-0123456789ab", "title\n[l2]"],
      ["n2", "other\n[l2]"],
    ]);
    expect(lostLines(final, written)).toEqual(['"[l3]" (note n2)']);
    final.set("n2", "[l3]");
    expect(lostLines(final, written)).toEqual([]);
    final.set("n1.conflict-0123456789ab", "title");
    expect(lostLines(final, written)).toEqual(['"[l2]" (note n1)']);
  });

  it("tells a push that commits from one that only uploads packs", () => {
    const packOnly = concatBytes([STREAM_MAGIC, encodeSection(Section.Pack, new Uint8Array(300)), jsonSection(Section.End, {})]);
    const commit = concatBytes([STREAM_MAGIC, encodeSection(Section.Pack, new Uint8Array(300)), jsonSection(Section.Json, { snapshot: "x" }), jsonSection(Section.End, {})]);
    expect(pushCarriesCommit(packOnly)).toBe(false);
    expect(pushCarriesCommit(commit)).toBe(true);
  });
});
