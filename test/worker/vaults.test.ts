// Vault creation and info, and the edge's answers to malformed requests: always 4xx JSON, never a
// change to the store.
import { describe, expect, it } from "vitest";
import { api, createVault, postJson, r2Keys, vaultInfo } from "./helpers.ts";

const plain = { format: 1, addressing: "sha256", encryption: null };

function create(name: string, config: unknown = plain) {
  return api(`/v1/vaults/${name}`, { method: "PUT", body: JSON.stringify({ config }) });
}

async function expectError(r: Response, status: number, code: string) {
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toContain("application/json");
  const body: any = await r.json();
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe("string");
  expect(body.message).not.toMatch(/\n\s+at /); // no stack traces
  return body;
}

describe("vaults", () => {
  it("creates (201), re-creates with the same config (200), refuses another config (409)", async () => {
    const r1 = await create("v1");
    expect(r1.status).toBe(201);
    const info: any = await r1.json();
    expect(info).toEqual({ vault: "v1", config: plain, head: null, stats: { packs: 0, objects: 0, bytes: 0, snapshots: 0 } });
    const r2 = await create("v1");
    expect(r2.status).toBe(200);
    expect(await r2.json()).toEqual(info);
    await expectError(await create("v1", { format: 1, addressing: "hmac-sha256", encryption: { kdf: "argon2id" } }), 409, "vault_exists");
    expect(await vaultInfo("v1")).toEqual(info);
  });

  it("stores an encrypted vault's encryption block as given", async () => {
    const config = { format: 1, addressing: "hmac-sha256", encryption: { kdf: { name: "argon2id", m: 65536 }, wrapped: "AAAA" } };
    expect((await create("enc", config)).status).toBe(201);
    expect((await vaultInfo("enc")).config).toEqual(config);
    await expectError(await create("enc2", { ...config, encryption: { blob: "x".repeat(5000) } }), 413, "too_large");
  });

  it("answers 404 unknown_vault for a vault never created, on every route", async () => {
    await expectError(await api("/v1/vaults/ghost"), 404, "unknown_vault");
    await expectError(await postJson("/v1/vaults/ghost/pull", { since: null }), 404, "unknown_vault");
    await expectError(await postJson("/v1/vaults/ghost/missing", { addrs: [] }), 404, "unknown_vault");
    await expectError(await api("/v1/vaults/ghost/log"), 404, "unknown_vault");
    await expectError(await api(`/v1/vaults/ghost/objects/${"a".repeat(64)}`), 404, "unknown_vault");
    await expectError(await api("/v1/vaults/ghost/push", { method: "POST", body: new Uint8Array([0x50, 0x4e, 0x53, 0x01]) }), 404, "unknown_vault");
  });

  it("refuses bad vault names before naming anything after them", async () => {
    for (const name of [encodeURIComponent("../x"), "a".repeat(65), "has%20space", "dot.name", encodeURIComponent("a/b"), "%E0%A4%A"]) {
      await expectError(await create(name), 400, "bad_request");
      await expectError(await api(`/v1/vaults/${name}/log`), 400, "bad_request");
    }
    expect((await create("a".repeat(64))).status).toBe(201);
    expect(await r2Keys("..")).toEqual([]);
  });

  it("refuses malformed bodies and configs with 400", async () => {
    await expectError(await api("/v1/vaults/badjson", { method: "PUT", body: "{not json" }), 400, "bad_request");
    await expectError(await api("/v1/vaults/badjson", { method: "PUT", body: "[1,2]" }), 400, "bad_request");
    await expectError(await create("badjson", { format: 2, addressing: "sha256", encryption: null }), 400, "bad_request");
    await expectError(await create("badjson", { format: 1, addressing: "md5", encryption: null }), 400, "bad_request");
    await expectError(await create("badjson", { ...plain, extra: 1 }), 400, "bad_request");
    await expectError(await create("badjson", "sha256"), 400, "bad_request");
    await expectError(await api("/v1/vaults/badjson"), 404, "unknown_vault");
    await createVault("badreq");
    await expectError(await postJson("/v1/vaults/badreq/pull", {}), 400, "bad_request");
    await expectError(await postJson("/v1/vaults/badreq/pull", { since: "HEAD" }), 400, "bad_request");
    await expectError(await postJson("/v1/vaults/badreq/pull", { since: null, want: ["xyz"] }), 400, "bad_request");
    await expectError(await postJson("/v1/vaults/badreq/pull", { since: null, want: "a".repeat(64) }), 400, "bad_request");
    await expectError(await postJson("/v1/vaults/badreq/pull", { since: "e".repeat(64) }), 404, "unknown_snapshot");
    await expectError(await postJson("/v1/vaults/badreq/missing", { addrs: ["A".repeat(64)] }), 400, "bad_request");
    await expectError(await postJson("/v1/vaults/badreq/missing", { addrs: Array.from({ length: 10_001 }, (_, i) => i.toString(16).padStart(64, "0")) }), 413, "too_large");
    await expectError(await api("/v1/vaults/badreq/log?limit=0"), 400, "bad_request");
    await expectError(await api("/v1/vaults/badreq/log?limit=abc"), 400, "bad_request");
    await expectError(await api("/v1/vaults/badreq/log?before=-1"), 400, "bad_request");
    for (const addr of ["abc", "A".repeat(64), "g".repeat(64), "a".repeat(63), "a".repeat(65)]) {
      await expectError(await api(`/v1/vaults/badreq/objects/${addr}`), 400, "bad_request");
    }
    expect((await vaultInfo("badreq")).stats).toEqual({ packs: 0, objects: 0, bytes: 0, snapshots: 0 });
  });

  it("answers 405 for a wrong method and 404 for unknown routes", async () => {
    await createVault("methods");
    const r = await api("/v1/vaults/methods/push", { method: "GET" });
    await expectError(r, 405, "method_not_allowed");
    expect(r.headers.get("allow")).toBe("POST");
    await expectError(await api("/v1/vaults/methods", { method: "DELETE" }), 405, "method_not_allowed");
    await expectError(await api("/v1/vaults/methods/pull", { method: "PUT", body: "{}" }), 405, "method_not_allowed");
    await expectError(await api("/v1/vaults/methods/nothing"), 404, "not_found");
    await expectError(await api("/v1/vaults"), 404, "not_found");
    await expectError(await api("/"), 404, "not_found");
    await expectError(await api("/sync/nothing"), 404, "not_found"); // no such route of the predecessor's API
    expect((await vaultInfo("methods")).stats.packs).toBe(0);
  });
});
