// The benchmark runs its clients bundled (bench/child.ts). The predecessor's client imports
// sample/folder.ts, whose command line once ran inside that bundle (import.meta.url is then the
// bundle's) and stopped the client with its usage message: every predecessor row failed.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildBundle } from "../../scripts/build-cli.mjs";
import { ROOT } from "../../bench/child.ts";

let out: string | undefined;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe("bench: the predecessor's client, bundled", () => {
  it("runs its own code, not sample/folder.ts's command line", async () => {
    // Inside the checkout, as bench/child.ts builds it: the bundle finds its packages in node_modules.
    out = path.join(ROOT, "dist", "test", `bundled-client-${process.pid}`);
    const { main } = await buildBundle("bench/baseline/client.ts", out);
    const vault = await mkdtemp(path.join(tmpdir(), "penumbra-bundled-client-"));
    // No server at this address: the client must get as far as trying it and report that.
    const r = spawnSync(process.execPath, [main, JSON.stringify({ dir: vault, url: "http://127.0.0.1:9", mode: "pull" })], { encoding: "utf8" });
    await rm(vault, { recursive: true, force: true });
    expect(r.stderr + r.stdout).not.toMatch(/usage: tsx sample\/folder\.ts/);
    const line = r.stdout.split("\n").find((l) => l.startsWith("BENCH-RESULT "));
    expect(line, r.stderr).toBeDefined();
    const result = JSON.parse(line!.slice("BENCH-RESULT ".length)) as { ok: boolean; error?: string };
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/fetch|ECONNREFUSED|connect/i);
  });
});
