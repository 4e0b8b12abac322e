// GET /v1/vaults/:vault/live in workerd: the token is checked before the upgrade, the socket gets
// the head on connect and one message per head move, every listener gets it, keep-alives are
// answered by the runtime, a revoked token's sockets close, and sockets survive their object's
// restart (what hibernation relies on: nothing about a socket lives in the object's memory).
import { SELF, env, runInDurableObject, abortAllDurableObjects } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, buildVault, createVault, noteSpecs, postJson, pushVault, TOKEN } from "./helpers.ts";
import { socketAccess } from "../../worker/live.ts";
import { LIVE_PROTOCOL } from "../../engine/core/live-protocol.ts";

interface Listener {
  ws: WebSocket;
  messages: string[];
  /** Resolves once `n` messages have arrived in all. */
  received(n: number): Promise<string[]>;
  closed: Promise<{ code: number; reason: string }>;
}

function upgrade(vault: string, opts: { token?: string | null; protocols?: string[] } = {}): Promise<Response> {
  const headers = new Headers({ upgrade: "websocket" });
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null && !opts.protocols) headers.set("authorization", `Bearer ${token}`);
  if (opts.protocols) headers.set("sec-websocket-protocol", opts.protocols.join(", "));
  return SELF.fetch(`${BASE}/v1/vaults/${vault}/live`, { headers });
}

async function listen(vault: string, opts: { token?: string | null; protocols?: string[] } = {}): Promise<Listener> {
  const r = await upgrade(vault, opts);
  expect(r.status, r.status === 101 ? "" : await r.text()).toBe(101);
  const ws = r.webSocket!;
  ws.accept();
  const messages: string[] = [];
  const waiters: { n: number; resolve: (m: string[]) => void }[] = [];
  ws.addEventListener("message", (e) => {
    messages.push(e.data as string);
    for (const w of waiters.filter((w) => messages.length >= w.n)) w.resolve([...messages]);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));
  return {
    ws,
    messages,
    received: (n) => (messages.length >= n ? Promise.resolve([...messages]) : new Promise((resolve) => waiters.push({ n, resolve }))),
    closed,
  };
}

const heads = (messages: string[]) => messages.map((m) => JSON.parse(m));

async function readToken(vault: string, scope: "read" | "write" = "read"): Promise<{ id: string; token: string }> {
  const r = await postJson(`/v1/vaults/${vault}/tokens`, { scope });
  expect(r.status).toBe(201);
  return r.json();
}

