// LiveChannel (engine/sync/live-channel.ts) against fake sockets: announcements are handed on,
// pongs are not; a socket that stops answering pings is replaced; a dropped one is reconnected
// with growing delays; stop() ends it all. Counts only.
import { describe, it, expect } from "vitest";
import { LiveChannel, backoffDelay, type LiveSocket } from "../../engine/sync/live-channel.ts";
import { encodeHeadMessage, PING, PONG } from "../../engine/core/live-protocol.ts";

type Listener = (e: { data: unknown }) => void;

class FakeSocket implements LiveSocket {
  readyState = 1;
  sent: string[] = [];
  closed: number | null = null;
  private listeners: Record<string, Listener[]> = {};
  constructor(readonly answersPings: boolean) {}
  addEventListener(type: string, l: Listener): void {
    (this.listeners[type] ??= []).push(l);
  }
  emit(type: string, e: { data: unknown } = { data: undefined }): void {
    for (const l of this.listeners[type] ?? []) l(e);
  }
  send(data: string): void {
    this.sent.push(data);
    if (data === PING && this.answersPings) queueMicrotask(() => this.emit("message", { data: PONG }));
  }
  close(code = 1000): void {
    if (this.closed !== null) return;
    this.closed = code;
    queueMicrotask(() => this.emit("close"));
  }
}

const A = "cd".repeat(32);
const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

describe("LiveChannel", () => {
  it("hands on announcements, ignores pongs, replaces a socket that stops answering pings", async () => {
    const sockets: FakeSocket[] = [];
    const heads: unknown[] = [];
    let ups = 0;
    const ch = new LiveChannel(
      { url: "ws://x", token: "t" },
      {
        // The first socket answers nothing after its hello; the later ones answer pings.
        socket: () => {
          const s = new FakeSocket(sockets.length > 0);
          sockets.push(s);
          queueMicrotask(() => s.emit("message", { data: encodeHeadMessage({ snapshot: A, seq: sockets.length }) }));
          return s;
        },
        pingMs: 20,
        backoff: { minMs: 1, maxMs: 5 },
        onHead: (h) => heads.push(h),
        onUp: () => ups++,
      },
    );
    ch.start();
    await until(() => sockets.length >= 2 && ups >= 2);
    expect(sockets[0].closed).toBe(4000); // "no pong"
    expect(sockets[0].sent.filter((m) => m === PING).length).toBeGreaterThanOrEqual(1);
    await until(() => sockets[1].sent.filter((m) => m === PING).length >= 4);
    // The second socket answers its pings: still the one in use, and the pongs were not heads.
    expect(sockets.length).toBe(2);
    expect(heads).toEqual([{ snapshot: A, seq: 1 }, { snapshot: A, seq: 2 }]);
    ch.stop();
    expect(sockets[1].closed).toBe(1000);
    const n = sockets.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(sockets.length).toBe(n); // no reconnect after stop
  });

  it("reconnects a socket that drops, and a factory that throws, with backoff", async () => {
    let made = 0;
    const downs: number[] = [];
    const ch = new LiveChannel(
      { url: "ws://x", token: "t" },
      {
        socket: () => {
          made++;
          if (made % 2 === 0) throw new Error("cannot open");
          const s = new FakeSocket(true);
          queueMicrotask(() => s.close(1006));
          return s;
        },
        backoff: { minMs: 1, maxMs: 8 },
        onHead: () => {},
        onDown: (ms) => downs.push(ms),
      },
    );
    ch.start();
    await until(() => made >= 6);
    ch.stop();
    expect(ch.connections).toBeGreaterThanOrEqual(6);
    expect(downs.length).toBeGreaterThanOrEqual(5);
    for (const d of downs) expect(d).toBeLessThanOrEqual(10);
  });

  it("doubles the delay up to the cap, within +-25%", () => {
    const b = { minMs: 500, maxMs: 30_000 };
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(30_000, 500 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(b, attempt);
        expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.75));
        expect(d).toBeLessThanOrEqual(Math.ceil(base * 1.25));
      }
    }
  });
});
