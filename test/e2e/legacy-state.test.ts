// A vault folder whose local state an older release wrote opens and syncs (issue 14). The fixture
// test/fixtures/legacy-state-v1/ was made by the release before the binary local-state formats
// (commit b8b67ee): `init`, 31 notes written (one of them chunked), then a `sync` that committed
// locally and failed to reach its server. Its .penumbra-sync/ holds that release's layout: packs,
// refs, the stat cache as one JSON meta (`statcache.json`) and the checkout root (`checkout.json`),
// no checkout index and no object index file. Also: damaged new-format files are rebuilt.
import { cp, readFile, readdir, stat, writeFile, access } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runCli, type CliResult } from "../helpers/cli.ts";
import { serverWithFolder } from "../helpers/server-fixture.ts";
import { canonicalBytes } from "../../engine/core/canonical.ts";
import { addressOf } from "../../engine/core/hash.ts";

const sha = (b: Uint8Array) => addressOf(b).slice(0, 16);

const FIXTURE = path.join(ROOT, "test", "fixtures", "legacy-state-v1");
const fixture = serverWithFolder("penumbra-legacy-state-");
const cli = (args: string[]): Promise<CliResult> => runCli(args, { PENUMBRA_SYNC_TOKEN: fixture.server.token });
const exists = (p: string) => access(p).then(() => true, () => false);

/** The fixture copied to `dir`, pointed at the test server. */
async function legacyFolder(dir: string, vault: string): Promise<void> {
  await cp(FIXTURE, dir, { recursive: true });
  await writeFile(path.join(dir, ".penumbra-sync", "config.json"), JSON.stringify({ remote: fixture.server.url, vault }));
}

async function folderFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const sub of ["notes", "embeddings", "positions"])
    for (const name of await readdir(path.join(dir, sub))) {
      const bytes = await readFile(path.join(dir, sub, name));
      // Pulled JSON files are written in their own layout: compare canonical content (by hash, for short messages).
      out.set(`${sub}/${name}`, sub === "embeddings" ? sha(bytes) : sha(canonicalBytes(JSON.parse(bytes.toString("utf8")))));
    }
  return out;
}

