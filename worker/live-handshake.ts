// The WebSocket upgrade of the live route as the edge reads it (worker/live.ts serves the route):
// whether a request is an upgrade, the subprotocols it offers, and the token a browser's socket
// carries as a subprotocol (it cannot send headers). Its own file so that access.ts can read the
// token without depending on the route.
import { BEARER_PROTOCOL_PREFIX } from "../engine/core/live-protocol.ts";

export const isUpgrade = (request: Request) => (request.headers.get("upgrade") ?? "").toLowerCase() === "websocket";

export function offeredProtocols(request: Request): string[] {
  return (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The token an upgrade to the live route carries in `Sec-WebSocket-Protocol`, if any (docs/protocol.md). */
export function protocolToken(request: Request): string | null {
  if (!isUpgrade(request) || !new URL(request.url).pathname.endsWith("/live")) return null;
  const offered = offeredProtocols(request).find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  return offered ? offered.slice(BEARER_PROTOCOL_PREFIX.length) || null : null;
}
