// What a request to the live route offers in its upgrade headers. Apart from live.ts, so that the
// token check (access.ts) can read the token a WebSocket carries without importing the route
// (live.ts imports access.ts's types: the two would form a circle, test/house/imports.test.ts).
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
