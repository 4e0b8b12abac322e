// The predecessor's API (docs/legacy-api.md) through the real Worker, Durable Object and local R2:
// every route and status code, bit-exact embeddings, chunked notes, clear, vault selection, auth,
// CORS and encrypted vaults.
import { describe, expect, it } from "vitest";
import { ObjectType } from "../../engine/core/object.ts";
import { decodePackHeader } from "../../engine/core/pack.ts";
import { api, createVault, postJson, r2Keys, r2Ops, vaultInfo } from "./helpers.ts";

const q = (vault: string) => `?vault=${vault}`;

async function ok(r: Response): Promise<any> {
  const text = await r.text();
  expect(r.status, text).toBe(200);
  return JSON.parse(text);
}

async function expectError(r: Response, status: number, code: string): Promise<any> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  const body = JSON.parse(text);
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe("string");
  return body;
}

const pushL = (vault: string, body: unknown) => postJson(`/sync/push${q(vault)}`, body);
const pullL = (vault: string, body: unknown = {}) => postJson(`/sync/pull${q(vault)}`, body);
const statusL = (vault: string) => api(`/sync/status${q(vault)}`);

function bytesOfBits(bits: number[]): Uint8Array {
  return new Uint8Array(new Uint32Array(bits).buffer);
}
function bitsOf(bytes: Uint8Array): number[] {
  return [...new Uint32Array(bytes.slice().buffer)];
}
function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
function unb64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** The objects of the newest pack of a vault (by its R2 key set before and after a write). */
async function newPackTypes(vault: string, before: string[]): Promise<number[]> {
  const added = (await r2Keys(vault)).filter((k) => !before.includes(k));
  expect(added).toHaveLength(1);
  const { env } = await import("cloudflare:test");
  const obj = await env.BUCKET.get(added[0]);
  return decodePackHeader(new Uint8Array(await obj!.arrayBuffer())).objects.map((o) => o.type);
}

async function parentsOf(vault: string, snapshot: string): Promise<string[]> {
  const log: any = await ok(await api(`/v1/vaults/${vault}/log?limit=1000`));
  return log.snapshots.find((s: any) => s.snapshot === snapshot).parents;
}

