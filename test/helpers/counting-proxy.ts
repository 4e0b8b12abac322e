// A loopback TCP proxy that counts every byte in each direction: the byte budgets are asserted on
// what really crosses the wire (request lines, headers, bodies, chunk framing), not on estimates.
import http from "node:http";
import net from "node:net";
import { Readable } from "node:stream";

export interface CountingProxy {
  url: string;
  up: number;
  down: number;
  /** HTTP requests seen (request lines from clients; WebSocket frames after an upgrade are not requests). */
  requests: number;
  /** R2 operations the answers reported (x-r2-ops headers), by class. */
  r2: { A: number; B: number };
  reset(): void;
  /** Stops passing bytes from clients on (they wait, buffered) until release(): a request held in flight. */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  const counts = { up: 0, down: 0, requests: 0, r2: { A: 0, B: 0 } };
  const REQUEST_LINE = /(?:^|\r\n)(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) \/\S* HTTP\/1\.1\r\n/g;
  const R2_OPS = /\r\nx-r2-ops: A=(\d+),B=(\d+)\r\n/gi;
  const clients = new Set<net.Socket>();
  let held = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(t.port), t.hostname);
    sockets.add(client).add(upstream);
    clients.add(client);
    if (held) client.pause();
    client.on("data", (d: Buffer) => {
      counts.up += d.length;
      counts.requests += d.toString("latin1").match(REQUEST_LINE)?.length ?? 0;
    });
    upstream.on("data", (d: Buffer) => {
      counts.down += d.length;
      for (const m of d.toString("latin1").matchAll(R2_OPS)) {
        counts.r2.A += Number(m[1]);
        counts.r2.B += Number(m[2]);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      clients.delete(client);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get up() {
      return counts.up;
    },
    get down() {
      return counts.down;
    },
    get requests() {
      return counts.requests;
    },
    get r2() {
      return { ...counts.r2 };
    },
    reset() {
      counts.up = 0;
      counts.down = 0;
      counts.requests = 0;
      counts.r2 = { A: 0, B: 0 };
    },
    hold() {
      held = true;
      for (const c of clients) c.pause();
    },
    release() {
      held = false;
      for (const c of clients) c.resume();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * A fetch over node:http without keep-alive (one connection per request, `Connection: close`). A
 * kept-alive socket that the server closes while idle makes the next request fail and HttpRemote
 * send it again, which the proxy would count twice; fresh connections keep byte counts exact.
 * (Node's own fetch drops a `connection` header, so this cannot be a header on it.)
 */
export const freshConnectionFetch: typeof fetch = (input, init) =>
  new Promise<Response>((resolve, reject) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const req = http.request(url, { method: init?.method ?? "GET", headers, agent: false }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
      const empty = res.statusCode === 204 || res.statusCode === 304 || init?.method === "HEAD";
      resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status: res.statusCode, statusText: res.statusMessage, headers: h }));
    });
    req.on("error", reject);
    const body = init?.body;
    if (body === undefined || body === null) req.end();
    else if (typeof body === "string" || body instanceof Uint8Array) req.end(body);
    else reject(new TypeError("freshConnectionFetch sends strings and byte arrays only"));
  });
