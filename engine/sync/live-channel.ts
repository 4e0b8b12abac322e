// The live socket, kept open: connects to the remote's live endpoint, hands every head
// announcement on, pings to keep the socket (and the knowledge that it works) alive, and
// reconnects with exponential backoff when it drops. Web APIs only: the socket comes from a
// factory (the browser's WebSocket by default; engine/node/live-socket.ts in Node 20).
import { BEARER_PROTOCOL_PREFIX, decodeHeadMessage, LIVE_PROTOCOL, PING, type LiveHead } from "../core/live-protocol.ts";
import type { LiveEndpoint } from "../remote/remote.ts";

/** The slice of a WHATWG WebSocket the channel uses (browsers and the `ws` package both have it). */
export interface LiveSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "close" | "error", listener: () => void): void;
  addEventListener(type: "message", listener: (e: { data: unknown }) => void): void;
}

export type LiveSocketFactory = (endpoint: LiveEndpoint) => LiveSocket;

/** The browser's WebSocket: the token travels as a subprotocol (it cannot set headers). */
export const browserSocket: LiveSocketFactory = (endpoint) => {
  const WS = (globalThis as { WebSocket?: new (url: string, protocols: string[]) => LiveSocket }).WebSocket;
  if (!WS) throw new Error("no WebSocket in this runtime: pass a socket factory (in Node 20: nodeLiveSocket from engine/node/live-socket.ts)");
  return new WS(endpoint.url, [LIVE_PROTOCOL, BEARER_PROTOCOL_PREFIX + endpoint.token]);
};

export interface Backoff {
  /** First delay after a failure. Default 500 ms. */
  minMs: number;
  /** Cap. Default 30 s. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { minMs: 500, maxMs: 30_000 };

/** Delay before retry number `attempt` (0-based): doubling from minMs up to maxMs, with jitter of +-25%. */
export function backoffDelay(b: Backoff, attempt: number): number {
  const base = Math.min(b.maxMs, b.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export interface LiveChannelOptions {
  socket?: LiveSocketFactory;
  /** A ping every this often; a socket silent for two intervals is taken for dead. Default 30 s. */
  pingMs?: number;
  backoff?: Backoff;
  /** Every announcement (the first after each connect is the current head). */
  onHead(head: LiveHead | null): void;
  /** The socket is up (after the first message of a connection: the server accepted it). */
  onUp?(): void;
  /** The socket dropped or could not connect; `retryMs` until the next attempt. */
  onDown?(retryMs: number): void;
}

export class LiveChannel {
  private socket: LiveSocket | null = null;
  private stopped = false;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  /** Connections made (the first, then each reconnect). */
  connections = 0;

  constructor(
    private readonly endpoint: LiveEndpoint,
    private readonly opts: LiveChannelOptions,
  ) {}

  start(): void {
    if (!this.stopped && !this.socket && !this.retryTimer) this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopPings();
    const s = this.socket;
    this.socket = null;
    try {
      s?.close(1000, "client stopped");
    } catch {
      // never opened
    }
  }

  private connect(): void {
    this.retryTimer = null;
    this.connections++;
    let socket: LiveSocket;
    try {
      socket = (this.opts.socket ?? browserSocket)(this.endpoint);
    } catch {
      return this.down(null);
    }
    this.socket = socket;
    let up = false;
    socket.addEventListener("message", (e) => {
      if (this.socket !== socket) return;
      this.lastHeard = Date.now();
      if (!up) {
        up = true;
        this.failures = 0;
        this.startPings(socket);
        this.opts.onUp?.();
      }
      const m = typeof e.data === "string" ? decodeHeadMessage(e.data) : undefined;
      if (m) this.opts.onHead(m.head);
    });
    socket.addEventListener("close", () => this.down(socket));
    socket.addEventListener("error", () => {
      // a close event follows
    });
  }

  private down(socket: LiveSocket | null): void {
    if (socket && this.socket !== socket) return; // an old socket, already replaced
    this.socket = null;
    this.stopPings();
    if (this.stopped) return;
    const retryMs = backoffDelay(this.opts.backoff ?? DEFAULT_BACKOFF, this.failures++);
    this.opts.onDown?.(retryMs);
    this.retryTimer = setTimeout(() => this.connect(), retryMs);
  }

  private startPings(socket: LiveSocket): void {
    const every = this.opts.pingMs ?? 30_000;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 2 * every + 1000) {
        // Nothing heard (not even a pong) for two intervals: the connection is gone without a close.
        try {
          socket.close(4000, "no pong");
        } catch {}
        return this.down(socket);
      }
      try {
        socket.send(PING);
      } catch {}
    }, every);
  }

  private stopPings(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