describe("legacy push, pull, status", () => {
  it("round-trips notes, embeddings and positions, and reports status", async () => {
    const v = "lg-basic";
    const notes = { a: { title: "A", body: "first\nline", tags: ["x", "y"] }, "b.2": { title: "B", n: 2.5 }, "c_3-x": { nested: { deep: [1, { k: null }] } } };
    // Float32 values (a double that is not one comes back rounded to float32).
    const embeddings = { a: [0.25, -1, 3.5, Math.fround(1e-30)], "b.2": [1, 2, 3, 4] };
    const positions = { a: { x: 1, y: 2, z: 3 }, "c_3-x": { x: -0.5, y: 1e10 } };
    const p = await ok(await pushL(v, { notes, embeddings, positions }));
    expect(p.snapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(p.stored).toEqual({ notes: 3, embeddings: 2, positions: 2 });
    expect(p.deleted).toBe(0);

    const all = await ok(await pullL(v));
    expect(all).toEqual({ snapshot: p.snapshot, snapshotId: p.snapshot, notes, embeddings, positions, deleted: [] });

    const s = await ok(await statusL(v));
    const info = await vaultInfo(v);
    expect(s).toEqual({
      notes: 3,
      embeddings: 2,
      positions: 2,
      bytes: info.stats.bytes,
      limitBytes: 536870912,
      snapshot: p.snapshot,
      lastModified: info.head.committedAt,
      noteCount: 3,
      snapshotId: p.snapshot,
      storageBytes: info.stats.bytes,
      storageLimit: 536870912,
    });
    expect(s.bytes).toBeGreaterThan(0);
    expect(new Date(s.lastModified).toISOString()).toBe(s.lastModified);
    // A plain vault was created on the first write, and the snapshot is in its log as the engine's are.
    expect(info.config).toEqual({ format: 1, addressing: "sha256", encryption: null });
    const log: any = await ok(await api(`/v1/vaults/${v}/log`));
    expect(log.snapshots[0]).toMatchObject({ snapshot: p.snapshot, seq: 1, parents: [], device: "legacy-api", stats: { notes: 3, embeddings: 2, positions: 2 } });
  });

  it("stores nothing again for identical items, and dedupes by address across ids", async () => {
    const v = "lg-dedupe";
    const body = { notes: { a: { t: "same text" }, b: { t: "other" } }, embeddings: { a: [1, 2] }, positions: { a: { x: 1, y: 1 } } };
    const first = await ok(await pushL(v, body));
    const keys = await r2Keys(v);
    // Identical again (keys in another order, which canonical JSON ignores): nothing stored, no new snapshot, no R2 write.
    const again = await pushL(v, { positions: { a: { y: 1, x: 1 } }, notes: { b: { t: "other" }, a: { t: "same text" } }, embeddings: { a: [1, 2] } });
    expect(r2Ops(again).A).toBe(0);
    expect(await ok(again)).toEqual({ snapshot: first.snapshot, snapshotId: first.snapshot, accepted: 2, stored: { notes: 0, embeddings: 0, positions: 0 }, deleted: 0 });
    expect(await r2Keys(v)).toEqual(keys);
    // One changed note among identical ones: counted alone, one new snapshot whose parent is the head.
    const one = await ok(await pushL(v, { ...body, notes: { ...body.notes, b: { t: "changed" } } }));
    expect(one.stored).toEqual({ notes: 1, embeddings: 0, positions: 0 });
    expect(await parentsOf(v, one.snapshot)).toEqual([first.snapshot]);
    // A new id whose note equals a stored one: the blob is not uploaded again (the pack holds no blob).
    const before = await r2Keys(v);
    const dup = await ok(await pushL(v, { notes: { c: { t: "same text" } } }));
    expect(dup.stored.notes).toBe(1);
    const types = await newPackTypes(v, before);
    expect(types).not.toContain(ObjectType.Blob);
    expect(types.filter((t) => t === ObjectType.Snapshot)).toHaveLength(1);
    expect((await ok(await api(`/notes/c${q(v)}`))).t).toBe("same text");
  });

  it("deletes ids, counts only those it found, and lists them in a pull since", async () => {
    const v = "lg-delete";
    const s1 = await ok(await pushL(v, { notes: { a: { n: 1 }, b: { n: 2 }, c: { n: 3 } }, embeddings: { b: [1] }, positions: { b: { x: 0, y: 0 } } }));
    const s2 = await ok(await pushL(v, { deleted: ["b", "nope"], notes: { d: { n: 4 } } }));
    expect(s2.deleted).toBe(1);
    expect(s2.stored).toEqual({ notes: 1, embeddings: 0, positions: 0 });
    const since = await ok(await pullL(v, { since: s1.snapshot }));
    expect(since).toEqual({
      snapshot: s2.snapshot,
      snapshotId: s2.snapshot,
      notes: { d: { n: 4 } },
      embeddings: {},
      positions: {},
      deleted: ["b"],
      removed: { notes: [], embeddings: [], positions: [] },
    });
    expect(await ok(await statusL(v))).toMatchObject({ notes: 3, embeddings: 0, positions: 0 });
    // A push that changes nothing answers the head.
    expect((await ok(await pushL(v, { deleted: ["b"] }))).snapshot).toBe(s2.snapshot);
    expect((await ok(await pushL(v, {}))).snapshot).toBe(s2.snapshot);
  });

  it("pulls since: changed items only, unknown snapshots 404, the head gives nothing", async () => {
    const v = "lg-since";
    const s1 = await ok(await pushL(v, { notes: { a: { v: 1 }, b: { v: 1 } }, embeddings: { a: [1, 1] }, positions: { a: { x: 1, y: 1 } } }));
    const s2 = await ok(await pushL(v, { notes: { a: { v: 2 } }, positions: { a: { x: 2, y: 2 } } }));
    const d = await ok(await pullL(v, { since: s1.snapshot }));
    expect(d.notes).toEqual({ a: { v: 2 } });
    expect(d.embeddings).toEqual({}); // unchanged
    expect(d.positions).toEqual({ a: { x: 2, y: 2 } });
    const none = await ok(await pullL(v, { since: s2.snapshot }));
    expect(none).toEqual({ snapshot: s2.snapshot, snapshotId: s2.snapshot, notes: {}, embeddings: {}, positions: {}, deleted: [], removed: { notes: [], embeddings: [], positions: [] } });
    // A part removed while the item stays: listed under `removed`.
    await ok(await api(`/embeddings/a${q(v)}`, { method: "DELETE" }));
    const r = await ok(await pullL(v, { since: s2.snapshot }));
    expect(r.removed).toEqual({ notes: [], embeddings: ["a"], positions: [] });
    expect(r.deleted).toEqual([]);
    // Unknown since: 404, never a full dump; in a vault that does not exist too.
    await expectError(await pullL(v, { since: "0".repeat(64) }), 404, "unknown_snapshot");
    await expectError(await pullL("lg-nowhere", { since: s1.snapshot }), 404, "unknown_snapshot");
    // A snapshot of another vault is unknown here.
    const other = await ok(await pushL("lg-since-other", { notes: { z: {} } }));
    await expectError(await pullL(v, { since: other.snapshot }), 404, "unknown_snapshot");
    // Text that is neither a snapshot id nor a label (labels: visible ASCII, 1-128 characters) is 400; a label no push gave is unknown.
    await expectError(await pullL(v, { since: "not a snapshot" }), 400, "bad_request");
    await expectError(await pullL(v, { since: "not-a-snapshot" }), 404, "unknown_snapshot");
  });

  it("clears: a new empty snapshot, status and pull empty, storage reclaimed by GC", async () => {
    const v = "lg-clear";
    const s1 = await ok(await pushL(v, { notes: { a: { x: 1 }, b: { x: 2 } }, embeddings: { a: [1, 2, 3] } }));
    const c = await ok(await api(`/sync/clear${q(v)}`, { method: "POST" }));
    // `cleared` counts the parts removed: 2 notes and 1 embedding.
    expect(c).toMatchObject({ cleared: 3, snapshot: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(c.gc.after.bytes).toBeLessThan(c.gc.before.bytes);
    expect(c.snapshot).not.toBe(s1.snapshot);
    expect(await parentsOf(v, c.snapshot)).toEqual([s1.snapshot]);
    expect(await ok(await pullL(v))).toEqual({ snapshot: c.snapshot, snapshotId: c.snapshot, notes: {}, embeddings: {}, positions: {}, deleted: [] });
    expect(await ok(await statusL(v))).toMatchObject({ notes: 0, embeddings: 0, positions: 0, snapshot: c.snapshot });
    // The clear's GC kept only the head: a pull since older history is 404 (the client pulls in full).
    expect((await pullL(v, { since: s1.snapshot })).status).toBe(404);
    // Clearing an empty vault changes nothing; clearing a vault never written creates it, empty.
    expect(await ok(await api(`/sync/clear${q(v)}`, { method: "POST" }))).toMatchObject({ cleared: 0, snapshot: c.snapshot });
    const fresh = await ok(await api(`/sync/clear${q("lg-clear-new")}`, { method: "POST" }));
    expect(fresh.cleared).toBe(0);
    expect((await vaultInfo("lg-clear-new")).head.snapshot).toBe(fresh.snapshot);
    // After a clear the embedding size can change.
    await ok(await pushL(v, { embeddings: { a: [1, 2, 3, 4, 5] } }));
  });
});

describe("legacy single items", () => {
  it("PUT, GET and DELETE notes, embeddings and positions; each write makes a snapshot", async () => {
    const v = "lg-items";
    const heads: string[] = [];
    const put = async (path: string, body: BodyInit, type: string) => {
      const r = await ok(await api(`${path}${q(v)}`, { method: "PUT", body, headers: { "content-type": type } }));
      heads.push(r.snapshot);
      return r;
    };
    expect(await put("/notes/n1", JSON.stringify({ title: "T", body: "b" }), "application/json")).toEqual({ id: "n1", snapshot: heads[0], stored: true });
    const emb = bytesOfBits([0x3f800000, 0x40000000, 0xbf800000]);
    await put("/embeddings/n1", emb as Uint8Array<ArrayBuffer>, "application/octet-stream");
    await put("/positions/n1", JSON.stringify({ x: 1.5, y: -2, z: 0 }), "application/json; charset=utf-8");
    expect(new Set(heads).size).toBe(3);
    expect(await parentsOf(v, heads[2])).toEqual([heads[1]]);

    const gn = await api(`/notes/n1${q(v)}`);
    expect(gn.headers.get("content-type")).toContain("application/json");
    expect(await ok(gn)).toEqual({ title: "T", body: "b" });
    const ge = await api(`/embeddings/n1${q(v)}`);
    expect(ge.status).toBe(200);
    expect(ge.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await ge.arrayBuffer())).toEqual(emb);
    expect(await ok(await api(`/positions/n1${q(v)}`))).toEqual({ x: 1.5, y: -2, z: 0 });

    // Identical PUT: no new snapshot.
    const same = await ok(await api(`/notes/n1${q(v)}`, { method: "PUT", body: JSON.stringify({ body: "b", title: "T" }), headers: { "content-type": "application/json" } }));
    expect(same).toEqual({ id: "n1", snapshot: heads[2], stored: false });

    for (const c of ["notes", "embeddings", "positions"]) await expectError(await api(`/${c}/missing${q(v)}`), 404, "not_found");
    // DELETE of a part keeps the rest; DELETE of a note removes the whole item.
    expect(await ok(await api(`/positions/n1${q(v)}`, { method: "DELETE" }))).toMatchObject({ id: "n1", deleted: true });
    await expectError(await api(`/positions/n1${q(v)}`), 404, "not_found");
    await expectError(await api(`/positions/n1${q(v)}`, { method: "DELETE" }), 404, "not_found");
    expect((await api(`/embeddings/n1${q(v)}`)).status).toBe(200);
    const del = await ok(await api(`/notes/n1${q(v)}`, { method: "DELETE" }));
    expect(del.snapshot).toBe((await vaultInfo(v)).head.snapshot);
    for (const c of ["notes", "embeddings"]) await expectError(await api(`/${c}/n1${q(v)}`), 404, "not_found");
    await expectError(await api(`/notes/n1${q(v)}`, { method: "DELETE" }), 404, "not_found");
    // An embedding alone is an item too (the engine allows it).
    await put("/embeddings/solo", emb as Uint8Array<ArrayBuffer>, "application/octet-stream");
    expect((await ok(await pullL(v))).embeddings).toEqual({ solo: [1, 2, -1] });
  });

  it("stores notes over 64 KiB as chunks and a chunk list, as the engine does", async () => {
    const v = "lg-large";
    let body = "";
    for (let i = 0; body.length < 200_000; i++) body += `line ${i}: ${"lorem ipsum dolor sit amet ".repeat((i % 7) + 1)}\n`;
    const note = { title: "big", body };
    const before = await r2Keys(v);
    await ok(await api(`/notes/big${q(v)}`, { method: "PUT", body: JSON.stringify(note), headers: { "content-type": "application/json" } }));
    const types = await newPackTypes(v, before);
    expect(types).toContain(ObjectType.ChunkList);
    expect(types.filter((t) => t === ObjectType.Blob).length).toBeGreaterThan(3);
    expect(await ok(await api(`/notes/big${q(v)}`))).toEqual(note);
    expect((await ok(await pullL(v))).notes.big).toEqual(note);
    // An edit in the middle re-stores only the chunks around it.
    const before2 = await r2Keys(v);
    const edited = { title: "big", body: body.slice(0, 100_000) + "EDIT" + body.slice(100_000) };
    await ok(await pushL(v, { notes: { big: edited } }));
    const t2 = await newPackTypes(v, before2);
    expect(t2.filter((t) => t === ObjectType.Blob).length).toBeLessThan(types.filter((t) => t === ObjectType.Blob).length);
    expect(await ok(await api(`/notes/big${q(v)}`))).toEqual(edited);
  });
});

describe("legacy embeddings are bit-exact", () => {
  const finite = [0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00800000, 0x7f7fffff, 0xff7fffff, 0x3f800000, 0x3dcccccd, 0xc2f6e979];
  const special = [0x7f800000, 0xff800000, 0x7fc00000, 0x7fc00001, 0xffa00000, 0x7f800001, 0xffffffff];

  it("keeps -0, subnormals, extremes, +-Infinity and NaN payloads through PUT/GET and base64", async () => {
    const v = "lg-bits";
    const all = bytesOfBits([...finite, ...special]);
    await ok(await api(`/embeddings/e1${q(v)}`, { method: "PUT", body: all as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream" } }));
    expect(bitsOf(new Uint8Array(await (await api(`/embeddings/e1${q(v)}`)).arrayBuffer()))).toEqual([...finite, ...special]);
    // base64 in, base64 out: every bit pattern survives.
    const other = bytesOfBits([...special, ...finite].reverse());
    await ok(await pushL(v, { embeddings: { e2: b64(other) } }));
    const p = await ok(await pullL(v, { embeddingEncoding: "base64" }));
    expect(bitsOf(unb64(p.embeddings.e1))).toEqual([...finite, ...special]);
    expect(bitsOf(unb64(p.embeddings.e2))).toEqual([...special, ...finite].reverse());
    expect(p.nonFiniteEmbeddings).toBeUndefined();
    // Number arrays: finite values exact (-0 written as -0), NaN and +-Infinity as null, and the ids listed.
    const r = await pullL(v);
    const text = await r.clone().text();
    expect(text).toContain("[0,-0,1.401298464324817e-45,");
    const a = await ok(r);
    expect(a.nonFiniteEmbeddings).toEqual(["e1", "e2"]);
    const back = Float32Array.from(a.embeddings.e1.slice(0, finite.length) as number[]);
    expect(bitsOf(new Uint8Array(back.buffer))).toEqual(finite);
    expect(a.embeddings.e1.slice(finite.length)).toEqual(special.map(() => null));
  });

  it("takes number arrays written with -0 and shortest float32 forms exactly", async () => {
    const v = "lg-bits-json";
    const f = new Float32Array(bytesOfBits(finite).buffer);
    // JSON.stringify would write -0 as 0: write the JSON text by hand, as a careful client does.
    const arr = `[${[...f].map((x) => (Object.is(x, -0) ? "-0" : String(x))).join(",")}]`;
    const r = await api(`/sync/push${q(v)}`, { method: "POST", body: `{"embeddings":{"x":${arr}}}`, headers: { "content-type": "application/json" } });
    expect((await ok(r)).stored.embeddings).toBe(1);
    expect(bitsOf(new Uint8Array(await (await api(`/embeddings/x${q(v)}`)).arrayBuffer()))).toEqual(finite);
    const p = await ok(await pullL(v));
    expect(bitsOf(new Uint8Array(Float32Array.from(p.embeddings.x as number[]).buffer))).toEqual(finite);
    // Doubles round to the nearest float32, as Float32Array does.
    await ok(await pushL(`${v}-2`, { embeddings: { y: [0.1, 1 / 3, 16777217, 1e-46, 3.4028235e38] } }));
    const y = new Uint8Array(await (await api(`/embeddings/y${q(`${v}-2`)}`)).arrayBuffer());
    expect(bitsOf(y)).toEqual(bitsOf(new Uint8Array(Float32Array.from([0.1, 1 / 3, 16777217, 1e-46, 3.4028235e38]).buffer)));
  });

  it("holds every embedding of a vault to one size once one exists", async () => {
    const v = "lg-dims";
    const put = (id: string, bytes: Uint8Array) => api(`/embeddings/${id}${q(v)}`, { method: "PUT", body: bytes as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream" } });
    // In one push to a vault without embeddings, they must agree with each other.
    await expectError(await pushL(v, { embeddings: { a: [1, 2, 3], b: [1, 2] } }), 400, "bad_request");
    await ok(await put("a", new Uint8Array(12)));
    await expectError(await put("b", new Uint8Array(16)), 400, "bad_request");
    await expectError(await pushL(v, { embeddings: { b: [1, 2, 3, 4] } }), 400, "bad_request");
    await expectError(await pushL(v, { embeddings: { b: b64(new Uint8Array(8)) } }), 400, "bad_request");
    await ok(await put("b", bytesOfBits([1, 2, 3])));
    for (const n of [0, 2, 6, 16 * 1024 + 4]) await expectError(await put("c", new Uint8Array(n)), 400, "bad_request");
    expect((await ok(await statusL(v))).embeddings).toBe(2);
    // Once none is left, another size may start.
    await ok(await api(`/embeddings/a${q(v)}`, { method: "DELETE" }));
    await ok(await api(`/embeddings/b${q(v)}`, { method: "DELETE" }));
    await ok(await put("c", new Uint8Array(16 * 1024)));
  });
});

describe("legacy routing, vaults, auth, CORS", () => {
  it("uses ?vault= or the default vault; reads of a vault that does not exist see it empty", async () => {
    const d = await ok(await postJson("/sync/push", { notes: { "in-default": { d: 1 } } }));
    expect((await vaultInfo("default")).head.snapshot).toBe(d.snapshot);
    expect((await ok(await api("/notes/in-default"))).d).toBe(1);
    await expectError(await api(`/notes/in-default${q("lg-other")}`), 404, "not_found");

    const nv = "lg-never";
    expect(await ok(await pullL(nv))).toEqual({ snapshot: null, snapshotId: null, notes: {}, embeddings: {}, positions: {}, deleted: [] });
    expect(await ok(await statusL(nv))).toEqual({
      notes: 0,
      embeddings: 0,
      positions: 0,
      bytes: 0,
      limitBytes: 536870912,
      snapshot: null,
      lastModified: null,
      noteCount: 0,
      snapshotId: null,
      storageBytes: 0,
      storageLimit: 536870912,
    });
    await expectError(await api(`/embeddings/x${q(nv)}`), 404, "not_found");
    await expectError(await api(`/notes/x${q(nv)}`, { method: "DELETE" }), 404, "not_found");
    // A refused push does not create it; a push that changes nothing does, with an empty snapshot
    // (the app's client needs a snapshot id in every push answer).
    await expectError(await pushL(nv, { deleted: ["x"], extra: 1 }), 400, "bad_request");
    expect((await api(`/v1/vaults/${nv}`)).status).toBe(404);
    const empty = await ok(await pushL(nv, { deleted: ["x"] }));
    expect(empty).toEqual({ snapshot: expect.stringMatching(/^[0-9a-f]{64}$/), snapshotId: empty.snapshot, accepted: 0, stored: { notes: 0, embeddings: 0, positions: 0 }, deleted: 0 });
    expect((await vaultInfo(nv)).head.snapshot).toBe(empty.snapshot);
    expect((await ok(await pushL(nv, {}))).snapshot).toBe(empty.snapshot);

    for (const bad of ["", "a b", "x".repeat(65), "a.b", "%2e%2e"]) await expectError(await api(`/sync/status?vault=${bad}`), 400, "bad_request");
  });

  it("answers 405 with Allow for wrong methods and 404 for unknown legacy paths", async () => {
    const cases: [string, string, string][] = [
      ["/sync/push", "GET", "POST"],
      ["/sync/pull", "GET", "POST"],
      ["/sync/status", "POST", "GET"],
      ["/sync/clear", "GET", "POST"],
      ["/notes/a", "POST", "GET, PUT, DELETE"],
      ["/embeddings/a", "PATCH", "GET, PUT, DELETE"],
      ["/positions/a", "POST", "GET, PUT, DELETE"],
    ];
    for (const [path, method, allow] of cases) {
      const r = await api(`${path}${q("lg-methods")}`, { method, body: method === "GET" ? undefined : "{}" });
      await expectError(r, 405, "method_not_allowed");
      expect(r.headers.get("allow")).toBe(allow);
    }
    for (const path of ["/sync", "/sync/", "/sync/nothing", "/sync/push/x", "/notes", "/notes/a/b", "/embeddings", "/positions/a/b/c"]) await expectError(await api(path), 404, "not_found");
    expect((await api("/v1/vaults/lg-methods")).status).toBe(404);
  });

  it("needs the bearer token, and answers CORS as the rest of the Worker (DELETE allowed)", async () => {
    for (const [path, method] of [["/sync/status", "GET"], ["/sync/push", "POST"], ["/notes/a", "DELETE"], ["/sync/clear", "POST"]]) {
      const r = await api(`${path}${q("lg-auth")}`, { method, token: null, body: method === "POST" ? "{}" : undefined });
      await expectError(r, 401, "unauthorized");
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
      await expectError(await api(`${path}${q("lg-auth")}`, { method, token: "wrong", body: method === "POST" ? "{}" : undefined }), 401, "unauthorized");
    }
    expect((await api("/v1/vaults/lg-auth")).status).toBe(404); // the refused clear created nothing

    const pre = await api("/notes/a", { method: "OPTIONS", token: null, headers: { origin: "https://app.example", "access-control-request-method": "DELETE" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(pre.headers.get("access-control-allow-methods")).toContain("DELETE");
    expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");
    const evil = await api("/sync/push", { method: "OPTIONS", token: null, headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(evil.status).toBe(403);
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    const r = await api(`/sync/status${q("lg-auth")}`, { headers: { origin: "https://app.example" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(r.headers.get("vary")).toBe("Origin");
    const e = await api(`/sync/status${q("lg-auth")}`, { headers: { origin: "https://evil.example" } });
    expect(e.headers.get("access-control-allow-origin")).toBeNull();
    // The engine's routes answer the same preflight (DELETE there revokes a token).
    const engine = await api("/v1/vaults/x/push", { method: "OPTIONS", token: null, headers: { origin: "https://app.example" } });
    expect(engine.status).toBe(204);
    expect(engine.headers.get("access-control-allow-methods")).toBe(pre.headers.get("access-control-allow-methods"));
  });

  it("answers 409 encrypted_vault on every route for an encrypted vault, and changes nothing", async () => {
    const v = "lg-enc";
    await createVault(v, "hmac-sha256");
    const json = { "content-type": "application/json" };
    const requests: [string, RequestInit][] = [
      ["/sync/push", { method: "POST", body: JSON.stringify({ notes: { a: { x: 1 } } }), headers: json }],
      ["/sync/pull", { method: "POST", body: "{}", headers: json }],
      ["/sync/pull", { method: "POST", body: JSON.stringify({ since: "1".repeat(64) }), headers: json }],
      ["/sync/status", {}],
      ["/sync/clear", { method: "POST" }],
      ["/notes/a", {}],
      ["/notes/a", { method: "PUT", body: "{}", headers: json }],
      ["/notes/a", { method: "DELETE" }],
      ["/embeddings/a", {}],
      ["/embeddings/a", { method: "PUT", body: new Uint8Array(8), headers: { "content-type": "application/octet-stream" } }],
      ["/embeddings/a", { method: "DELETE" }],
      ["/positions/a", {}],
      ["/positions/a", { method: "PUT", body: JSON.stringify({ x: 1, y: 2 }), headers: json }],
      ["/positions/a", { method: "DELETE" }],
    ];
    for (const [path, init] of requests) await expectError(await api(`${path}${q(v)}`, init), 409, "encrypted_vault");
    const info = await vaultInfo(v);
    expect(info.head).toBeNull();
    expect(info.stats).toEqual({ packs: 0, objects: 0, bytes: 0, snapshots: 0 });
    expect(await r2Keys(v)).toEqual([]);
  });
});

describe("legacy writes under concurrency and at size", () => {
  it("lets concurrent writers all land (compare-and-swap retries), each on its own snapshot", async () => {
    const v = "lg-race";
    const n = 6;
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => pushL(v, { notes: { [`n${i}`]: { i } } })));
    const bodies = await Promise.all(rs.map(ok));
    expect(new Set(bodies.map((b) => b.snapshot)).size).toBe(n);
    const all = await ok(await pullL(v));
    expect(Object.keys(all.notes).sort()).toEqual(Array.from({ length: n }, (_, i) => `n${i}`));
    const info = await vaultInfo(v);
    expect(info.stats.snapshots).toBe(n);
  });

  it("updates a 1,500-note vault along one path: a single PUT reads a few tree nodes, not the tree", async () => {
    const v = "lg-big";
    const notes: Record<string, unknown> = {};
    const embeddings: Record<string, number[]> = {};
    for (let i = 0; i < 1500; i++) {
      notes[`note-${i}`] = { title: `Note ${i}`, body: `body ${i} `.repeat(20) };
      embeddings[`note-${i}`] = Array.from({ length: 32 }, (_, k) => Math.sin(i + k));
    }
    const t0 = Date.now();
    const p = await ok(await pushL(v, { notes, embeddings }));
    const pushMs = Date.now() - t0;
    expect(p.stored).toEqual({ notes: 1500, embeddings: 1500, positions: 0 });
    const r = await api(`/notes/note-777${q(v)}`, { method: "PUT", body: JSON.stringify({ title: "changed" }), headers: { "content-type": "application/json" } });
    await ok(r);
    // Reads: the head's tree path (a handful of ranged reads) and the embedding-size probe: never ~100 leaves.
    expect(r2Ops(r).A).toBe(1);
    expect(r2Ops(r).B).toBeLessThanOrEqual(8);
    const t1 = Date.now();
    const all = await ok(await pullL(v, { embeddingEncoding: "base64" }));
    const pullMs = Date.now() - t1;
    expect(Object.keys(all.notes)).toHaveLength(1500);
    expect(all.notes["note-777"]).toEqual({ title: "changed" });
    expect(unb64(all.embeddings["note-3"]).length).toBe(128);
    const since = await ok(await pullL(v, { since: p.snapshot }));
    expect(Object.keys(since.notes)).toEqual(["note-777"]);
    console.log(`legacy 1,500 notes: push ${pushMs} ms, full pull ${pullMs} ms`);
  });
});
