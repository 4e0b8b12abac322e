// The command line as a user runs it: spawn serve, init two folders, sync, check files and exit codes.
import { mkdtemp, rm, writeFile, readFile, readdir, unlink, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, spawnServe, type CliResult } from "../helpers/cli.ts";

const TOKEN = "cli-test-token-0123456789";
let tmp: string;
let url: string;
let stopServer: () => Promise<void>;

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { PENUMBRA_SYNC_TOKEN: TOKEN, ...env });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "penumbra-cli-"));
  ({ url, stop: stopServer } = await spawnServe(path.join(tmp, "server"), TOKEN));
}, 60_000);

afterAll(async () => {
  await stopServer?.();
  await rm(tmp, { recursive: true, force: true });
});

const note = (title: string, body: string) => JSON.stringify({ title, body, updated: "2026-11-25T10:00:00.000Z" }, null, 2);

describe("penumbra-sync CLI", () => {
  it("init, sync between two folders, edits, deletes, --json report", async () => {
    const a = path.join(tmp, "a");
    const b = path.join(tmp, "b");
    expect((await cli(["init", a, "--remote", url, "--vault", "cli"])).code).toBe(0);
    expect((await cli(["init", b, "--remote", url, "--vault", "cli"])).code).toBe(0);
    expect((await readdir(a)).sort()).toEqual([".penumbra-sync", "embeddings", "notes", "positions"]);

    await writeFile(path.join(a, "notes", "n1.json"), note("One", "first\nnote"));
    await writeFile(path.join(a, "embeddings", "n1.bin"), Buffer.from(new Float32Array([1, 2, 3]).buffer));
    await writeFile(path.join(a, "positions", "n1.json"), JSON.stringify({ x: 1, y: 2, z: 3 }));
    await writeFile(path.join(a, "notes", "bad name!.json"), "{}");
    await writeFile(path.join(a, "notes", "broken.json"), "{not json");
    const s1 = await cli(["sync", a, "--json"]);
    expect(s1.code).toBe(0);
    const r1 = JSON.parse(s1.stdout);
    expect(r1.snapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(r1.pushed).toEqual({ added: 1, modified: 0, deleted: 0 });
    expect(r1.uploaded.requests).toBe(1);
    expect(r1.ignored).toHaveLength(2);
    for (const k of ["uploaded", "downloaded", "changes", "conflicts", "needsEmbedding"]) expect(r1).toHaveProperty(k);

    const s2 = await cli(["sync", b, "--json"]);
    expect(s2.code).toBe(0);
    expect(JSON.parse(s2.stdout).changes).toEqual({ added: 1, modified: 0, deleted: 0 });
    expect(JSON.parse(await readFile(path.join(b, "notes", "n1.json"), "utf8"))).toEqual(JSON.parse(note("One", "first\nnote")));
    expect(new Float32Array((await readFile(path.join(b, "embeddings", "n1.bin"))).buffer.slice(0))).toEqual(new Float32Array([1, 2, 3]));
    // Files the user put there that are not notes are never touched: the bad ones stay only in a.
    expect(await readdir(path.join(b, "notes"))).toEqual(["n1.json"]);
    expect(await readFile(path.join(a, "notes", "broken.json"), "utf8")).toBe("{not json");

    await unlink(path.join(b, "positions", "n1.json"));
    expect((await cli(["sync", b])).code).toBe(0);
    expect((await cli(["sync", a])).code).toBe(0);
    await expect(readFile(path.join(a, "positions", "n1.json"))).rejects.toThrow();

    const status = JSON.parse((await cli(["status", a, "--json"])).stdout);
    expect(status.upToDate).toBe(true);
    const log = JSON.parse((await cli(["log", a, "--json"])).stdout);
    expect(log.snapshots.length).toBeGreaterThanOrEqual(2);
    expect(log.snapshots[0].stats).toEqual({ notes: 1, embeddings: 1, positions: 0 });

    // restore one note from the first snapshot after editing it; the restore syncs like any edit.
    const first = log.snapshots[log.snapshots.length - 1].snapshot as string;
    await writeFile(path.join(a, "notes", "n1.json"), note("One", "rewritten"));
    expect((await cli(["sync", a])).code).toBe(0);
    const restored = await cli(["restore", a, "--snapshot", first.slice(0, 12), "--note", "n1", "--json"]);
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ snapshot: first, note: "n1", written: 2 }); // the note and its position (deleted since)
    expect(JSON.parse(await readFile(path.join(a, "notes", "n1.json"), "utf8")).body).toBe("first\nnote");
    expect((await cli(["sync", a])).code).toBe(0);
    expect((await cli(["sync", b])).code).toBe(0);
    expect(JSON.parse(await readFile(path.join(b, "notes", "n1.json"), "utf8")).body).toBe("first\nnote");
    expect((await cli(["restore", a, "--snapshot", first, "--note", "nope"])).code).toBe(1);

    const verify = await cli(["verify", b, "--json"]);
    expect(verify.code).toBe(0);
    const vr = JSON.parse(verify.stdout);
    expect(vr.ok).toBe(true);
    expect(vr.local.checked).toBeGreaterThan(3);
    expect(vr.remote.checked).toBeGreaterThanOrEqual(vr.local.checked);
  }, 180_000);

  it("exit codes: usage 2, wrong token 1, unreachable server 1, not a vault folder 1", async () => {
    const dir = path.join(tmp, "codes");
    expect((await cli(["sync"])).code).toBe(2);
    expect((await cli(["frobnicate"])).code).toBe(2);
    expect((await cli(["init", dir, "--remote", url])).code).toBe(2);
    const wrong = await cli(["init", dir, "--remote", url, "--vault", "v"], { PENUMBRA_SYNC_TOKEN: "nope" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/token/);
    const down = await cli(["init", dir, "--remote", "http://127.0.0.1:9", "--vault", "v"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach/);
    await mkdir(dir, { recursive: true });
    const notVault = await cli(["sync", dir]);
    expect(notVault.code).toBe(1);
    expect(notVault.stderr).toMatch(/not a penumbra-sync vault folder/);
    expect((await cli(["status", dir], { PENUMBRA_SYNC_TOKEN: undefined })).code).toBe(1);

    // A damaged local state is named as such, with what to do.
    const damaged = path.join(tmp, "damaged");
    expect((await cli(["init", damaged, "--remote", url, "--vault", "dmg"])).code).toBe(0);
    await writeFile(path.join(damaged, "notes", "x.json"), note("X", "x"));
    expect((await cli(["sync", damaged])).code).toBe(0);
    await writeFile(path.join(damaged, ".penumbra-sync", "store", "meta", "refs.json"), "{ half a file");
    const corrupt = await cli(["sync", damaged]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toMatch(/local state .* is corrupt/);
  }, 60_000);
});
