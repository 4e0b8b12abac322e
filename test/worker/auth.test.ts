// The edge: bearer auth, CORS, and the refusal to run without a configured token.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index.ts";
import { api, BASE, createVault } from "./helpers.ts";

describe("auth", () => {
  it("answers 401 JSON without a token or with a wrong one, and touches nothing", async () => {
    for (const token of [null, "wrong-token", "test-token-but-longer", ""]) {
      const r = await api("/v1/vaults/authv", { method: "PUT", token, body: JSON.stringify({ config: { format: 1, addressing: "sha256", encryption: null } }) });
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const body: any = await r.json();
      expect(body.error).toBe("unauthorized");
      expect(typeof body.message).toBe("string");
    }
    const basic = await api("/v1/vaults/authv", { token: null, headers: { authorization: "Basic dGVzdC10b2tlbg==" } });
    expect(basic.status).toBe(401);
    // Nothing was created by the refused PUTs.
    expect((await api("/v1/vaults/authv")).status).toBe(404);
  });

  it("accepts the token with any case of the scheme", async () => {
    await createVault("authok");
    const r = await api("/v1/vaults/authok", { token: null, headers: { authorization: "bearer test-token" } });
    expect(r.status).toBe(200);
  });

  it("refuses everything, telling the operator why, when SYNC_TOKEN is not set", async () => {
    const ctx = createExecutionContext();
    const r = await worker.fetch(new Request(`${BASE}/v1/vaults/x`, { headers: { authorization: "Bearer " } }), { ...env, SYNC_TOKEN: undefined }, ctx);
    await waitOnExecutionContext(ctx);
    expect(r.status).toBe(401);
    const body: any = await r.json();
    expect(body.error).toBe("unauthorized");
    expect(body.message).toContain("SYNC_TOKEN");
    const r2 = await worker.fetch(new Request(`${BASE}/v1/vaults/x`, { headers: { authorization: "Bearer test-token" } }), { ...env, SYNC_TOKEN: "" }, ctx);
    expect(r2.status).toBe(401);
  });
});

describe("CORS", () => {
  it("answers a preflight from an allowed origin without a token", async () => {
    const r = await api("/v1/vaults/any/push", {
      method: "OPTIONS",
      token: null,
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(r.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(r.headers.get("access-control-allow-methods")).toContain("POST");
    expect(r.headers.get("vary")).toBe("Origin");
  });

  it("refuses a preflight from another origin, with no CORS headers", async () => {
    const r = await api("/v1/vaults/any/push", { method: "OPTIONS", token: null, headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(r.status).toBe(403);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(((await r.json()) as any).error).toBe("origin_not_allowed");
  });

  it("adds CORS headers to answers for allowed origins only, errors included", async () => {
    const ok = await api("/v1/vaults/nope", { headers: { origin: "https://app.example" } });
    expect(ok.status).toBe(404);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(ok.headers.get("access-control-expose-headers")).toContain("x-r2-ops");
    const unauth = await api("/v1/vaults/nope", { token: null, headers: { origin: "https://app.example" } });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const other = await api("/v1/vaults/nope", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
