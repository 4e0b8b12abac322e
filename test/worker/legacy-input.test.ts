// Bad input of every kind to the predecessor's API: each request is a 4xx JSON error, and the vault
// (its head, its counters, its packs in R2, what a pull returns) is exactly as it was before.
import { describe, expect, it } from "vitest";
import { api, postJson, r2Keys, withVars } from "./helpers.ts";

const q = (vault: string) => `?vault=${vault}`;
const JSON_TYPE = { "content-type": "application/json" };
const OCTET = { "content-type": "application/octet-stream" };

async function expectError(r: Response, status: number, code: string, what: string): Promise<void> {
  const text = await r.text();
  expect(r.status, `${what}: ${text}`).toBe(status);
  const body = JSON.parse(text);
  expect(body.error, what).toBe(code);
  expect(typeof body.message).toBe("string");
}

/** Everything observable about a vault's store. */
async function fingerprint(vault: string) {
  const r = await api(`/v1/vaults/${vault}`);
  const info: any = r.status === 200 ? await r.json() : null;
  return {
    head: info?.head ?? null,
    stats: info?.stats ?? null,
    keys: await r2Keys(vault),
    pull: await (await postJson(`/sync/pull${q(vault)}`, { embeddingEncoding: "base64" })).text(),
  };
}

/** A vault with one of everything (the embedding size is 4 values). */
async function seeded(vault: string) {
  const r = await postJson(`/sync/push${q(vault)}`, { notes: { a: { t: "A" }, b: { t: "B" } }, embeddings: { a: [1, 2, 3, 4] }, positions: { a: { x: 1, y: 2 } } });
  expect(r.status).toBe(200);
  return fingerprint(vault);
}

const nested = (depth: number): unknown => (depth === 0 ? {} : { n: nested(depth - 1) });