describe("local state written by the previous release", () => {
  it("opens, is carried over without re-reading a file, pushes its unpushed snapshot, and syncs on", async () => {
    const a = path.join(fixture.tmp, "a");
    const b = path.join(fixture.tmp, "b");
    await legacyFolder(a, "legacy");
    // The same machine as the one that wrote it: its stat cache's rows name these very files.
    const meta = path.join(a, ".penumbra-sync", "store", "meta");
    const cache = JSON.parse(await readFile(path.join(meta, "statcache.json"), "utf8")) as Record<string, [number, number, number, string, number]>;
    expect(Object.keys(cache)).toHaveLength(31 + 15 + 10);
    for (const rel of Object.keys(cache)) {
      const st = await stat(path.join(a, rel));
      cache[rel] = [st.size, st.mtimeMs, st.ino, cache[rel][3], cache[rel][4]];
    }
    await writeFile(path.join(meta, "statcache.json"), JSON.stringify(cache));
    expect((await cli(["init", b, "--remote", fixture.server.url, "--vault", "legacy"])).code).toBe(0);

    const first = await cli(["sync", a, "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const r = JSON.parse(first.stdout);
    expect(r.hashed).toBe(0); // every old row carried over: nothing read again
    expect(r.uploaded.requests).toBe(1); // the old release's unpushed snapshot, as it was
    expect(r.snapshot).toBe(JSON.parse(await readFile(path.join(FIXTURE, ".penumbra-sync", "store", "meta", "refs.json"), "utf8")).head);
    // The old metas are gone, the new files are there.
    expect(await exists(path.join(meta, "statcache.json"))).toBe(false);
    expect(await exists(path.join(meta, "checkout.json"))).toBe(false);
    expect(await exists(path.join(a, ".penumbra-sync", "checkout.pnck"))).toBe(true);
    expect(await exists(path.join(a, ".penumbra-sync", "store", "objects.pnix"))).toBe(true);

    // A no-op now reads nothing and sends nothing.
    const noop = JSON.parse((await cli(["sync", a, "--json"])).stdout);
    expect([noop.hashed, noop.uploaded.requests, noop.pushed]).toEqual([0, 0, { added: 0, modified: 0, deleted: 0 }]);

    // Another device gets exactly the folder, large (chunked) note included.
    expect((await cli(["sync", b])).code).toBe(0);
    expect(await folderFiles(b)).toEqual(await folderFiles(a));

    // Edits and deletes flow both ways.
    const n5 = path.join(a, "notes", "n005.json");
    await writeFile(n5, JSON.stringify({ title: "Note 5", body: "edited after the migration" }));
    await writeFile(path.join(b, "positions", "n007.json"), JSON.stringify({ x: 70, y: 7, z: 1 }));
    const e1 = JSON.parse((await cli(["sync", a, "--json"])).stdout);
    expect([e1.hashed, e1.pushed]).toEqual([1, { added: 0, modified: 1, deleted: 0 }]);
    const e2 = JSON.parse((await cli(["sync", b, "--json"])).stdout);
    expect(e2.changes).toEqual({ added: 0, modified: 1, deleted: 0 });
    expect(e2.pushed).toEqual({ added: 0, modified: 1, deleted: 0 }); // n007 had no position: the note gains one
    expect((await cli(["sync", a])).code).toBe(0);
    expect(await folderFiles(a)).toEqual(await folderFiles(b));
    expect(JSON.parse(await readFile(path.join(b, "notes", "n005.json"), "utf8")).body).toBe("edited after the migration");
  }, 120_000);

  it("copied to another machine (the old rows' inodes do not match): every file is read once, and it syncs", async () => {
    const c = path.join(fixture.tmp, "c");
    const d = path.join(fixture.tmp, "d");
    await legacyFolder(c, "legacy-copy");
    expect((await cli(["init", d, "--remote", fixture.server.url, "--vault", "legacy-copy"])).code).toBe(0);
    const first = await cli(["sync", c, "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const r = JSON.parse(first.stdout);
    expect(r.hashed).toBe(31 + 15 + 10);
    // Read again, the files are what the old snapshot holds: nothing new to commit.
    expect(r.pushed).toEqual({ added: 0, modified: 0, deleted: 0 });
    expect(JSON.parse((await cli(["sync", c, "--json"])).stdout).hashed).toBe(0);
    expect((await cli(["sync", d])).code).toBe(0);
    expect(await folderFiles(d)).toEqual(await folderFiles(c));
  }, 120_000);

  it("a damaged checkout index or object index (torn, foreign bytes) is rebuilt: the next sync reads the files again and changes nothing", async () => {
    const e = path.join(fixture.tmp, "e");
    const f = path.join(fixture.tmp, "f");
    await legacyFolder(e, "damaged");
    expect((await cli(["init", f, "--remote", fixture.server.url, "--vault", "damaged"])).code).toBe(0);
    expect((await cli(["sync", e])).code).toBe(0);
    const checkoutFile = path.join(e, ".penumbra-sync", "checkout.pnck");
    const indexFile = path.join(e, ".penumbra-sync", "store", "objects.pnix");
    const head = JSON.parse((await cli(["sync", e, "--json"])).stdout).snapshot;
    for (const damage of [
      async () => writeFile(checkoutFile, (await readFile(checkoutFile)).subarray(0, 1000)), // torn
      async () => writeFile(indexFile, (await readFile(indexFile)).subarray(0, 70_000)),
      async () => {
        const b = await readFile(checkoutFile);
        b[200] ^= 0x40; // a flipped bit in a row
        await writeFile(checkoutFile, b);
        await writeFile(indexFile, "not an index");
      },
    ]) {
      await damage();
      const r = await cli(["sync", e, "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.snapshot).toBe(head); // nothing new committed
      expect(out.pushed).toEqual({ added: 0, modified: 0, deleted: 0 });
      expect(JSON.parse((await cli(["sync", e, "--json"])).stdout).hashed).toBe(0); // rebuilt and clean again
    }
    expect((await cli(["sync", f])).code).toBe(0);
    expect(await folderFiles(f)).toEqual(await folderFiles(e));
    const v = await cli(["verify", e, "--json"]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 120_000);
});
