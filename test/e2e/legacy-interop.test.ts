// The predecessor's API and engine clients on the same vault, end to end: the real Worker served
// locally over HTTP, an engine client (Vault + MemoryStore + HttpRemote + sync) on one side and
// plain legacy HTTP calls on the other. Each sees the other's writes, in both directions.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";

installNodeFastPaths();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

async function device(vault: string, name: string, create = false) {
  const remote = new HttpRemote({ url: server.url, vault, token: server.token });
  if (create && !(await remote.info())) await remote.create({ format: 1, addressing: "sha256", encryption: null });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  return { v, remote };
}

async function legacy(path: string, vault: string, init: RequestInit = {}): Promise<any> {
  const r = await server.fetch(`${path}${path.includes("?") ? "&" : "?"}vault=${vault}`, init);
  const text = await r.text();
  expect(r.status, `${init.method ?? "GET"} ${path}: ${text}`).toBe(200);
  return JSON.parse(text);
}
const post = (path: string, vault: string, body: unknown) => legacy(path, vault, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

const bits = (f: Float32Array) => [...new Uint32Array(f.buffer, f.byteOffset, f.length)];

describe("legacy API and engine clients through the local Worker", () => {
  it("legacy sees engine writes and the engine sees legacy writes, both directions, with pull-since", async () => {
    const vault = "e2e-legacy";
    const a = await device(vault, "dev-a");
    // The legacy client writes first: its push creates the vault.
    const s1 = await post("/sync/push", vault, {
      notes: { l1: { title: "from legacy", body: "one" }, l2: { title: "legacy two" } },
      embeddings: { l1: [0.5, -2, 1e-3, 7] },
      positions: { l1: { x: 10, y: 20 } },
    });

    // Engine pulls the legacy writes.
    const r1 = await sync(a.v, a.remote);
    expect(r1.changes.added).toBe(2);
    expect(a.v.refs.head).toBe(s1.snapshot);
    expect(await a.v.getNote("l1")).toEqual({ title: "from legacy", body: "one" });
    expect(bits((await a.v.getEmbedding("l1"))!)).toEqual(bits(Float32Array.from([0.5, -2, 1e-3, 7])));
    expect(await a.v.getPosition("l1")).toEqual({ x: 10, y: 20 });

    // Engine writes (an embedding with -0 and a subnormal, a large note), deletes l2, syncs.
    const emb = new Float32Array([-0, 1e-40, 3.25, -1]);
    await a.v.putNote("e1", { title: "from engine", body: "x".repeat(10) });
    await a.v.putEmbedding("e1", emb);
    await a.v.putPosition("e1", { x: 1, y: 2, z: 3 });
    const big = { title: "big", body: Array.from({ length: 9000 }, (_, i) => `line ${i} of a long note`).join("\n") };
    await a.v.putNote("big", big);
    await a.v.delete("l2");
    const r2 = await sync(a.v, a.remote);
    const s2 = a.v.refs.head!;
    expect(r2.snapshot).toBe(s2);

    // Legacy sees them: full pull, pull since its own snapshot, single items, status.
    const all = await post("/sync/pull", vault, {});
    expect(all.snapshot).toBe(s2);
    expect(Object.keys(all.notes).sort()).toEqual(["big", "e1", "l1"]);
    expect(all.notes.big).toEqual(big);
    expect(bits(Float32Array.from(all.embeddings.e1))).toEqual(bits(emb));
    const since = await post("/sync/pull", vault, { since: s1.snapshot, embeddingEncoding: "base64" });
    expect(Object.keys(since.notes).sort()).toEqual(["big", "e1"]);
    expect(Object.keys(since.embeddings)).toEqual(["e1"]);
    expect(bits(new Float32Array(Uint8Array.from(Buffer.from(since.embeddings.e1, "base64")).buffer))).toEqual(bits(emb));
    expect(since.positions).toEqual({ e1: { x: 1, y: 2, z: 3 } });
    expect(since.deleted).toEqual(["l2"]);
    expect(await legacy("/notes/big", vault)).toEqual(big);
    const raw = await server.fetch(`/embeddings/e1?vault=${vault}`);
    expect(bits(new Float32Array(new Uint8Array(await raw.arrayBuffer()).buffer))).toEqual(bits(emb));
    expect(await legacy("/sync/status", vault)).toMatchObject({ notes: 3, embeddings: 2, positions: 2, snapshot: s2 });

    // Legacy writes again (single items and a push); a second engine device and the first both see them.
    await legacy("/notes/e1", vault, { method: "PUT", body: JSON.stringify({ title: "edited by legacy" }), headers: { "content-type": "application/json" } });
    const s4 = await post("/sync/push", vault, { deleted: ["big"], positions: { l1: { x: 11, y: 21, z: 0 } } });
    const b = await device(vault, "dev-b");
    await sync(b.v, b.remote);
    const r3 = await sync(a.v, a.remote);
    expect(r3.changes.deleted).toBe(1);
    for (const d of [a, b]) {
      expect(d.v.refs.head).toBe(s4.snapshot);
      expect(d.v.ids()).toEqual(["e1", "l1"]);
      expect(await d.v.getNote("e1")).toEqual({ title: "edited by legacy" });
      expect(bits((await d.v.getEmbedding("e1"))!)).toEqual(bits(emb));
      expect(await d.v.getPosition("l1")).toEqual({ x: 11, y: 21, z: 0 });
    }
  });

  it("an engine client with local edits merges over a legacy write, and legacy pull-since sees the merge", async () => {
    const vault = "e2e-legacy-merge";
    const a = await device(vault, "dev-a", true);
    await a.v.putNote("n", { title: "T", body: "line1\nline2\nline3" });
    await a.v.putNote("keep", { title: "K" });
    await sync(a.v, a.remote);
    const base = a.v.refs.head!;
    // Legacy edits one note while the engine edits another offline.
    const lw = await post("/sync/push", vault, { notes: { legacy: { title: "L" } }, embeddings: { legacy: [1, 2, 3] } });
    await a.v.putNote("keep", { title: "K2" });
    const r = await sync(a.v, a.remote);
    expect(r.merged).toBe(true);
    expect(a.v.ids()).toEqual(["keep", "legacy", "n"]);
    const d = await post("/sync/pull", vault, { since: lw.snapshot });
    expect(d.snapshot).toBe(a.v.refs.head);
    expect(d.notes).toEqual({ keep: { title: "K2" } });
    const d0 = await post("/sync/pull", vault, { since: base });
    expect(Object.keys(d0.notes).sort()).toEqual(["keep", "legacy"]);
    // A legacy clear empties the vault for the engine too.
    const c = await post("/sync/clear", vault, {});
    await sync(a.v, a.remote);
    expect(a.v.refs.head).toBe(c.snapshot);
    expect(a.v.ids()).toEqual([]);
  });
});
