// Per-vault tokens (worker/tokens.ts, worker/access.ts): the scope of every route, decided in
// worker/routes.ts and checked here against this file's own copy of the decisions, so that a new
// route without a decision fails; tokens hashed at rest; revocation; tokens of one vault refused
// on another, with the same 401 whether that vault exists or not; no route without a token.
import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index.ts";
import { ROUTES, routeKey } from "../../worker/routes.ts";
import { tokenHash } from "../../worker/tokens.ts";
import { BASE, buildVault, commitOf, noteSpecs, packOf, pushBody, r2Keys, TOKEN, type ApiInit } from "./helpers.ts";

/**
 * helpers.ts `api`, but calling the Worker's fetch handler directly with the real bindings: the
 * test pool's SELF.fetch wraps its entrypoint in one more Proxy per call, so each call gets slower
 * and this file's ~1,000 requests took minutes.
 */
async function api(path: string, init: ApiInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  const ctx = createExecutionContext();
  const r = await worker.fetch(new Request(BASE + path, { ...init, headers }), env, ctx);
  const body = await r.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(r.status === 204 || r.status === 304 ? null : body, r);
}

const postJson = (path: string, body: unknown) => api(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

async function createVault(name: string): Promise<void> {
  const r = await api(`/v1/vaults/${name}`, { method: "PUT", body: JSON.stringify({ config: { format: 1, addressing: "sha256", encryption: null } }) });
  expect(r.status).toBe(201);
}

async function vaultInfo(name: string): Promise<any> {
  const r = await api(`/v1/vaults/${name}`);
  expect(r.status).toBe(200);
  return r.json();
}

type Scope = "read" | "write" | "admin";

/** The decisions, written again on purpose: a route added to worker/routes.ts must be added here. */
const EXPECTED: Record<string, Scope> = {
  "GET /v1/vaults/:vault": "read",
  "PUT /v1/vaults/:vault": "admin",
  "POST /v1/vaults/:vault/push": "write",
  "POST /v1/vaults/:vault/pull": "read",
  "GET /v1/vaults/:vault/log": "read",
  "GET /v1/vaults/:vault/objects/:addr": "read",
  "POST /v1/vaults/:vault/missing": "read",
  "GET /v1/vaults/:vault/live": "read",
  "POST /v1/vaults/:vault/gc": "admin",
  "POST /v1/vaults/:vault/check": "read",
  "POST /v1/vaults/:vault/repair": "write",
  "POST /v1/vaults/:vault/tokens": "admin",
  "GET /v1/vaults/:vault/tokens": "admin",
  "DELETE /v1/vaults/:vault/tokens/:id": "admin",
  "POST /sync/push": "write",
  "POST /sync/pull": "read",
  "GET /sync/status": "read",
  "POST /sync/clear": "write",
  "GET /notes/:id": "read",
  "PUT /notes/:id": "write",
  "DELETE /notes/:id": "write",
  "GET /embeddings/:id": "read",
  "PUT /embeddings/:id": "write",
  "DELETE /embeddings/:id": "write",
  "GET /positions/:id": "read",
  "PUT /positions/:id": "write",
  "DELETE /positions/:id": "write",
};

const JSON_TYPE = { "content-type": "application/json" };
const STREAM_TYPE = { "content-type": "application/vnd.penumbra.stream" };
/** The vault the predecessor's routes act on without ?vault= (wrangler.toml DEFAULT_VAULT). */
const A = "default";
const B = "tok-b";
const GHOST = "tok-never-created";

interface Sample {
  path: string;
  init: RequestInit;
}

const admin = (path: string, init: RequestInit = {}) => api(path, init);
const embedding16 = () => new Uint8Array(new Float32Array(16).fill(0.25).buffer);

async function headOf(vault: string): Promise<string> {
  const info = await vaultInfo(vault);
  return info.head.snapshot;
}

async function newTokenOf(vault: string, scope: "read" | "write", label?: string): Promise<{ id: string; token: string; scope: string }> {
  const r = await postJson(`/v1/vaults/${vault}/tokens`, label === undefined ? { scope } : { scope, label });
  expect(r.status, await r.clone().text()).toBe(201);
  return r.json();
}

/**
 * A request to each route of `vault` that succeeds (2xx) with enough rights; set-up it needs is
 * done first with the operator token. Legacy routes name the vault with ?vault= (A is the default).
 */
const SAMPLES: Record<string, (vault: string) => Promise<Sample>> = {
  "GET /v1/vaults/:vault": async (v) => ({ path: `/v1/vaults/${v}`, init: {} }),
  "PUT /v1/vaults/:vault": async (v) => ({ path: `/v1/vaults/${v}`, init: { method: "PUT", body: JSON.stringify({ config: { format: 1, addressing: "sha256", encryption: null } }) } }),
  "POST /v1/vaults/:vault/push": async (v) => {
    const pack = await packOf(buildVault(noteSpecs(3, `extra-${v}`)).objects.values());
    return { path: `/v1/vaults/${v}/push`, init: { method: "POST", body: pushBody([pack.bytes]) as Uint8Array<ArrayBuffer>, headers: STREAM_TYPE } };
  },
  "POST /v1/vaults/:vault/pull": async (v) => ({ path: `/v1/vaults/${v}/pull`, init: { method: "POST", body: JSON.stringify({ since: await headOf(v) }), headers: JSON_TYPE } }),
  "GET /v1/vaults/:vault/log": async (v) => ({ path: `/v1/vaults/${v}/log?limit=5`, init: {} }),
  "GET /v1/vaults/:vault/objects/:addr": async (v) => ({ path: `/v1/vaults/${v}/objects/${await headOf(v)}`, init: {} }),
  "POST /v1/vaults/:vault/missing": async (v) => ({ path: `/v1/vaults/${v}/missing`, init: { method: "POST", body: JSON.stringify({ addrs: [await headOf(v)] }), headers: JSON_TYPE } }),
  "GET /v1/vaults/:vault/live": async (v) => ({ path: `/v1/vaults/${v}/live`, init: { headers: { upgrade: "websocket" } } }),
  "POST /v1/vaults/:vault/gc": async (v) => ({ path: `/v1/vaults/${v}/gc`, init: { method: "POST", body: "" } }),
  "POST /v1/vaults/:vault/check": async (v) => ({ path: `/v1/vaults/${v}/check`, init: { method: "POST", body: JSON.stringify({ addrs: [await headOf(v)] }), headers: JSON_TYPE } }),
  "POST /v1/vaults/:vault/repair": async (v) => ({ path: `/v1/vaults/${v}/repair`, init: { method: "POST", body: pushBody([]) as Uint8Array<ArrayBuffer>, headers: STREAM_TYPE } }),
  "POST /v1/vaults/:vault/tokens": async (v) => ({ path: `/v1/vaults/${v}/tokens`, init: { method: "POST", body: JSON.stringify({ scope: "read", label: "sample" }), headers: JSON_TYPE } }),
  "GET /v1/vaults/:vault/tokens": async (v) => ({ path: `/v1/vaults/${v}/tokens`, init: {} }),
  "DELETE /v1/vaults/:vault/tokens/:id": async (v) => ({ path: `/v1/vaults/${v}/tokens/${(await newTokenOf(v, "read", "to revoke")).id}`, init: { method: "DELETE" } }),
  "POST /sync/push": async (v) => ({ path: `/sync/push?vault=${v}`, init: { method: "POST", body: JSON.stringify({ notes: { "legacy-x": { t: "x" } } }), headers: JSON_TYPE } }),
  "POST /sync/pull": async (v) => ({ path: `/sync/pull?vault=${v}`, init: { method: "POST", body: JSON.stringify({ since: await headOf(v) }), headers: JSON_TYPE } }),
  "GET /sync/status": async (v) => ({ path: `/sync/status?vault=${v}`, init: {} }),
  "POST /sync/clear": async (v) => ({ path: `/sync/clear?vault=${v}`, init: { method: "POST" } }),
  ...itemSamples("notes", () => JSON.stringify({ t: "item" }), JSON_TYPE),
  ...itemSamples("embeddings", embedding16, { "content-type": "application/octet-stream" }),
  ...itemSamples("positions", () => JSON.stringify({ x: 1, y: 2 }), JSON_TYPE),
};

function itemSamples(collection: string, body: () => BodyInit, headers: Record<string, string>): Record<string, (vault: string) => Promise<Sample>> {
  const path = (v: string) => `/${collection}/item-1?vault=${v}`;
  const ensure = async (v: string) => {
    const r = await admin(path(v), { method: "PUT", body: body(), headers });
    expect(r.status, await r.clone().text()).toBe(200);
  };
  return {
    [`GET /${collection}/:id`]: async (v) => (await ensure(v), { path: path(v), init: {} }),
    [`PUT /${collection}/:id`]: async (v) => ({ path: path(v), init: { method: "PUT", body: body(), headers } }),
    [`DELETE /${collection}/:id`]: async (v) => (await ensure(v), { path: path(v), init: { method: "DELETE" } }),
  };
}

/** What a refused request must leave as it was. */
async function fingerprint(vault: string) {
  const info = await vaultInfo(vault);
  const tokens: any = await (await admin(`/v1/vaults/${vault}/tokens`)).json();
  return { head: info.head, stats: info.stats, keys: await r2Keys(vault), tokens: tokens.tokens.map((t: any) => t.id) };
}

async function send(s: Sample, token: string | null): Promise<{ status: number; body: string; json: any }> {
  const r = await api(s.path, { ...s.init, token });
  // The live route's success is a WebSocket upgrade: counted as allowed, then closed.
  if (r.status === 101 && r.webSocket) {
    r.webSocket.accept();
    r.webSocket.close(1000);
    return { status: 101, body: "<101 websocket>", json: null };
  }
  const raw = new Uint8Array(await r.arrayBuffer());
  const isJson = !!r.headers.get("content-type")?.startsWith("application/json");
  const body = isJson ? new TextDecoder().decode(raw) : `<${raw.length} bytes of ${r.headers.get("content-type")}>`;
  expect(r.status, body).toBeLessThan(500);
  const parsed: any = isJson ? JSON.parse(body) : null;
  if (r.status >= 400) {
    expect(typeof parsed?.error, body).toBe("string");
    expect(typeof parsed?.message, body).toBe("string");
  }
  return { status: r.status, body, json: parsed };
}

async function seedVault(name: string, notes: number): Promise<void> {
  await createVault(name);
  const v = buildVault(noteSpecs(notes, name));
  const pack = await packOf(v.objects.values());
  const res = await api(`/v1/vaults/${name}/push`, { method: "POST", body: pushBody([pack.bytes], commitOf(v, null, [pack])) as Uint8Array<ArrayBuffer>, headers: STREAM_TYPE });
  expect(res.status).toBe(200);
}

describe("scopes of every route", () => {
  it("every route has a scope decision, the same as this test's", () => {
    const actual = Object.fromEntries(ROUTES.map((r) => [routeKey(r), r.scope]));
    expect(actual).toEqual(EXPECTED);
    expect(Object.keys(SAMPLES).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it("enforces read, write and admin on every route; refusals change nothing", async () => {
    await seedVault(A, 6);
    await seedVault(B, 4);
    const read = (await newTokenOf(A, "read", "reader")).token;
    const write = (await newTokenOf(A, "write", "laptop")).token;
    const writeB = (await newTokenOf(B, "write")).token;
    expect(read).toMatch(/^pst_r_[A-Za-z0-9_-]{43}$/);
    expect(write).toMatch(/^pst_w_[A-Za-z0-9_-]{43}$/);
    const credentials: [string, string, Scope][] = [
      ["read token", read, "read"],
      ["write token", write, "write"],
      ["operator token", "test-token", "admin"],
    ];
    const RANK = { read: 1, write: 2, admin: 3 };
    let refused = 0;
    for (const route of ROUTES) {
      const key = routeKey(route);
      for (const [who, token, held] of credentials) {
        const allowed = RANK[held] >= RANK[route.scope];
        const sample = await SAMPLES[key](A);
        const before = allowed ? null : await fingerprint(A);
        const r = await send(sample, token);
        if (allowed) {
          if (r.status !== 101) expect(r.status, `${who} on ${key}: ${r.body}`).toBeGreaterThanOrEqual(200);
          expect(r.status, `${who} on ${key}: ${r.body}`).toBeLessThan(300);
        } else {
          refused++;
          expect(r.status, `${who} on ${key}: ${r.body}`).toBe(403);
          expect(r.json.error).toBe("forbidden");
          expect(await fingerprint(A), `${who} on ${key} changed the vault`).toEqual(before);
        }
      }
      // Nothing without a token, and nothing with a token of another vault.
      const sampleB = await SAMPLES[key](B);
      const beforeB = await fingerprint(B);
      for (const [who, token] of [
        ["no token", null],
        ["A's read token", read],
        ["A's write token", write],
        ["a well-formed unknown token", `pst_w_${"A".repeat(43)}`],
      ] as const) {
        const r = await send(sampleB, token);
        expect(r.status, `${who} on B ${key}: ${r.body}`).toBe(401);
        expect(r.json.error).toBe("unauthorized");
      }
      expect(await fingerprint(B), `refused requests on B ${key} changed it`).toEqual(beforeB);
      // B's own token still works there (the refusals above were about the token, not the route).
      if (route.scope !== "admin") {
        const ok = await send(await SAMPLES[key](B), writeB);
        expect(ok.status, `B's write token on B ${key}: ${ok.body}`).toBeLessThan(300);
      }
    }
    // read: 12 write routes + 6 admin routes; write: the 6 admin routes.
    expect(refused).toBe(ROUTES.filter((r) => r.scope === "write").length + 2 * ROUTES.filter((r) => r.scope === "admin").length);
  }, 240_000); // ~400 requests: 7 s here under load; generous for a busier machine

  it("answers a stranger the same 401 whether the vault exists or not", async () => {
    await seedVault("tok-exists", 2);
    const foreign = (await newTokenOf("tok-exists", "write")).token;
    await createVault("tok-other");
    for (const key of Object.keys(EXPECTED)) {
      const method = key.split(" ")[0];
      await Promise.all(
        [null, foreign.replace("pst_w_", "pst_r_"), `pst_r_${"b".repeat(43)}`].map(async (token) => {
          const existing = await api(sampleUrl(key, "tok-other"), { method, token });
          const missing = await api(sampleUrl(key, GHOST), { method, token });
          const a = await existing.text();
          expect(existing.status, a).toBe(401);
          expect(await missing.text()).toBe(a);
        }),
      );
    }
    // Invalid vault names and unknown routes: 401 too, for anyone without the operator token.
    for (const path of ["/v1/vaults/bad%2Fname/pull", "/v1/vaults/" + "x".repeat(100), "/v1/elsewhere", "/sync/pull?vault=a/b"]) {
      expect((await api(path, { token: null })).status, path).toBe(401);
      expect((await api(path, { token: foreign })).status, path).toBe(401);
    }
    // With a token of the vault, its own unknown routes are 404; other vaults' stay 401.
    expect((await api("/v1/vaults/tok-exists/nowhere", { token: foreign })).status).toBe(404);
    expect((await api("/v1/vaults/tok-other/nowhere", { token: foreign })).status).toBe(401);
    expect((await api("/v1/vaults/tok-exists/push", { token: foreign })).status).toBe(405);
    // The operator learns what exists.
    expect((await api(`/v1/vaults/${GHOST}`)).status).toBe(404);
  }, 120_000);
});

/** Creates the vault if it is not there yet (200 or 201). */
const SELF_PUT = (vault: string) => api(`/v1/vaults/${vault}`, { method: "PUT", body: JSON.stringify({ config: { format: 1, addressing: "sha256", encryption: null } }) });

function sampleUrl(key: string, vault: string): string {
  const path = key
    .split(" ")[1]
    .replace(":vault", vault)
    .replace(":addr", "0".repeat(64))
    .replace(":id", "item-1");
  return path.startsWith("/v1/") ? path : `${path}?vault=${vault}`;
}

describe("tokens", () => {
  it("stores only a hash: the token text is nowhere in the vault's SQLite", async () => {
    await createVault("tok-hash");
    const made = await newTokenOf("tok-hash", "write", "phone");
    expect(Object.keys(made).sort()).toEqual(["createdAt", "id", "label", "lastUsedAt", "scope", "token"]);
    const secret = made.token.slice("pst_w_".length);
    const stub = env.VAULT.get(env.VAULT.idFromName("tok-hash"));
    const dump = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const tables = sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
        .toArray()
        .map((t) => t.name);
      return { tables, rows: Object.fromEntries(tables.map((t) => [t, sql.exec(`SELECT * FROM "${t}"`).toArray()])) };
    });
    expect(dump.tables).toContain("tokens");
    const all = JSON.stringify(dump.rows);
    expect(all).not.toContain(secret);
    expect(all).not.toContain(secret.slice(0, 16));
    expect(dump.rows.tokens).toHaveLength(1);
    expect(dump.rows.tokens[0]).toMatchObject({ id: made.id, scope: "write", label: "phone", hash: await tokenHash(made.token) });
    // The list shows neither the text nor the hash.
    const listed = await (await api("/v1/vaults/tok-hash/tokens")).text();
    expect(listed).not.toContain(secret);
    expect(listed).not.toContain(await tokenHash(made.token));
  });

  it("lists tokens with label, scope and times; records the last use", async () => {
    await createVault("tok-list");
    const a = await newTokenOf("tok-list", "read", "backup job");
    const b = await newTokenOf("tok-list", "write");
    expect((await api("/v1/vaults/tok-list", { token: a.token })).status).toBe(200);
    const list: any = await (await api("/v1/vaults/tok-list/tokens")).json();
    const byId = Object.fromEntries(list.tokens.map((t: any) => [t.id, t]));
    expect(byId[a.id]).toMatchObject({ scope: "read", label: "backup job" });
    expect(byId[a.id].lastUsedAt).not.toBeNull();
    expect(byId[b.id]).toMatchObject({ scope: "write", label: "", lastUsedAt: null });
    expect(Date.parse(byId[b.id].createdAt)).not.toBeNaN();
  });

  it("revokes: the next request with the token is 401", async () => {
    await createVault("tok-revoke");
    const t = await newTokenOf("tok-revoke", "write");
    const keep = await newTokenOf("tok-revoke", "read");
    expect((await api("/v1/vaults/tok-revoke", { token: t.token })).status).toBe(200);
    // A vault token cannot revoke, not even itself.
    expect((await api(`/v1/vaults/tok-revoke/tokens/${t.id}`, { method: "DELETE", token: t.token })).status).toBe(403);
    const r = await api(`/v1/vaults/tok-revoke/tokens/${t.id}`, { method: "DELETE" });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ id: t.id, revoked: true });
    expect((await api("/v1/vaults/tok-revoke", { token: t.token })).status).toBe(401);
    expect((await api(`/v1/vaults/tok-revoke/tokens/${t.id}`, { method: "DELETE" })).status).toBe(404);
    expect((await api("/v1/vaults/tok-revoke", { token: keep.token })).status).toBe(200);
    const list: any = await (await api("/v1/vaults/tok-revoke/tokens")).json();
    expect(list.tokens.map((x: any) => x.id)).toEqual([keep.id]);
  });

  it("refuses bad creations and unknown vaults", async () => {
    await createVault("tok-bad");
    const bad = async (body: unknown, status = 400) => {
      const r = await postJson("/v1/vaults/tok-bad/tokens", body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(((await r.json()) as any).error).toBeTypeOf("string");
    };
    await bad({});
    await bad({ scope: "admin" });
    await bad({ scope: "READ" });
    await bad({ scope: "read", label: 5 });
    await bad({ scope: "read", label: "x".repeat(101) });
    await bad({ scope: "read", label: "a\nb" });
    await bad({ scope: "read", extra: 1 });
    expect((await api("/v1/vaults/tok-bad/tokens", { method: "POST", body: "{" })).status).toBe(400);
    expect((await api("/v1/vaults/tok-bad/tokens/not-an-id", { method: "DELETE" })).status).toBe(400);
    expect((await postJson(`/v1/vaults/${GHOST}/tokens`, { scope: "read" })).status).toBe(404);
    expect((await api(`/v1/vaults/${GHOST}/tokens`)).status).toBe(404);
    const list: any = await (await api("/v1/vaults/tok-bad/tokens")).json();
    expect(list.tokens).toEqual([]);
  });

  it("caps the tokens of a vault", async () => {
    await createVault("tok-cap");
    const made = await Promise.all(Array.from({ length: 100 }, () => postJson("/v1/vaults/tok-cap/tokens", { scope: "read" }).then((r) => r.status)));
    expect(made).toEqual(new Array(100).fill(201));
    const r = await postJson("/v1/vaults/tok-cap/tokens", { scope: "read" });
    expect(r.status).toBe(409);
    expect(((await r.json()) as any).error).toBe("token_limit");
  }, 120_000);

  it("legacy routes act on the default vault and take its tokens, not another's", async () => {
    expect((await SELF_PUT(A)).status).toBeLessThan(300);
    await createVault("tok-legacy-b");
    const mine = (await newTokenOf(A, "write")).token;
    const other = (await newTokenOf("tok-legacy-b", "write")).token;
    const put = (token: string, query = "") => api(`/notes/legacy-default${query}`, { method: "PUT", token, body: JSON.stringify({ t: "d" }), headers: JSON_TYPE });
    expect((await put(mine)).status).toBe(200);
    expect((await put(other)).status).toBe(401);
    expect((await put(other, "?vault=tok-legacy-b")).status).toBe(200);
    expect((await put(mine, "?vault=tok-legacy-b")).status).toBe(401);
  });
});