describe("legacy bad input changes nothing", () => {
  it("refuses bad /sync/push bodies with 4xx", async () => {
    const v = "lgi-push";
    const before = await seeded(v);
    const raw = (body: string, headers: Record<string, string> = JSON_TYPE) => api(`/sync/push${q(v)}`, { method: "POST", body, headers });
    const push = (body: unknown) => raw(JSON.stringify(body));
    const bad400: [string, Promise<Response>][] = [
      ["not JSON", raw("{notes:")],
      ["empty body", raw("")],
      ["invalid UTF-8", api(`/sync/push${q(v)}`, { method: "POST", body: new Uint8Array([0x7b, 0xff, 0x7d]), headers: JSON_TYPE })],
      ["array body", push([1, 2])],
      ["string body", push("notes")],
      ["null body", push(null)],
      ["unknown field", push({ notes: {}, note: { a: {} } })],
      ["notes an array", push({ notes: [{ t: 1 }] })],
      ["notes a string", push({ notes: "a" })],
      ["note an array", push({ notes: { c: [1] } })],
      ["note a string", push({ notes: { c: "text" } })],
      ["note null", push({ notes: { c: null } })],
      ["note a number", push({ notes: { c: 5 } })],
      ["note nested too deep", push({ notes: { c: nested(300) } })],
      ["embedding an object", push({ embeddings: { c: { 0: 1 } } })],
      ["embedding a boolean", push({ embeddings: { c: true } })],
      ["embedding empty", push({ embeddings: { c: [] } })],
      ["embedding with a string", push({ embeddings: { c: [1, "2", 3, 4] } })],
      ["embedding with null (NaN)", push({ embeddings: { c: [1, null, 3, 4] } })],
      ["embedding beyond float32", push({ embeddings: { c: [1, 2, 3, 3.5e38] } })],
      ["embedding nested arrays", push({ embeddings: { c: [[1], [2], [3], [4]] } })],
      ["embedding too long", push({ embeddings: { c: new Array(4097).fill(0) } })],
      ["embedding of another size", push({ embeddings: { c: [1, 2, 3] } })],
      ["base64 not base64", push({ embeddings: { c: "!!!!" } })],
      ["base64 unpadded", push({ embeddings: { c: "AAAAAAAAAAAAAAAAAAAAAA" } })],
      ["base64 of 6 bytes", push({ embeddings: { c: "AAAAAAAA" } })],
      ["base64 url alphabet", push({ embeddings: { c: "____________________" + "____" } })],
      ["position without y", push({ positions: { c: { x: 1 } } })],
      ["position x a string", push({ positions: { c: { x: "1", y: 2 } } })],
      ["position z null", push({ positions: { c: { x: 1, y: 2, z: null } } })],
      ["position an array", push({ positions: { c: [1, 2] } })],
      ["position too large", push({ positions: { c: { x: 1, y: 2, label: "x".repeat(70_000) } } })],
      ["deleted a string", push({ deleted: "a" })],
      ["deleted with a number", push({ deleted: [1] })],
      ["deleted with a bad id", push({ deleted: ["a/b"] })],
      ["written and deleted", push({ notes: { a: { t: "new" } }, deleted: ["a"] })],
      // One bad item spoils the whole push: the good ones are not stored either.
      ["good items and one bad", push({ notes: { c: { ok: true }, d: { ok: true } }, positions: { c: { x: 1, y: "2" } } })],
    ];
    for (const id of ["", ".", "..", "a b", "a/b", "é", "x".repeat(129), "tab\t", "a?b"]) bad400.push([`id ${JSON.stringify(id)}`, push({ notes: { [id]: { t: 1 } } })]);
    bad400.push(["embedding key a bad id", push({ embeddings: { "a b": [1, 2, 3, 4] } })]);
    bad400.push(["position key a bad id", push({ positions: { "": { x: 1, y: 1 } } })]);
    for (const [what, r] of bad400) await expectError(await r, 400, "bad_request", what);

    await expectError(await raw(JSON.stringify({ notes: { c: { t: "x" } } }), { "content-type": "application/octet-stream" }), 415, "unsupported_media_type", "octet-stream");
    await expectError(await raw("a=1", { "content-type": "application/x-www-form-urlencoded" }), 415, "unsupported_media_type", "form");
    await expectError(await raw("--x--", { "content-type": "multipart/form-data; boundary=x" }), 415, "unsupported_media_type", "multipart");
    // Over MAX_BODY_BYTES (8 MiB in the tests): 413 from Content-Length, before reading.
    await expectError(await push({ notes: { big: { t: "x".repeat(8 * 1024 * 1024) } } }), 413, "too_large", "oversized body");
    const many = Array.from({ length: 50_001 }, (_, i) => `d${i}`);
    await expectError(await push({ deleted: many }), 413, "too_large", "too many ids");
    expect(await fingerprint(v)).toEqual(before);
  });

  it("refuses bad /sync/pull bodies with 4xx", async () => {
    const v = "lgi-pull";
    const before = await seeded(v);
    const raw = (body: string, headers: Record<string, string> = JSON_TYPE) => api(`/sync/pull${q(v)}`, { method: "POST", body, headers });
    const cases: [string, Promise<Response>, number, string][] = [
      ["not JSON", raw("since"), 400, "bad_request"],
      ["array", raw("[]"), 400, "bad_request"],
      ["since a number", raw('{"since": 5}'), 400, "bad_request"],
      ["since neither an id nor a label", raw('{"since": "a b"}'), 400, "bad_request"],
      ["since too long for a label", raw(JSON.stringify({ since: "x".repeat(129) })), 400, "bad_request"],
      // Text that could be a label but names no snapshot (upper-case hex is a label, not an id).
      ["since upper-case hex", raw(JSON.stringify({ since: before.head.snapshot.toUpperCase() })), 404, "unknown_snapshot"],
      ["unknown encoding", raw('{"embeddingEncoding": "hex"}'), 400, "bad_request"],
      ["unknown field", raw('{"sinceSnapshot": null}'), 400, "bad_request"],
      ["octet-stream", raw("{}", OCTET), 415, "unsupported_media_type"],
      ["oversized", raw(JSON.stringify({ since: null, pad: "x".repeat(10_000) })), 413, "too_large"],
    ];
    for (const [what, r, status, code] of cases) await expectError(await r, status, code, what);
    expect(await fingerprint(v)).toEqual(before);
  });

  it("refuses bad single-item writes, ids and content types with 4xx", async () => {
    const v = "lgi-items";
    const before = await seeded(v);
    const put = (path: string, body: BodyInit, headers: Record<string, string>) => api(`${path}${q(v)}`, { method: "PUT", body, headers });
    const cases: [string, Promise<Response>, number, string][] = [
      ["note not JSON", put("/notes/c", "{", JSON_TYPE), 400, "bad_request"],
      ["note an array", put("/notes/c", "[1]", JSON_TYPE), 400, "bad_request"],
      ["note a string", put("/notes/c", '"x"', JSON_TYPE), 400, "bad_request"],
      ["note as octet-stream", put("/notes/c", "{}", OCTET), 415, "unsupported_media_type"],
      ["note too large", put("/notes/c", JSON.stringify({ t: "x".repeat(8 * 1024 * 1024) }), JSON_TYPE), 413, "too_large"],
      ["position without y", put("/positions/c", '{"x": 1}', JSON_TYPE), 400, "bad_request"],
      ["position y a string", put("/positions/c", '{"x": 1, "y": "2"}', JSON_TYPE), 400, "bad_request"],
      ["position z a boolean", put("/positions/c", '{"x": 1, "y": 2, "z": true}', JSON_TYPE), 400, "bad_request"],
      ["position an array", put("/positions/c", "[1, 2]", JSON_TYPE), 400, "bad_request"],
      ["position too large", put("/positions/c", JSON.stringify({ x: 1, y: 2, pad: "x".repeat(70_000) }), JSON_TYPE), 413, "too_large"],
      ["position as octet-stream", put("/positions/c", '{"x":1,"y":2}', OCTET), 415, "unsupported_media_type"],
      ["embedding as JSON", put("/embeddings/c", "[1,2,3,4]", JSON_TYPE), 415, "unsupported_media_type"],
      ["embedding empty", put("/embeddings/c", new Uint8Array(0), OCTET), 400, "bad_request"],
      ["embedding of 5 bytes", put("/embeddings/c", new Uint8Array(5), OCTET), 400, "bad_request"],
      ["embedding of another size", put("/embeddings/c", new Uint8Array(8), OCTET), 400, "bad_request"],
      ["embedding over 16 KiB", put("/embeddings/c", new Uint8Array(16 * 1024 + 4), OCTET), 400, "bad_request"],
    ];
    // (A path of /notes/%2e%2e is normalized to / by URL parsing: 404 at the edge.)
    cases.push(["PUT /notes/%2e%2e", put("/notes/%2e%2e", "{}", JSON_TYPE), 404, "not_found"]);
    for (const id of ["a%20b", "%2e", "a%2Fb", "%C3%A9", "x".repeat(129), "%zz", "a%00", "%2e%2e%2e%2f"]) {
      cases.push([`PUT note id ${id}`, put(`/notes/${id}`, "{}", JSON_TYPE), 400, "bad_request"]);
      cases.push([`GET embedding id ${id}`, api(`/embeddings/${id}${q(v)}`), 400, "bad_request"]);
      cases.push([`DELETE position id ${id}`, api(`/positions/${id}${q(v)}`, { method: "DELETE" }), 400, "bad_request"]);
    }
    for (const [what, r, status, code] of cases) await expectError(await r, status, code, what);
    expect(await fingerprint(v)).toEqual(before);
  });

  it("reads /sync/push as a stream: a body over the limit without Content-Length is 413 part-way, nothing stored", async () => {
    const v = "lgi-stream";
    const before = await seeded(v);
    /** A chunked body of valid app-shaped entries (no Content-Length), `mib` MiB long, still unterminated at the cut. */
    const streamed = (mib: number) => {
      const enc = new TextEncoder();
      const entry = (i: number) => enc.encode(`${i ? "," : ""}"n${i}":{"title":"note ${i}","body":"${"b".repeat(900)}"}`);
      let i = 0;
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent === 0) c.enqueue(enc.encode('{"notes":{'));
          const chunk = entry(i++);
          sent += chunk.length;
          c.enqueue(chunk);
          if (sent > mib * 1024 * 1024) {
            c.enqueue(enc.encode("}}"));
            c.close();
          }
        },
      });
    };
    const send = (mib: number, vars: Record<string, string>) => withVars(`/sync/push${q(v)}`, { method: "POST", body: streamed(mib), headers: JSON_TYPE }, vars);
    // MAX_BODY_BYTES is 8 MiB in the tests; the legacy cap is min(MAX_BODY_BYTES, 16 MiB) whatever it is set to.
    await expectError(await send(8.1, {}), 413, "too_large", "streamed over MAX_BODY_BYTES");
    await expectError(await send(16.1, { MAX_BODY_BYTES: String(64 * 1024 * 1024) }), 413, "too_large", "streamed over 16 MiB");
    expect(await fingerprint(v)).toEqual(before);
    // Under the cap the same stream is stored.
    const ok = await send(0.5, {});
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(((await ok.json()) as any).accepted).toBeGreaterThan(400);
  });

  it("creates no vault from a refused first write", async () => {
    const v = "lgi-fresh";
    await expectError(await postJson(`/sync/push${q(v)}`, { notes: { a: [] } }), 400, "bad_request", "bad note");
    await expectError(await api(`/positions/a${q(v)}`, { method: "PUT", body: "{}", headers: JSON_TYPE }), 400, "bad_request", "bad position");
    await expectError(await api(`/embeddings/a${q(v)}`, { method: "PUT", body: new Uint8Array(3), headers: OCTET }), 400, "bad_request", "bad embedding");
    expect((await api(`/v1/vaults/${v}`)).status).toBe(404);
    expect(await r2Keys(v)).toEqual([]);
  });
});
