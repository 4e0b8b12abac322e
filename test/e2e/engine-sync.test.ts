// Two engine clients in Node syncing through the real Worker, served locally over real HTTP.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { Vault, MemoryStore, HttpRemote, sync, push, RemoteError } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { decodePackHeader, PACK_OBJECT_LIMIT } from "../../engine/core/pack.ts";

installNodeFastPaths();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

async function device(vault: string, name: string) {
  const remote = new HttpRemote({ url: server.url, vault, token: server.token });
  if (!(await remote.info())) await remote.create({ format: 1, addressing: "sha256", encryption: null });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  return { v, remote };
}

describe("two devices through the local Worker", () => {
  it("sends what one device writes to the other, deletions included", async () => {
    const a = await device("e2e-basic", "dev-a");
    const b = await device("e2e-basic", "dev-b");
    await a.v.putNote("n1", { title: "One", body: "hello\nworld", updated: "2026-01-01T00:00:00.000Z" });
    await a.v.putEmbedding("n1", new Float32Array([0.5, -0, 1e-40, 3]));
    await a.v.putPosition("n1", { x: 1, y: 2, z: 3 });
    await a.v.putNote("n2", { title: "Two", body: "x" });
    const ra = await sync(a.v, a.remote);
    expect(ra.pushed.added).toBe(2);
    expect(ra.snapshot).toMatch(/^[0-9a-f]{64}$/);
    const rb = await sync(b.v, b.remote);
    expect(rb.changes.added).toBe(2);
    expect(b.v.refs.head).toBe(a.v.refs.head);
    expect(await b.v.getNote("n1")).toEqual({ title: "One", body: "hello\nworld", updated: "2026-01-01T00:00:00.000Z" });
    const emb = (await b.v.getEmbedding("n1")) as Float32Array;
    expect([...new Uint32Array(emb.buffer)]).toEqual([...new Uint32Array(new Float32Array([0.5, -0, 1e-40, 3]).buffer)]);
    expect(await b.v.getPosition("n1")).toEqual({ x: 1, y: 2, z: 3 });

    await b.v.delete("n2");
    await sync(b.v, b.remote);
    const r2 = await sync(a.v, a.remote);
    expect(r2.changes.deleted).toBe(1);
    expect(a.v.ids()).toEqual(["n1"]);
  });

  it("objects packed before the commit (flushStaged, as a large scan does) are pushed with it; a flushed version never committed is harmless", async () => {
    const a = await device("e2e-flush", "dev-a");
    const b = await device("e2e-flush", "dev-b");
    await a.v.putNote("early", { title: "Early", body: "packed before the commit" });
    await a.v.putEmbedding("early", new Float32Array([1, 2, 3]));
    await a.v.putNote("replaced", { title: "Draft", body: "flushed, then replaced before the commit" });
    expect(a.v.stagedBytes).toBeGreaterThan(0);
    await a.v.flushStaged();
    expect(a.v.stagedBytes).toBe(0);
    expect(a.v.refs.unpushed).toHaveLength(1);
    expect(a.v.refs.head).toBeNull(); // nothing committed yet: the packs only wait for the next push
    await a.v.putNote("replaced", { title: "Final", body: "what the snapshot holds" });
    await a.v.putNote("late", { title: "Late", body: "staged at commit time" });
    // Flushing again packs only what the store lacks: the first flush's objects are not packed twice.
    await a.v.putNote("early", { title: "Early", body: "packed before the commit" });
    await a.v.flushStaged();
    expect(a.v.refs.unpushed).toHaveLength(2);
    const r = await sync(a.v, a.remote);
    expect(r.pushed.added).toBe(3);
    expect(r.uploaded.packs).toBe(3); // two flushed packs + the commit's (tree nodes, snapshot)
    expect(a.v.refs.unpushed).toEqual([]);
    const rb = await sync(b.v, b.remote);
    expect(rb.changes.added).toBe(3);
    expect(await b.v.getNote("early")).toEqual({ title: "Early", body: "packed before the commit" });
    expect([...((await b.v.getEmbedding("early")) as Float32Array)]).toEqual([1, 2, 3]);
    expect(await b.v.getNote("replaced")).toEqual({ title: "Final", body: "what the snapshot holds" });
    expect(await b.v.getNote("late")).toEqual({ title: "Late", body: "staged at commit time" });
  });

  it("packs of tiny objects close at PACK_OBJECT_LIMIT objects, so the Worker takes them (9,000 positions)", async () => {
    const a = await device("e2e-tiny", "dev-a");
    const b = await device("e2e-tiny", "dev-b");
    for (let i = 0; i < 9000; i++) await a.v.putPosition(`p${i}`, { x: i, y: -i });
    await a.v.flushStaged();
    const counts = await Promise.all(a.v.refs.unpushed.map(async (id) => decodePackHeader((await a.v.store.getPack(id)) as Uint8Array).objects.length));
    expect(counts.length).toBeGreaterThan(1);
    expect(Math.max(...counts)).toBeLessThanOrEqual(PACK_OBJECT_LIMIT);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(9000);
    await sync(a.v, a.remote);
    expect((await sync(b.v, b.remote)).changes.added).toBe(9000);
    expect(await b.v.getPosition("p8999")).toEqual({ x: 8999, y: -8999 });
  });

  it("a push on a stale head gets head_moved and changes nothing; sync then merges both edits", async () => {
    const a = await device("e2e-merge", "dev-a");
    const b = await device("e2e-merge", "dev-b");
    await a.v.putNote("n", { title: "T", body: "line1\nline2\nline3\nline4", updated: "2026-01-01T00:00:00.000Z" });
    await sync(a.v, a.remote);
    await sync(b.v, b.remote);
    await a.v.putNote("n", { title: "T", body: "line1 edited by a\nline2\nline3\nline4", updated: "2026-01-02T00:00:00.000Z" });
    await b.v.putNote("n", { title: "T", body: "line1\nline2\nline3\nline4 edited by b", updated: "2026-01-03T00:00:00.000Z" });
    await b.v.putNote("only-b", { title: "B", body: "new" });
    await sync(a.v, a.remote);
    const headBefore = (await b.remote.info())?.head?.snapshot;
    await expect(push(b.v, b.remote)).rejects.toMatchObject({ code: "head_moved" });
    expect((await b.remote.info())?.head?.snapshot).toBe(headBefore);
    const rb = await sync(b.v, b.remote);
    expect(rb.merged).toBe(true);
    expect(rb.retries).toBe(1);
    await sync(a.v, a.remote);
    expect(a.v.refs.head).toBe(b.v.refs.head);
    for (const v of [a.v, b.v]) {
      expect((await v.getNote("n"))?.body).toBe("line1 edited by a\nline2\nline3\nline4 edited by b");
      expect(v.ids()).toEqual(["n", "only-b"]);
    }
  });

  it("refuses a wrong token with a 401 RemoteError", async () => {
    const remote = new HttpRemote({ url: server.url, vault: "e2e-auth", token: "wrong" });
    const err = await remote.info().catch((e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.status).toBe(401);
  });
});
