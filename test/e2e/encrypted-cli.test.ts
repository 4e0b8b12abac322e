// The command line with an encrypted vault, as a user runs it: init --encrypt with the passphrase
// from the environment, join with it, a wrong one writes nothing, sync/status/verify/restore/log
// work, the key file is 0600, rekey changes the passphrase without re-encrypting.
import { mkdtemp, rm, writeFile, readFile, readdir, stat, chmod, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, spawnServe, type CliResult } from "../helpers/cli.ts";

const TOKEN = "cli-enc-test-token-0123456789";
const PASS = "seven purple otters juggle fog";
let tmp: string;
let url: string;
let stopServer: () => Promise<void>;

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { PENUMBRA_SYNC_TOKEN: TOKEN, PENUMBRA_SYNC_PASSPHRASE: undefined, PENUMBRA_SYNC_NEW_PASSPHRASE: undefined, ...env });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "penumbra-enc-cli-"));
  ({ url, stop: stopServer } = await spawnServe(path.join(tmp, "server"), TOKEN));
}, 60_000);

afterAll(async () => {
  await stopServer?.();
  await rm(tmp, { recursive: true, force: true });
});

const note = (title: string, body: string) => JSON.stringify({ title, body, updated: "2026-11-25T10:00:00.000Z" }, null, 2);
const exists = (p: string) => access(p).then(() => true, () => false);

