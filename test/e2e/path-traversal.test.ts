// Issue 18, item 1, end to end: a device holding an encrypted vault's key (the server cannot look
// into its trees) commits a tree whose note ids are paths. A fresh device's pull, and the next sync
// of a device already there, must refuse it and write nothing anywhere: not outside the vault folder,
// and not inside it either.
import { access, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareBytes } from "../../engine/core/bytes.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { PackBuilder } from "../../engine/core/pack.ts";
import { encodeJsonPart } from "../../engine/core/parts.ts";
import { encodeSnapshot } from "../../engine/core/snapshot.ts";
import { encodeLeaf, type Entry } from "../../engine/core/tree.ts";
import { nodeCompressor } from "../../engine/node/native.ts";
import { openFolder } from "../../cli/context.ts";
import { runCli, spawnServe, type CliResult } from "../helpers/cli.ts";

const TOKEN = "path-traversal-test-token-0123456789";
const PASS = "nine quiet herons count stones";
let tmp: string;
let url: string;
let stopServer: () => Promise<void>;

const cli = (args: string[]): Promise<CliResult> => runCli(args, { PENUMBRA_SYNC_TOKEN: TOKEN, PENUMBRA_SYNC_PASSPHRASE: PASS });
const exists = (p: string) => access(p).then(() => true, () => false);

/** Every file under `dir`, relative to it. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "penumbra-traversal-"));
  ({ url, stop: stopServer } = await spawnServe(path.join(tmp, "server"), TOKEN));
}, 60_000);

afterAll(async () => {
  await stopServer?.();
  await rm(tmp, { recursive: true, force: true });
});

describe("a tree naming paths outside the vault folder (encrypted vault, a device with the key)", () => {
  it("is refused by a fresh device's pull and by the next sync of another device; nothing is written", async () => {
    const vaults = path.join(tmp, "vaults");
    const a = path.join(vaults, "a");
    const b = path.join(vaults, "b");
    expect((await cli(["init", a, "--remote", url, "--vault", "enc", "--encrypt"])).code).toBe(0);
    await writeFile(path.join(a, "notes", "good-note.json"), JSON.stringify({ title: "good", body: "kept" }));
    expect((await cli(["sync", a])).code).toBe(0);
    // What the user sees (engine state under .penumbra-sync/ may keep the downloaded, authentic pack).
    const userFiles = async (dir: string) => (await files(dir)).filter((f) => !f.startsWith(".penumbra-sync"));
    const aFiles = await userFiles(a);
    expect(aFiles).toEqual(["notes/good-note.json"]);

    // The attacker: a patched client with the vault key. It seals and pushes what the engine would
    // refuse to build (ids "../../escaped-note" and "/abs-looking"), with the raw leaf encoder.
    const ctx = await openFolder(a, TOKEN);
    const keys = ctx.vault.keys!;
    const head = ctx.vault.refs.head!;
    const pack = new PackBuilder();
    const seal = (type: ObjectType, bytes: Uint8Array, compress: boolean) => {
      const addr = keys.addressOf(bytes);
      pack.add(type, addr, keys.sealObject(type, addr, bytes, compress), false);
      return addr;
    };
    const items = ["../../escaped-note", "/abs-looking"].map((id) => ({ key: keys.keying.keyOf(id), entry: { id, note: seal(ObjectType.Blob, encodeJsonPart({ title: id, body: "chosen bytes" }), true) } as Entry }));
    items.sort((x, y) => compareBytes(x.key, y.key));
    const root = seal(ObjectType.Tree, encodeLeaf(items, keys.keying), true);
    const snap = seal(ObjectType.Snapshot, encodeSnapshot({ parents: [head], root, device: "attacker", time: "2026-12-01T00:00:00.000Z", stats: { notes: 2, embeddings: 0, positions: 0 } }).bytes, true);
    const built = await pack.finish(nodeCompressor);
    // The server cannot read an encrypted tree: it takes the commit.
    const pushed = await ctx.remote.push([built.bytes], { snapshot: snap, parents: [head], expect: head, packs: [built.id] });
    expect(pushed.commit?.snapshot).toBe(snap);

    // A fresh device joins: the clone refuses the tree.
    const join = await cli(["init", b, "--remote", url, "--vault", "enc"]);
    const pull = join.code === 0 ? await cli(["pull", b]) : join;
    expect(pull.code).toBe(1);
    expect(pull.stderr).toMatch(/not a note id/);
    // The device already there: its sync refuses it too, and its folder is as it was.
    const sync = await cli(["sync", a]);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toMatch(/not a note id/);
    expect(await userFiles(a)).toEqual(aFiles);

    // Nothing anywhere outside the folders, nothing with the chosen names inside them.
    expect((await readdir(vaults)).filter((d) => d !== "a" && d !== "b")).toEqual([]);
    expect(await exists(path.join(vaults, "escaped-note.json"))).toBe(false);
    expect(await exists(path.join(tmp, "escaped-note.json"))).toBe(false);
    expect((await exists(b)) ? await userFiles(b) : []).toEqual([]);
  });
});
