// What a request asking for the live route's WebSocket carries: the upgrade, the offered
// subprotocols, and a token offered as one of them (browsers cannot set headers on a WebSocket;
// docs/protocol.md). Apart from worker/live.ts so that authentication (access.ts) can read the
// token without importing the live route.
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
