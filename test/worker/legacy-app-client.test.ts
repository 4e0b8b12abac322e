// Conformance with the Penumbra app's real sync client (its Rust WorkerSyncProvider, replayed by
// test/helpers/penumbra-app-client.ts): its requests exactly as it sends them (no token, no vault,
// pull with no body and ?since=), every field it reads, the round trip of the app's own data, the
// open-vault setting that lets it in (OPEN_VAULT / OPEN_VAULT_ACCESS), snapshot labels, and the
// predecessor's single-item paths under /sync/.
import { describe, expect, it } from "vitest";
import { isAddress } from "../../engine/core/hash.ts";
import { AppClient, appEmbedding, appNote, bitsOf, isRfc3339, uuidOf, type AppNote, type AppPosition } from "../helpers/penumbra-app-client.ts";
import { api, r2Keys, vaultInfo, withVars } from "./helpers.ts";

const OPEN = (vault: string, access?: "read" | "write") => ({ OPEN_VAULT: vault, ...(access ? { OPEN_VAULT_ACCESS: access } : {}) });

/** The app's client against the Worker with `vars`, sending no token. */
const appClient = (vars: Record<string, string>) => new AppClient((path, init = {}) => withVars(path, init, vars, null));

async function json(r: Response, status = 200): Promise<any> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return JSON.parse(text);
}

async function expectError(r: Response, status: number, code: string): Promise<any> {
  const body = await json(r, status);
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe("string");
  return body;
}

function appVault(n: number, salt: number) {
  const notes: AppNote[] = [];
  const embeddings = new Map<string, Float32Array>();
  const positions = new Map<string, AppPosition>();
  for (let i = 0; i < n; i++) {
    const id = uuidOf(i, salt);
    notes.push(appNote(id, `Note ${i}`, `# Note ${i}\n\nBody with unicode \u00e9\u2603 and "quotes" ${i}`));
    embeddings.set(id, appEmbedding(i + salt));
    positions.set(id, { x: i * 210.5, y: 0.5 - i * 0.1 }); // no -0: canonical JSON stores it as 0 (docs/legacy-api.md)
  }
  return { notes, embeddings, positions };
}

