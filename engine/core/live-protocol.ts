// The live socket's wire format (docs/protocol.md, GET /v1/vaults/:vault/live), shared by the
// Worker that announces head moves and the clients that listen.
//
//   server -> client   {"head": {"snapshot": "<addr>", "seq": <n>}}  or  {"head": null}
//   client -> server   "ping"   (answered "pong" by the runtime, without waking the vault's object)
import { isAddress, type Address } from "./hash.ts";

/** The subprotocol a client offers, and the server answers. */
export const LIVE_PROTOCOL = "penumbra-sync.live.v1";
/** A browser cannot set headers on a WebSocket: it offers its token as the subprotocol `bearer.<token>`. */
export const BEARER_PROTOCOL_PREFIX = "bearer.";
export const PING = "ping";
export const PONG = "pong";

export interface LiveHead {
  snapshot: Address;
  seq: number;
}

export function encodeHeadMessage(head: LiveHead | null): string {
  return JSON.stringify({ head: head ? { snapshot: head.snapshot, seq: head.seq } : null });
}

/** A head announcement, or undefined for anything else (a pong, or a message this client does not know). */
export function decodeHeadMessage(text: string): { head: LiveHead | null } | undefined {
  if (text === PONG || !text.startsWith("{")) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object" || !("head" in v)) return undefined;
  const head = (v as { head: unknown }).head;
  if (head === null) return { head: null };
  const h = head as { snapshot?: unknown; seq?: unknown };
  if (typeof h !== "object" || !isAddress(h.snapshot) || !Number.isSafeInteger(h.seq)) return undefined;
  return { head: { snapshot: h.snapshot as Address, seq: h.seq as number } };
}