describe("penumbra-sync CLI, encrypted vault", () => {
  it("init --encrypt, join, wrong passphrase, sync both ways with a merge, status, verify, log, restore, rekey", async () => {
    const a = path.join(tmp, "a");
    const b = path.join(tmp, "b");
    const c = path.join(tmp, "c");
    const withPass = { PENUMBRA_SYNC_PASSPHRASE: PASS };

    // No passphrase and no terminal: a clear error, nothing written.
    const none = await cli(["init", a, "--remote", url, "--vault", "enc", "--encrypt"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no new passphrase for vault enc \(set PENUMBRA_SYNC_PASSPHRASE or run in a terminal/);
    expect(await exists(a)).toBe(false);
    const weak = await cli(["init", a, "--remote", url, "--vault", "enc", "--encrypt"], { PENUMBRA_SYNC_PASSPHRASE: "short" });
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/shorter than 8 characters/);

    const init = await cli(["init", a, "--remote", url, "--vault", "enc", "--encrypt", "--json"], withPass);
    expect(init.code).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ created: true, encrypted: true, vault: "enc" });
    const keyFile = path.join(a, ".penumbra-sync", "vault-key.json");
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path.join(a, ".penumbra-sync", "config.json"), "utf8"))).toMatchObject({ encrypted: true });

    // Joining with a wrong passphrase: exit 1, one clear line, nothing written.
    const wrong = await cli(["init", b, "--remote", url, "--vault", "enc"], { PENUMBRA_SYNC_PASSPHRASE: "not the passphrase at all" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
    expect(wrong.stderr).toMatch(/wrong passphrase: it does not unlock this vault's key \(.*vault enc\) \(nothing was written; try again\)/);
    expect(await exists(b)).toBe(false);
    // Joining needs the passphrase whether or not --encrypt is given; --encrypt on a plain vault is refused.
    expect((await cli(["init", b, "--remote", url, "--vault", "enc"], withPass)).code).toBe(0);
    expect((await cli(["init", path.join(tmp, "p"), "--remote", url, "--vault", "plainone"])).code).toBe(0);
    const conv = await cli(["init", path.join(tmp, "p2"), "--remote", url, "--vault", "plainone", "--encrypt"], withPass);
    expect(conv.code).toBe(1);
    expect(conv.stderr).toMatch(/exists and is not encrypted/);

    await writeFile(path.join(a, "notes", "n1.json"), note("One", "first\nsecond\nthird"));
    await writeFile(path.join(a, "embeddings", "n1.bin"), Buffer.from(new Float32Array([1, 2, 3]).buffer));
    await writeFile(path.join(a, "positions", "n1.json"), JSON.stringify({ x: 1, y: 2, z: 3 }));
    // Later commands need no passphrase: the device keeps the vault key.
    const s1 = await cli(["sync", a, "--json"]);
    expect(s1.code).toBe(0);
    expect(JSON.parse(s1.stdout).pushed).toEqual({ added: 1, modified: 0, deleted: 0 });
    const s2 = await cli(["sync", b, "--json"]);
    expect(s2.code).toBe(0);
    expect(JSON.parse(await readFile(path.join(b, "notes", "n1.json"), "utf8"))).toEqual(JSON.parse(note("One", "first\nsecond\nthird")));
    expect(new Float32Array((await readFile(path.join(b, "embeddings", "n1.bin"))).buffer.slice(0))).toEqual(new Float32Array([1, 2, 3]));

    // Concurrent edits on both folders, then sync both: a line merge.
    await writeFile(path.join(a, "notes", "n1.json"), note("One", "first (a)\nsecond\nthird"));
    await writeFile(path.join(b, "notes", "n1.json"), JSON.stringify({ title: "One", body: "first\nsecond\nthird (b)", updated: "2026-11-25T11:00:00.000Z" }));
    await writeFile(path.join(b, "notes", "n2.json"), note("Two", "from b"));
    expect((await cli(["sync", a])).code).toBe(0);
    const merged = await cli(["sync", b, "--json"]);
    expect(merged.code).toBe(0);
    expect(JSON.parse(merged.stdout).merged).toBe(true);
    expect((await cli(["sync", a])).code).toBe(0);
    for (const d of [a, b]) {
      expect(JSON.parse(await readFile(path.join(d, "notes", "n1.json"), "utf8")).body).toBe("first (a)\nsecond\nthird (b)");
      expect((await readdir(path.join(d, "notes"))).sort()).toEqual(["n1.json", "n2.json"]);
    }

    const st = await cli(["status", a, "--json"]);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ upToDate: true, unpushed: { added: 0, modified: 0, deleted: 0 } });
    const ver = await cli(["verify", b, "--json"]);
    expect(ver.code).toBe(0);
    expect(JSON.parse(ver.stdout).ok).toBe(true);
    const log = await cli(["log", a, "--json"]);
    expect(log.code).toBe(0);
    const snaps = JSON.parse(log.stdout).snapshots as { snapshot: string; device?: string }[];
    expect(snaps.length).toBeGreaterThanOrEqual(3);
    // The server keeps no device names for encrypted vaults; log fills them in from local snapshots.
    for (const s of snaps) expect(s.device).toMatch(/^dev-[0-9a-f]{16}$/);
    // restore one note from the first snapshot (the encrypted tree is looked up by its keyed id).
    const first = snaps[snaps.length - 1].snapshot;
    const rs = await cli(["restore", a, "--snapshot", first, "--note", "n1", "--json"]);
    expect(rs.code).toBe(0);
    expect(JSON.parse(await readFile(path.join(a, "notes", "n1.json"), "utf8")).body).toBe("first\nsecond\nthird");

    // rekey: a new passphrase; joined folders keep syncing; only the new passphrase joins.
    const noNew = await cli(["rekey", a]);
    expect(noNew.code).toBe(1);
    expect(noNew.stderr).toMatch(/PENUMBRA_SYNC_NEW_PASSPHRASE/);
    const rk = await cli(["rekey", a, "--json"], { PENUMBRA_SYNC_NEW_PASSPHRASE: "an entirely new passphrase" });
    expect(rk.code).toBe(0);
    expect(JSON.parse(rk.stdout)).toMatchObject({ vault: "enc", kdf: { name: "scrypt", N: 65536, r: 8, p: 1 } });
    expect((await cli(["sync", a])).code).toBe(0);
    expect((await cli(["sync", b])).code).toBe(0);
    const old = await cli(["init", c, "--remote", url, "--vault", "enc"], withPass);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/wrong passphrase/);
    expect(await exists(c)).toBe(false);
    expect((await cli(["init", c, "--remote", url, "--vault", "enc"], { PENUMBRA_SYNC_PASSPHRASE: "an entirely new passphrase" })).code).toBe(0);
    expect((await cli(["sync", c])).code).toBe(0);
    expect(JSON.parse(await readFile(path.join(c, "notes", "n1.json"), "utf8")).body).toBe("first\nsecond\nthird");

    // A plain folder cannot rekey; a key file others can read is refused.
    const plainRekey = await cli(["rekey", path.join(tmp, "p")], { PENUMBRA_SYNC_NEW_PASSPHRASE: "whatever passphrase" });
    expect(plainRekey.code).toBe(1);
    expect(plainRekey.stderr).toMatch(/is not encrypted/);
    await chmod(path.join(c, ".penumbra-sync", "vault-key.json"), 0o644);
    const open = await cli(["sync", c]);
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/can be read by other users \(run: chmod 600/);
  }, 240_000);
});
