// A fetch for HttpRemote in Node (the CLI passes it as its `fetch`): big POST bodies (pushes) are
// written to the socket with node:http(s) instead of going through Node's fetch (undici), which copied
// a push body about three times on its way out (its body extraction, the tee of a request clone,
// the stream's chunks): 400 MiB of pushes cost 2.7-3.0 CPU-s through fetch and 0.15 s this way
// (loopback, measured). Only request bodies go this way; responses (small JSON for pushes) are
// read whole into a standard Response, so callers see what fetch would give them.
import http from "node:http";
import https from "node:https";
/** A request with a body in parts; fails like fetch (a TypeError whose `cause` is the socket's error). */
export type SendParts = (url: string, init: { method: string; headers: Headers; body: readonly Uint8Array[] }) => Promise<Response>;

/** POST bodies from this size on go through sendParts; everything else (pulls' streamed answers included) through `base`. */
const DIRECT_BYTES = 64 * 1024;

/**
 * `fetch` with big POST bodies sent by sendParts (same request bytes, a standard Response). It also
 * takes a body in parts, an array of byte arrays, sent as they are (HttpRemote's `fetchTakesParts`).
 */
export function nodeFetch(base: typeof fetch = fetch.bind(globalThis)): typeof fetch {
  return (input, init) => {
    const body: unknown = init?.body;
    const parts = Array.isArray(body) ? (body as Uint8Array[]) : body instanceof Uint8Array && body.length >= DIRECT_BYTES ? [body] : null;
    return init?.method === "POST" && parts ? sendParts(String(input), { method: "POST", headers: new Headers(init.headers), body: parts }) : base(input, init);
  };
}

/** Kept-alive connections, as fetch keeps them (idle sockets do not hold the process open). */
const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** A response body larger than this is refused (a push's answer is a few hundred bytes of JSON). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** No byte from the server for this long fails the request (fetch's own limit for headers and body). */
const IDLE_TIMEOUT_MS = 300_000;

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export const sendParts: SendParts = (url, { method, headers, body }) =>
  new Promise<Response>((resolve, reject) => {
    const u = new URL(url);
    const secure = u.protocol === "https:";
    if (!secure && u.protocol !== "http:") return reject(new TypeError(`unsupported protocol ${u.protocol}`));
    let length = 0;
    for (const p of body) length += p.length;
    const h: Record<string, string> = {};
    headers.forEach((v, k) => (h[k] = v));
    h["content-length"] = String(length);
    // Failures look like fetch's: a TypeError whose cause is the socket's error (isDeadConnection reads its code).
    const fail = (e: unknown) => reject(new TypeError("fetch failed", { cause: e }));
    const req = (secure ? https : http).request(u, { method, headers: h, agent: secure ? agents.https : agents.http }, (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      res.on("data", (c: Buffer) => {
        got += c.length;
        if (got > MAX_RESPONSE_BYTES) req.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on("error", fail);
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        const out = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        try {
          resolve(new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? "", headers: out }));
        } catch (e) {
          fail(e); // a status Response cannot carry (outside 200-599)
        }
      });
    });
    req.on("error", fail);
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no answer from ${u.host} in ${IDLE_TIMEOUT_MS / 1000} s`), { code: "ETIMEDOUT" })));
    for (const p of body) req.write(p);
    req.end();
  });
