// The `gc` command end to end (issue 7): the real local server with a short retention policy; gc
// prunes old snapshots and reports the vault's bytes before and after, which match what the server
// then reports; --keep-head drops all history; the notes survive it on every device.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";

let server: TestServer;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "penumbra-gc-cli-"));
  // Keep the last 2 snapshots, none by age, no grace period: what GC may collect is decided by the test.
  server = await startTestServer({ vars: { RETENTION_DAYS: "0", RETENTION_SNAPSHOTS: "2", GC_GRACE_SECONDS: "0" } });
});
afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { PENUMBRA_SYNC_TOKEN: server.token, ...env });
}

async function json(args: string[]): Promise<any> {
  const r = await cli([...args, "--json"]);
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

const vaultStats = async () => ((await (await server.fetch("/v1/vaults/gcv")).json()) as any).stats as { bytes: number; packs: number; snapshots: number };
const body = (round: number, i: number) => `round ${round} of note ${i}\n${"lorem ipsum dolor ".repeat(40 + i)}`;

describe("penumbra-sync gc", () => {
  it("prunes history past the retention policy, reports bytes before and after, --keep-head keeps only the head", async () => {
    const a = path.join(tmp, "a");
    await json(["init", a, "--remote", server.url, "--vault", "gcv"]);
    // Five snapshots, each rewriting every note: four fifths of the bytes are history.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) await writeFile(path.join(a, "notes", `n${i}.json`), JSON.stringify({ title: `n${i}`, body: body(round, i) }));
      await json(["sync", a]);
    }
    const start = await vaultStats();
    expect(start.snapshots).toBe(5);

    const gc = await json(["gc", a]);
    expect(gc.before.bytes).toBe(start.bytes);
    expect(gc.prunedSnapshots).toBe(3);
    expect(gc.deletedPacks).toBe(3);
    expect(gc.after.bytes).toBeLessThan(gc.before.bytes);
    expect(gc.more).toBe(false);
    const mid = await vaultStats();
    expect(mid).toMatchObject({ bytes: gc.after.bytes, packs: gc.after.packs, snapshots: 2 });
    console.log(`gc: ${gc.before.bytes} -> ${gc.after.bytes} bytes, ${gc.before.packs} -> ${gc.after.packs} packs`);

    // Human output names the same figures; nothing left to collect the second time.
    const again = await cli(["gc", a]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`gc: ${mid.bytes} -> ${mid.bytes} bytes, ${mid.packs} -> ${mid.packs} packs`);
    expect(again.stdout).toMatch(/deleted 0 pack\(s\), repacked 0, pruned 0 snapshot\(s\)/);

    const head = await json(["gc", a, "--keep-head"]);
    expect(head.prunedSnapshots).toBe(1);
    expect(head.after.bytes).toBeLessThan(head.before.bytes);
    expect(await vaultStats()).toMatchObject({ bytes: head.after.bytes, snapshots: 1 });
    const log = await json(["log", a]);
    expect(log.snapshots).toHaveLength(1);

    // The notes are whole: a new device clones the head, and the old one keeps syncing.
    const b = path.join(tmp, "b");
    await json(["init", b, "--remote", server.url, "--vault", "gcv"]);
    await json(["sync", b]);
    for (let i = 0; i < 20; i++) expect(JSON.parse(await readFile(path.join(b, "notes", `n${i}.json`), "utf8")).body).toBe(body(4, i));
    expect((await json(["verify", b])).ok).toBe(true);
    await writeFile(path.join(a, "notes", "n0.json"), JSON.stringify({ title: "after gc" }));
    await json(["sync", a]);
    await json(["sync", b]);
    expect(JSON.parse(await readFile(path.join(b, "notes", "n0.json"), "utf8"))).toEqual({ title: "after gc" });
  }, 180_000);

  it("errors: not a vault folder, a wrong token (exit 1, one line, nothing collected)", async () => {
    const before = await vaultStats();
    const notFolder = await cli(["gc", path.join(tmp, "nowhere")]);
    expect(notFolder.code).toBe(1);
    expect(notFolder.stderr).toMatch(/is not a penumbra-sync vault folder/);
    const wrong = await cli(["gc", path.join(tmp, "a")], { PENUMBRA_SYNC_TOKEN: "not-the-token" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
    expect(wrong.stderr).toMatch(/401 unauthorized/);
    expect(await vaultStats()).toEqual(before);
  }, 60_000);
});
