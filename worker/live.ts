// GET /v1/vaults/:vault/live: server push of head moves over a WebSocket (docs/protocol.md, "Live").
//
// The edge checks the token like any route (scope read), then hands the upgrade to the vault's
// Durable Object, which accepts the socket with the Hibernation API: while no head moves, the
// object can leave memory with every socket still open, and the clients' "ping" keep-alives are
// answered by the runtime ("pong") without waking it. Nothing about a socket lives in the
// object's memory: its token (id and scope) is the socket's attachment and its tag, so a
// broadcast after a wake-up finds every socket, and a revoked token's sockets can be closed.
//
// Messages (engine/core/live-protocol.ts): one small JSON text per head move, and one on connect.
import { encodeHeadMessage, LIVE_PROTOCOL, PING, PONG } from "../engine/core/live-protocol.ts";
import type { Access } from "./access.ts";
import type { VaultRequest } from "./context.ts";
import { ApiError, json } from "./http.ts";
import { isUpgrade, offeredProtocols } from "./live-upgrade.ts";
import type { Head } from "./vault-types.ts";

/** Sockets one vault accepts at once (devices and tabs of one person, plus headroom). */
export const MAX_LISTENERS = 1000;

/** What the edge tells the Durable Object about an accepted upgrade. */
const ACCESS_HEADER = "x-penumbra-live-access";
const OPERATOR_TAG = "operator";

interface Attachment {
  scope: Access["scope"];
  tokenId: string | null;
}

/** The edge half: after authentication (scope read), hands the upgrade to the vault's object. */
export async function handleLive(req: VaultRequest): Promise<Response> {
  if (!isUpgrade(req.request)) throw new ApiError(426, "upgrade_required", "this route is a WebSocket: send Upgrade: websocket", {});
  const headers = new Headers({ upgrade: "websocket" });
  const attachment: Attachment = { scope: req.access.scope, tokenId: req.access.tokenId };
  headers.set(ACCESS_HEADER, JSON.stringify(attachment));
  if (offeredProtocols(req.request).includes(LIVE_PROTOCOL)) headers.set("sec-websocket-protocol", LIVE_PROTOCOL);
  return req.stub.fetch(new Request(req.url, { headers }));
}

/**
 * The Durable Object half (its fetch): accepts the socket for hibernation and sends the current
 * head at once, so a client that reconnects learns whether it missed a move. 404 for a vault
 * that does not exist, 429 past MAX_LISTENERS, both before the upgrade.
 */
export function acceptLive(ctx: DurableObjectState, request: Request, head: Head | null | undefined): Response {
  if (head === undefined) return json({ error: "unknown_vault", message: "no such vault; create it first (PUT /v1/vaults/:vault)" }, 404);
  if (ctx.getWebSockets().length >= MAX_LISTENERS) return json({ error: "too_many_listeners", message: `this vault has ${MAX_LISTENERS} live sockets open; close some, or sync without live` }, 429);
  const attachment = JSON.parse(request.headers.get(ACCESS_HEADER) ?? "null") as Attachment | null;
  if (!attachment) return json({ error: "bad_request", message: "the live socket is opened through GET /v1/vaults/:vault/live" }, 400);
  const [client, server] = Object.values(new WebSocketPair());
  ctx.acceptWebSocket(server, [attachment.tokenId ?? OPERATOR_TAG]);
  server.serializeAttachment(attachment);
  server.send(encodeHeadMessage(head));
  const headers = new Headers();
  if (request.headers.get("sec-websocket-protocol") === LIVE_PROTOCOL) headers.set("sec-websocket-protocol", LIVE_PROTOCOL);
  return new Response(null, { status: 101, webSocket: client, headers });
}

/** Called once per object start: keep-alives never wake it. */
export function installKeepAlive(ctx: DurableObjectState): void {
  ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
}

/** After the head moved: one message to every socket (a socket that is closing is skipped). */
export function broadcastHead(ctx: DurableObjectState, head: Head): void {
  const message = encodeHeadMessage(head);
  for (const ws of ctx.getWebSockets()) {
    try {
      ws.send(message);
    } catch {
      // closing or closed: its client reconnects and gets the head on connect
    }
  }
}

/** A revoked token stops listening at once. */
export function closeTokenSockets(ctx: DurableObjectState, tokenId: string): void {
  for (const ws of ctx.getWebSockets(tokenId)) closeQuietly(ws, 1008, "token revoked");
}

/** A client has nothing to say but "ping" (answered by the runtime): anything else ends the socket. */
export function onLiveMessage(ws: WebSocket, message: string | ArrayBuffer): void {
  if (message === PING) ws.send(PONG); // only reached if the auto-response was not installed
  else closeQuietly(ws, 1003, 'this socket only listens; send "ping" to keep it alive');
}

export function onLiveClose(ws: WebSocket, code: number): void {
  // 1005/1006 are reserved and cannot be sent back.
  closeQuietly(ws, code === 1005 || code === 1006 ? 1000 : code, "closed");
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}

/** The scope a socket was accepted with (kept across hibernation). */
export function socketAccess(ws: WebSocket): Attachment | null {
  return ws.deserializeAttachment() as Attachment | null;
}