describe("the Penumbra app's client on an open vault", () => {
  it("connect, push, pull, pull since, status: every field it reads, and the round trip", async () => {
    const vault = "app-conf";
    const app = appClient(OPEN(vault));
    await app.connect();
    // An empty vault: the client's defaults are not needed, every field is there.
    const s0 = await app.status();
    expect(s0).toMatchObject({ noteCount: 0, lastModified: null, storageBytes: 0, storageLimit: 536870912, snapshotId: null });
    expect(s0.raw).toMatchObject({ noteCount: 0, storageBytes: 0, storageLimit: 536870912 });

    const data = appVault(3, 1);
    const p1 = await app.push(data.notes, data.embeddings, data.positions);
    expect(p1.accepted).toBe(3);
    expect(p1.raw.accepted).toBe(3);
    // Without a label the client is given the snapshot's own id (and today's fields stay).
    expect(p1.snapshotId).toBe(p1.raw.snapshot);
    expect(isAddress(p1.snapshotId)).toBe(true);
    expect((await vaultInfo(vault)).head.snapshot).toBe(p1.snapshotId);

    const all = await app.pull();
    expect([...all.notes.keys()].sort()).toEqual(data.notes.map((n) => n.id).sort());
    for (const n of data.notes) expect(all.notes.get(n.id)).toEqual(n); // value-equal
    for (const [id, f] of data.embeddings) expect(bitsOf(all.embeddings.get(id)!)).toEqual(bitsOf(f)); // bit-exact through f32
    expect(Object.fromEntries(all.positions)).toEqual(Object.fromEntries(data.positions));
    expect(all.snapshot).not.toBeNull();
    expect(all.snapshot!.snapshot_id).toBe(p1.snapshotId);
    expect(all.snapshot!.note_count).toBe(3);
    expect([...all.snapshot!.note_ids].sort()).toEqual(data.notes.map((n) => n.id).sort());
    expect(isRfc3339(all.snapshot!.timestamp)).toBe(true);
    // The predecessor's spelling alongside.
    expect(all.raw.snapshot).toMatchObject({ snapshotId: p1.snapshotId, noteCount: 3, timestamp: all.snapshot!.timestamp });
    expect(all.raw.snapshotId).toBe(p1.snapshotId);

    // Second push: one note edited (body and meta.updated_at), one embedding, one position, one new note; a label.
    const [n0, n1, n2] = data.notes;
    const edited = { ...n0, body: n0.body + "\nedited", meta: { ...n0.meta, updated_at: "2026-06-12T09:00:00Z" } };
    const added = appNote(uuidOf(99, 1), "New", "new note");
    const label = "5f0c9a3e-2b7d-4c1e-9a8f-3d6b2e1c0a99";
    const newEmb = appEmbedding(1234);
    const p2 = await app.push(
      [edited, added],
      new Map([
        [n1.id, newEmb],
        [added.id, appEmbedding(99)],
      ]),
      new Map([
        [n2.id, { x: 5, y: 6 }],
        [added.id, { x: 0.1, y: 0.2 }],
      ]),
      label,
    );
    expect(p2).toMatchObject({ snapshotId: label, accepted: 2 });
    expect(p2.raw.stored).toEqual({ notes: 2, embeddings: 2, positions: 2 });

    // Pull since the first snapshot: only what changed, each part on its own.
    const d = await app.pull(p1.snapshotId);
    expect([...d.notes.keys()].sort()).toEqual([n0.id, added.id].sort());
    expect(d.notes.get(n0.id)).toEqual(edited);
    expect(d.notes.get(added.id)).toEqual(added);
    expect([...d.embeddings.keys()].sort()).toEqual([n1.id, added.id].sort());
    expect(bitsOf(d.embeddings.get(n1.id)!)).toEqual(bitsOf(newEmb));
    expect(Object.fromEntries(d.positions)).toEqual({ [n2.id]: { x: 5, y: 6 }, [added.id]: { x: 0.1, y: 0.2 } });
    expect(d.snapshot).toMatchObject({ snapshot_id: label, note_count: 4 });
    expect(d.raw.sinceUnknown).toBeUndefined();
    // Since the label: nothing.
    const none = await app.pull(label);
    expect(none.notes.size + none.embeddings.size + none.positions.size).toBe(0);
    expect(none.snapshot).toMatchObject({ snapshot_id: label, note_count: 4, note_ids: [] });

    const s = await app.status();
    const info = await vaultInfo(vault);
    expect(s).toEqual({ noteCount: 4, lastModified: info.head.committedAt, storageBytes: info.stats.bytes, storageLimit: 536870912, snapshotId: label, raw: s.raw });
    expect(s.storageBytes).toBeGreaterThan(0);
    expect(s.lastModified).toBe(d.snapshot!.timestamp);
    // The label is not an address: the head is the server's own snapshot id.
    expect(isAddress(info.head.snapshot)).toBe(true);
    expect(info.head.snapshot).not.toBe(label);

    expect(app.requests).toEqual([
      "GET /sync/status",
      "GET /sync/status",
      "POST /sync/push",
      "POST /sync/pull",
      "POST /sync/push",
      `POST /sync/pull?since=${p1.snapshotId}`,
      `POST /sync/pull?since=${label}`,
      "GET /sync/status",
    ]);
  });

  it("an empty first push still answers a snapshot id (the client fails without one)", async () => {
    const app = appClient(OPEN("app-empty"));
    const p = await app.push([], new Map(), new Map());
    expect(isAddress(p.snapshotId)).toBe(true);
    expect(p.accepted).toBe(0);
    const pulled = await app.pull(p.snapshotId);
    expect(pulled.snapshot).toMatchObject({ snapshot_id: p.snapshotId, note_count: 0 });
  });

  it("labels: validated, percent-encoded, never an address, never moved; an unknown since answers everything, flagged", async () => {
    const vault = "app-labels";
    const app = appClient(OPEN(vault));
    const data = appVault(2, 7);
    const odd = "snap/1+2 ?"; // a space is not a label character
    await expectError(await withVars("/sync/push", { method: "POST", body: JSON.stringify({ notes: {}, snapshotId: odd }) }, OPEN(vault), null), 400, "bad_request");
    expect((await api(`/v1/vaults/${vault}`)).status).toBe(404); // refused: nothing created
    await expectError(await withVars("/sync/push", { method: "POST", body: JSON.stringify({ snapshotId: 5 }) }, OPEN(vault), null), 400, "bad_request");

    // A label with characters the client percent-encodes.
    const first = await app.push(data.notes.slice(0, 1), new Map(), new Map(), "snap/1+2&x=%");
    expect(first.snapshotId).toBe("snap/1+2&x=%");
    expect(app.requests.at(-1)).toBe("POST /sync/push");
    const p2 = await app.push(data.notes.slice(1), new Map(), new Map());
    const since = await app.pull("snap/1+2&x=%");
    expect(app.requests.at(-1)).toBe("POST /sync/pull?since=snap%2F1%2B2%26x%3D%25");
    expect([...since.notes.keys()]).toEqual([data.notes[1].id]);

    // A 64-hex snapshotId is the server's namespace: not stored as a label; the answer is the real id.
    const fake = "ab".repeat(32);
    const p3 = await app.push([{ ...data.notes[0], title: "v3" }], new Map(), new Map(), fake);
    expect(p3.snapshotId).not.toBe(fake);
    expect(p3.snapshotId).toBe((await vaultInfo(vault)).head.snapshot);

    // Reusing a label that names another snapshot: it is not moved; the answer is the new snapshot's own id,
    // and a pull since the label still covers everything after the snapshot it first named.
    const p4 = await app.push([{ ...data.notes[1], title: "v4" }], new Map(), new Map(), "snap/1+2&x=%");
    expect(p4.snapshotId).toBe((await vaultInfo(vault)).head.snapshot);
    expect(p4.snapshotId).not.toBe(p2.snapshotId);
    const again = await app.pull("snap/1+2&x=%");
    expect([...again.notes.values()].map((n) => n.title).sort()).toEqual(["v3", "v4"]);

    // A since the vault never gave (the client cannot recover from an error here): everything, and it says so.
    const unknown = await app.pull("never-given");
    expect(unknown.raw.sinceUnknown).toBe(true);
    expect(unknown.notes.size).toBe(2);
    const unknownAddr = await app.pull("0".repeat(64));
    expect(unknownAddr.raw.sinceUnknown).toBe(true);
    await expectError(await withVars("/sync/pull?since=" + "x".repeat(129), { method: "POST" }, OPEN(vault), null), 400, "bad_request");
    // The label records live with the vault's data in R2, beside its packs.
    expect((await r2Keys(vault)).filter((k) => k.includes("/labels/")).length).toBe(2);
  });

  it("serves single items under /sync/ (and the old paths): PUT answers {id}, GET missing is 404, embeddings raw f32", async () => {
    const vault = "app-items";
    const vars = OPEN(vault);
    const id = uuidOf(5, 3);
    const note = appNote(id, "Single", "one note");
    const put = await json(await withVars(`/sync/notes/${id}`, { method: "PUT", body: JSON.stringify(note), headers: { "content-type": "application/json" } }, vars, null));
    expect(put.id).toBe(id);
    expect(await json(await withVars(`/sync/notes/${id}`, {}, vars, null))).toEqual(note);
    expect(await json(await withVars(`/notes/${id}`, {}, vars, null))).toEqual(note);
    const emb = appEmbedding(5);
    const pe = await json(await withVars(`/sync/embeddings/${id}`, { method: "PUT", body: new Uint8Array(emb.buffer) as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream" } }, vars, null));
    expect(pe.id).toBe(id);
    const raw = await withVars(`/sync/embeddings/${id}`, {}, vars, null);
    expect(raw.headers.get("content-type")).toBe("application/octet-stream");
    expect(bitsOf(new Float32Array(await raw.arrayBuffer()))).toEqual(bitsOf(emb));
    expect((await json(await withVars(`/sync/positions/${id}`, { method: "PUT", body: JSON.stringify({ x: 1.5, y: -2 }) }, vars, null))).id).toBe(id);
    expect(await json(await withVars(`/sync/positions/${id}`, {}, vars, null))).toEqual({ x: 1.5, y: -2 });
    const missing = uuidOf(6, 3);
    for (const c of ["notes", "embeddings", "positions"]) await expectError(await withVars(`/sync/${c}/${missing}`, {}, vars, null), 404, "not_found");
    // Clear answers how many parts it removed.
    expect(await json(await withVars("/sync/clear", { method: "POST" }, vars, null))).toMatchObject({ cleared: 3 });
  });
});

describe("the open-vault setting", () => {
  it("is off by default: token-less requests are 401, as before", async () => {
    for (const [path, method] of [
      ["/sync/status", "GET"],
      ["/sync/pull", "POST"],
      ["/sync/push", "POST"],
      ["/sync/notes/x", "GET"],
    ])
      await expectError(await withVars(path, { method }, {}, null), 401, "unauthorized");
  });

  it("opens only the named vault, only the predecessor's routes; a token is still checked as a token", async () => {
    const vault = "app-open";
    const vars = OPEN(vault);
    await json(await withVars("/sync/push", { method: "POST", body: JSON.stringify({ notes: { a: { t: 1 } } }) }, vars, null));
    // Token-less: another vault, or the engine's routes, are not open.
    await expectError(await withVars("/sync/status?vault=default", {}, vars, null), 401, "unauthorized");
    await expectError(await withVars(`/v1/vaults/${vault}`, {}, vars, null), 401, "unauthorized");
    // A wrong token is 401, not "open"; the operator token works (and names other vaults with ?vault=).
    await expectError(await withVars("/sync/status", {}, vars, "wrong"), 401, "unauthorized");
    expect((await json(await withVars("/sync/status", {}, vars))).noteCount).toBe(1);
    expect((await json(await withVars("/sync/status?vault=app-open-other", {}, vars))).noteCount).toBe(0);
    // A vault token of the open vault works on its routes, with its own scope.
    const tok = await json(await api(`/v1/vaults/${vault}/tokens`, { method: "POST", body: JSON.stringify({ scope: "read" }) }), 201);
    expect((await json(await withVars("/sync/pull", { method: "POST" }, vars, tok.token))).notes).toEqual({ a: { t: 1 } });
    await expectError(await withVars("/sync/clear", { method: "POST" }, vars, tok.token), 403, "forbidden");
  });

  it("read access: pulls and status, no writes (403, nothing changed)", async () => {
    const vault = "app-read";
    await json(await withVars("/sync/push", { method: "POST", body: JSON.stringify({ notes: { a: { t: 1 } } }) }, OPEN(vault)));
    const head = (await vaultInfo(vault)).head.snapshot;
    const ro = appClient(OPEN(vault, "read"));
    await ro.connect();
    expect((await ro.pull()).raw.notes).toEqual({ a: { t: 1 } });
    for (const [path, method] of [
      ["/sync/push", "POST"],
      ["/sync/clear", "POST"],
      ["/sync/notes/a", "PUT"],
      ["/sync/notes/a", "DELETE"],
    ])
      await expectError(await withVars(path, { method, body: method === "POST" || method === "PUT" ? "{}" : undefined }, OPEN(vault, "read"), null), 403, "forbidden");
    expect((await vaultInfo(vault)).head.snapshot).toBe(head);
  });

  it("a malformed setting refuses instead of guessing", async () => {
    await expectError(await withVars("/sync/status", {}, { OPEN_VAULT: "bad/name" }, null), 500, "misconfigured");
    await expectError(await withVars("/sync/status", {}, { OPEN_VAULT: "ok", OPEN_VAULT_ACCESS: "admin" }, null), 500, "misconfigured");
  });
});
