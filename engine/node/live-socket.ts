// The live socket in Node: Node 20 has no WebSocket unless started with --experimental-websocket
// (it is global from Node 22), so the `ws` package provides it; Node can send headers, so the
// token goes in Authorization rather than in a subprotocol.
import WebSocket from "ws";
import { LIVE_PROTOCOL } from "../core/live-protocol.ts";
import type { LiveSocket, LiveSocketFactory } from "../sync/live-channel.ts";

export const nodeLiveSocket: LiveSocketFactory = (endpoint) =>
  new WebSocket(endpoint.url, [LIVE_PROTOCOL], {
    headers: { authorization: `Bearer ${endpoint.token}` },
    // A server that takes the connection but never answers the upgrade must not hold it forever.
    handshakeTimeout: 15_000,
    // Messages are ~100 bytes: compression would cost more than it saves.
    perMessageDeflate: false,
  }) as unknown as LiveSocket;
