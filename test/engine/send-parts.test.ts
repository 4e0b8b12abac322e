// The Node adapter that sends a push body in parts (engine/node/send-parts.ts): the server gets
// exactly the bytes HttpRemote would have sent joined through fetch, with their length; answers come
// back as a standard Response; a connection that dies fails like fetch does, so HttpRemote retries it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { nodeFetch, sendParts } from "../../engine/node/send-parts.ts";
import { HttpRemote } from "../../engine/remote/http-remote.ts";
import { toHex } from "../../engine/core/bytes.ts";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let server: http.Server;
let base = "";
const seen: Seen[] = [];
/** Connections to kill before answering (a kept-alive socket the server closed, as seen by the client). */
let killNext = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (killNext > 0) {
        killNext--;
        req.socket.destroy();
        return;
      }
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      if (req.url?.endsWith("/empty")) {
        res.writeHead(204).end();
        return;
      }
      const status = req.url?.endsWith("/refuse") ? 409 : 200;
      res.writeHead(status, { "content-type": "application/json", "x-test": "yes" });
      res.end(JSON.stringify({ error: status === 409 ? "head_moved" : undefined, length: body.length, sha: toHex(new Uint8Array(body.subarray(0, 8))) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe("sendParts", () => {
  it("sends the parts back to back with their total length and gives a standard Response", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 70_000 }), { maxLength: 6 }), async (parts) => {
        seen.length = 0;
        const headers = new Headers({ authorization: "Bearer t", "content-type": "application/octet-stream" });
        const res = await sendParts(`${base}/v1/x/push`, { method: "POST", headers, body: parts });
        const joined = Buffer.concat(parts);
        expect(res.status).toBe(200);
        expect(res.ok).toBe(true);
        expect(res.headers.get("x-test")).toBe("yes");
        expect(((await res.json()) as { length: number }).length).toBe(joined.length);
        expect(seen).toHaveLength(1);
        expect(seen[0].method).toBe("POST");
        expect(seen[0].headers["content-length"]).toBe(String(joined.length));
        expect(seen[0].headers.authorization).toBe("Bearer t");
        expect(seen[0].body.equals(joined)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it("answers without a body for 204, and with the status for errors", async () => {
    const empty = await sendParts(`${base}/empty`, { method: "POST", headers: new Headers(), body: [new Uint8Array([1])] });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    const refused = await sendParts(`${base}/refuse`, { method: "POST", headers: new Headers(), body: [] });
    expect(refused.status).toBe(409);
    expect(refused.ok).toBe(false);
  });

  it("a connection that dies fails like fetch: a TypeError whose cause has the socket's code", async () => {
    killNext = 1;
    const err = await sendParts(`${base}/x`, { method: "POST", headers: new Headers(), body: [new Uint8Array(10)] }).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe("ECONNRESET");
  });
});

describe("HttpRemote with nodeFetch", () => {
  const packs = [new Uint8Array(100_000).fill(7), new Uint8Array(10).fill(1)];

  it("pushes the same bytes as through fetch, the body joined or in parts (fetchTakesParts), and counts them alike", async () => {
    seen.length = 0;
    const remotes = [
      new HttpRemote({ url: base, vault: "v", token: "t" }),
      new HttpRemote({ url: base, vault: "v", token: "t", fetch: nodeFetch() }),
      new HttpRemote({ url: base, vault: "v", token: "t", fetch: nodeFetch(), fetchTakesParts: true }),
    ];
    for (const r of remotes) await r.push(packs);
    expect(seen).toHaveLength(3);
    for (const s of seen.slice(1)) {
      expect(s.url).toBe(seen[0].url);
      expect(s.headers["content-type"]).toBe(seen[0].headers["content-type"]);
      expect(s.body.equals(seen[0].body)).toBe(true);
    }
    expect(remotes[2].stats.bytesUp).toBe(remotes[0].stats.bytesUp);
    expect(remotes[2].stats.bytesUp).toBeGreaterThan(seen[0].body.length);
  });

  it("retries a request whose connection died (a kept-alive socket the server closed)", async () => {
    seen.length = 0;
    killNext = 2;
    const r = new HttpRemote({ url: base, vault: "v", token: "t", fetch: nodeFetch(), fetchTakesParts: true });
    await r.push(packs);
    expect(seen).toHaveLength(1);
    expect(seen[0].body.length).toBe(packs[0].length + packs[1].length + 4 + 2 * 5 + 7); // magic, two pack sections, {} end section
    expect(r.stats.requests).toBe(1);
  });
});
