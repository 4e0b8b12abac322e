// A loopback TCP proxy that counts every byte in each direction: the byte budgets are asserted on
// what really crosses the wire (request lines, headers, bodies, chunk framing), not on estimates.
import net from "node:net";

export interface CountingProxy {
  url: string;
  up: number;
  down: number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  const counts = { up: 0, down: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(t.port), t.hostname);
    sockets.add(client).add(upstream);
    client.on("data", (d) => (counts.up += d.length));
    upstream.on("data", (d) => (counts.down += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
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
    reset() {
      counts.up = 0;
      counts.down = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