describe("live route: authentication before the upgrade", () => {
  it("answers 401 without a token, with a wrong one, with another vault's, in a header or a subprotocol", async () => {
    await createVault("live-auth");
    await createVault("live-auth-other");
    const other = await readToken("live-auth-other");
    const cases: { token?: string | null; protocols?: string[] }[] = [
      { token: null },
      { token: "wrong" },
      { token: other.token },
      { token: `pst_r_${"A".repeat(43)}` },
      { protocols: [LIVE_PROTOCOL] },
      { protocols: [LIVE_PROTOCOL, "bearer.wrong"] },
      { protocols: [LIVE_PROTOCOL, `bearer.${other.token}`] },
    ];
    for (const c of cases) {
      const r = await upgrade("live-auth", c);
      expect(r.status, JSON.stringify(c)).toBe(401);
      expect(r.webSocket).toBeNull();
      expect((await r.json<any>()).error).toBe("unauthorized");
    }
  });

  it("answers 426 without an upgrade, 404 for an unknown vault, 400 for a bad name; the token in a subprotocol counts only on an upgrade of the live route", async () => {
    await createVault("live-plain");
    const noUpgrade = await SELF.fetch(`${BASE}/v1/vaults/live-plain/live`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(noUpgrade.status).toBe(426);
    expect((await noUpgrade.json<any>()).error).toBe("upgrade_required");
    const subprotocolOnly = await SELF.fetch(`${BASE}/v1/vaults/live-plain`, { headers: { "sec-websocket-protocol": `bearer.${TOKEN}` } });
    expect(subprotocolOnly.status).toBe(401);
    // ... and on the live route only.
    const elsewhere = await SELF.fetch(`${BASE}/v1/vaults/live-plain`, { headers: { upgrade: "websocket", "sec-websocket-protocol": `${LIVE_PROTOCOL}, bearer.${TOKEN}` } });
    expect(elsewhere.status).toBe(401);
    const unknown = await upgrade("live-ghost");
    expect(unknown.status).toBe(404);
    expect((await unknown.json<any>()).error).toBe("unknown_vault");
    expect((await upgrade("bad%20name")).status).toBe(400);
  });
});

describe("live route: head moves", () => {
  it("sends the head on connect and one message per head move; a read token may listen through the subprotocol", async () => {
    const vault = "live-push";
    await createVault(vault);
    const reader = await readToken(vault);
    const r = await upgrade(vault, { protocols: [LIVE_PROTOCOL, `bearer.${reader.token}`] });
    expect(r.status).toBe(101);
    // The server answers the live protocol, never the token.
    expect(r.headers.get("sec-websocket-protocol")).toBe(LIVE_PROTOCOL);
    r.webSocket!.accept();
    r.webSocket!.close(1000, "bye");
    const a = await listen(vault, { protocols: [LIVE_PROTOCOL, `bearer.${reader.token}`] });
    expect(heads(await a.received(1))).toEqual([{ head: null }]);
    const specs = noteSpecs(5);
    const v1 = buildVault(specs);
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    expect(heads(await a.received(2))[1]).toEqual({ head: { snapshot: v1.snapshot, seq: 1 } });
    const v2 = buildVault(specs.map((s, i) => (i === 0 ? { ...s, version: 1 } : s)), [v1.snapshot]);
    expect((await pushVault(vault, v2, v1.snapshot, v1)).res.status).toBe(200);
    // A push that loses the compare-and-swap moves nothing and announces nothing.
    const lost = buildVault(specs.map((s, i) => (i === 1 ? { ...s, version: 2 } : s)), [v1.snapshot]);
    expect((await pushVault(vault, lost, v1.snapshot, v1)).res.status).toBe(409);
    const v3 = buildVault(specs.map((s, i) => (i === 2 ? { ...s, version: 3 } : s)), [v2.snapshot]);
    expect((await pushVault(vault, v3, v2.snapshot, v2)).res.status).toBe(200);
    expect(heads(await a.received(4))).toEqual([{ head: null }, { head: { snapshot: v1.snapshot, seq: 1 } }, { head: { snapshot: v2.snapshot, seq: 2 } }, { head: { snapshot: v3.snapshot, seq: 3 } }]);
    // A late listener starts from the current head.
    const late = await listen(vault);
    expect(heads(await late.received(1))).toEqual([{ head: { snapshot: v3.snapshot, seq: 3 } }]);
    // Each message is small: the head and nothing else.
    expect(Math.max(...a.messages.map((m) => m.length))).toBeLessThan(120);
    expect(a.messages).toHaveLength(4);
    a.ws.close(1000);
    late.ws.close(1000);
  });

  it("reaches every one of many listeners, each exactly once", async () => {
    const vault = "live-many";
    await createVault(vault);
    const reader = await readToken(vault);
    const writer = await readToken(vault, "write");
    const listeners = await Promise.all(
      Array.from({ length: 60 }, (_, i) => listen(vault, i % 3 === 0 ? { token: reader.token } : i % 3 === 1 ? { protocols: [LIVE_PROTOCOL, `bearer.${writer.token}`] } : {})),
    );
    await Promise.all(listeners.map((l) => l.received(1)));
    const v1 = buildVault(noteSpecs(3, "many"));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const got = await Promise.all(listeners.map((l) => l.received(2)));
    for (const m of got) expect(heads(m)).toEqual([{ head: null }, { head: { snapshot: v1.snapshot, seq: 1 } }]);
    const stub = env.VAULT.get(env.VAULT.idFromName(vault));
    const scopes = await runInDurableObject(stub, (_o, state) => state.getWebSockets().map((ws) => socketAccess(ws)?.scope).sort());
    expect(scopes.filter((s) => s === "read")).toHaveLength(20);
    expect(scopes.filter((s) => s === "write")).toHaveLength(20);
    expect(scopes.filter((s) => s === "admin")).toHaveLength(20);
    for (const l of listeners) l.ws.close(1000);
  });
});

describe("live route: keep-alive, revocation, restarts", () => {
  it('answers "ping" with "pong" from the runtime, and closes a socket that says anything else', async () => {
    const vault = "live-ping";
    await createVault(vault);
    const l = await listen(vault);
    await l.received(1);
    l.ws.send("ping");
    expect((await l.received(2))[1]).toBe("pong");
    const stub = env.VAULT.get(env.VAULT.idFromName(vault));
    // The auto-response answered it: the runtime records when, per socket.
    const stamped = await runInDurableObject(stub, (_o, state) => state.getWebSockets().map((ws) => state.getWebSocketAutoResponseTimestamp(ws) !== null));
    expect(stamped).toEqual([true]);
    l.ws.send("hello?");
    expect((await l.closed).code).toBe(1003);
  });

  it("closes the sockets of a revoked token, and only those", async () => {
    const vault = "live-revoke";
    await createVault(vault);
    const gone = await readToken(vault);
    const kept = await readToken(vault);
    const a = await listen(vault, { token: gone.token });
    const b = await listen(vault, { token: kept.token });
    await Promise.all([a.received(1), b.received(1)]);
    const r = await SELF.fetch(`${BASE}/v1/vaults/${vault}/tokens/${gone.id}`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
    expect((await a.closed).code).toBe(1008);
    const v1 = buildVault(noteSpecs(2, "rev"));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    expect(heads(await b.received(2))[1]).toEqual({ head: { snapshot: v1.snapshot, seq: 1 } });
    expect((await upgrade(vault, { token: gone.token })).status).toBe(401);
    b.ws.close(1000);
  });

  // workerd evicts an object whose only connections are hibernatable sockets after ~10 s idle
  // (measured: after 20 s the object is a new instance, its socket still open). Pings in between
  // are answered by the runtime and do not wake it.
  it("hibernates with a socket open, and announces the next head from the woken instance with the scope kept", async () => {
    const vault = "live-hibernate";
    await createVault(vault);
    const reader = await readToken(vault);
    const l = await listen(vault, { token: reader.token });
    await l.received(1);
    const stub = env.VAULT.get(env.VAULT.idFromName(vault));
    const before = await runInDurableObject(stub, (o) => o);
    for (let i = 1; i <= 4; i++) {
      await new Promise((r) => setTimeout(r, 5000));
      l.ws.send("ping");
      await l.received(1 + i);
    }
    expect(l.messages.slice(1)).toEqual(["pong", "pong", "pong", "pong"]);
    const v1 = buildVault(noteSpecs(2, "hibernate"));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    expect(JSON.parse((await l.received(6))[5])).toEqual({ head: { snapshot: v1.snapshot, seq: 1 } });
    const after = await runInDurableObject(stub, (o, state) => ({ o, scopes: state.getWebSockets().map((ws) => socketAccess(ws)?.scope) }));
    expect(after.o, "the object was not evicted while idle").not.toBe(before);
    expect(after.scopes).toEqual(["read"]);
    l.ws.close(1000);
  }, 60_000);

  it("closes its sockets when the object is aborted; a new socket gets the head it missed", async () => {
    const vault = "live-abort";
    await createVault(vault);
    const l = await listen(vault);
    await l.received(1);
    await abortAllDurableObjects();
    await l.closed;
    const v1 = buildVault(noteSpecs(2, "abort"));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const again = await listen(vault);
    expect(heads(await again.received(1))).toEqual([{ head: { snapshot: v1.snapshot, seq: 1 } }]);
    again.ws.close(1000);
  });
});
