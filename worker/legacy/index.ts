// The predecessor's API (docs/legacy-api.md), served over the content-addressed store so that its
// clients and engine clients see the same vault:
//
//   POST   /sync/push                      notes, embeddings, positions, deletions: one snapshot
//   POST   /sync/pull                      everything, or what changed since a snapshot    pull.ts
//   GET    /sync/status                    counts, bytes stored, quota, head
//   POST   /sync/clear                     a new empty snapshot
//   GET|PUT|DELETE /notes/:id              one note (a JSON object)
//   GET|PUT|DELETE /embeddings/:id         one embedding (raw little-endian float32 bytes)
//   GET|PUT|DELETE /positions/:id          one position (a JSON object {x, y, z?})
//   /sync/notes/:id, /sync/embeddings/:id, /sync/positions/:id: the same routes (the predecessor's paths)
//
// Every route acts on `?vault=<name>`, else OPEN_VAULT if set, else DEFAULT_VAULT. The routes and
// their scopes are in worker/routes.ts with the engine's; worker/index.ts matches them, checks CORS
// and the bearer token (or, with no token, the open-vault rule: worker/open-vault.ts) and calls the
// handler of LEGACY_HANDLERS below; errors take the one format of worker/http.ts. Answers carry the
// fields of this API and those the Penumbra app's client reads (snapshotId, accepted, noteCount,
// ...; snapshot labels: labels.ts). Reads of a vault
// that does not exist see an empty vault; the first write creates it (plain). Encrypted vaults
// are 409 encrypted_vault: the server cannot read them. Writes: write.ts.
import { limitsOf } from "../env.ts";
import type { RouteCall, RouteHandler } from "../context.ts";
import { ApiError, badRequest, json, limitedBody, readJsonObject, readLimitedBytes, readOptionalJsonObject } from "../http.ts";
import { VAULT_NAME_RE, type LegacyRouteKey } from "../routes.ts";
import { PackStore } from "../pack-store.ts";
import { gcToCompletion } from "../gc.ts";
import { headOnlyPolicy, policyOf } from "../retention.ts";
import { lookupEntries } from "../../engine/core/tree-update.ts";
import { checkEmbeddingBytes, checkId, MAX_EMBEDDING_BYTES, MAX_POSITION_BYTES, noteBytes, positionBytes, requireJsonType, requireOctetType } from "./codec.ts";
import { SnapshotLabels } from "./labels.ts";
import { readPush } from "./push-body.ts";
import { legacyPull, parsePullRequest } from "./pull.ts";
import { VaultReader } from "./reader.ts";
import { writeItems, type ItemWrite, type WriteTarget } from "./write.ts";

/**
 * Largest /sync/push or PUT /notes body (or MAX_BODY_BYTES if smaller). A push is read as a stream,
 * entry by entry (push-body.ts); a PUT holds one note, parsed whole.
 */
export const LEGACY_MAX_BODY = 16 * 1024 * 1024;
const PULL_BODY_MAX = 4096;

type Collection = "notes" | "embeddings" | "positions";
type Target = WriteTarget & { reader: VaultReader };

/** One legacy request: its vault (?vault=, else the default), limits and stores. */
class LegacyCall {
  readonly limits;
  readonly maxBody: number;

  constructor(readonly call: RouteCall) {
    this.limits = limitsOf(call.env);
    this.maxBody = Math.min(this.limits.maxBodyBytes, LEGACY_MAX_BODY);
  }

  get request(): Request {
    return this.call.request;
  }

  vault(): string {
    const v = this.call.url.searchParams.get("vault");
    if (v === null) return this.call.defaultVault;
    if (!VAULT_NAME_RE.test(v)) throw badRequest(`?vault= must match [A-Za-z0-9_-]{1,64}; got ${JSON.stringify(v.slice(0, 80))}`);
    return v;
  }

  target(): Target {
    const { env, bucket } = this.call;
    const name = this.vault();
    const stub = env.VAULT.get(env.VAULT.idFromName(name));
    const store = new PackStore(bucket, name);
    return { vault: name, stub, store, bucket, limitBytes: this.limits.vaultLimitBytes, reader: new VaultReader(name, stub, store) };
  }

  labels(t: Target): SnapshotLabels {
    return new SnapshotLabels(this.call.bucket, t.vault);
  }
}

/** A handler of this API: the default vault (DEFAULT_VAULT, unless OPEN_VAULT) must be a valid name. */
function legacy(h: (c: LegacyCall) => Promise<Response>): RouteHandler {
  return (call) => {
    if (!VAULT_NAME_RE.test(call.defaultVault)) throw new ApiError(500, "misconfigured", "DEFAULT_VAULT is not a valid vault name");
    return h(new LegacyCall(call));
  };
}

async function push(c: LegacyCall): Promise<Response> {
  requireJsonType(c.request);
  // Read as a stream, entry by entry: the body is never parsed whole (push-body.ts).
  const body = await readPush(limitedBody(c.request, c.maxBody));
  const t = c.target();
  // The app's client needs a snapshot id in every answer, so a vault without a head gets one.
  const r = await writeItems(t, body.writes, { ensureHead: true });
  const head = r.snapshot as string;
  const labels = c.labels(t);
  const snapshotId = body.label ? await labels.assign(body.label, head).catch(labelFailure(head)) : await labels.publicId(head);
  return json({ snapshot: r.snapshot, snapshotId, accepted: body.accepted, stored: r.stored, deleted: r.deleted });
}

async function pull(c: LegacyCall): Promise<Response> {
  requireJsonType(c.request);
  const body = await readOptionalJsonObject(c.request, PULL_BODY_MAX);
  const t = c.target();
  return legacyPull(t.reader, c.labels(t), parsePullRequest(body, c.call.url.searchParams), c.call.waitUntil);
}

async function status(c: LegacyCall): Promise<Response> {
  const t = c.target();
  const s = await t.reader.state();
  const head = s.head?.snapshot ?? null;
  const limitBytes = c.limits.vaultLimitBytes;
  return json({
    notes: s.stats.notes,
    embeddings: s.stats.embeddings,
    positions: s.stats.positions,
    bytes: s.bytes,
    limitBytes,
    snapshot: head,
    lastModified: s.head?.committedAt ?? null,
    // The app client's names for the same values.
    noteCount: s.stats.notes,
    snapshotId: await c.labels(t).publicId(head),
    storageBytes: s.bytes,
    storageLimit: limitBytes,
  });
}

async function clear(c: LegacyCall): Promise<Response> {
  // A clear must work on a vault at its quota: it is how a full vault is emptied.
  const t = c.target();
  const r = await writeItems({ ...t, limitBytes: undefined }, [], { clear: true });
  // Storage is reclaimed at once: a GC that keeps only the head (uploads in flight stay protected).
  const gc = r.snapshot ? await gcToCompletion(t.stub, t.store, headOnlyPolicy(policyOf(c.call.env))) : null;
  // `cleared`: how many parts (notes, embeddings, positions) the clear removed.
  const cleared = r.committed ? r.before.notes + r.before.embeddings + r.before.positions : 0;
  return json({ cleared, snapshot: r.snapshot, ...(gc ? { gc } : {}) });
}

/** The handler of every legacy route in worker/routes.ts (the type makes a missing one a compile error). */
export const LEGACY_HANDLERS: Record<LegacyRouteKey, RouteHandler> = {
  "POST /sync/push": legacy(push),
  "POST /sync/pull": legacy(pull),
  "GET /sync/status": legacy(status),
  "POST /sync/clear": legacy(clear),
  "GET /notes/:id": legacy((c) => getItem(c, "notes")),
  "PUT /notes/:id": legacy((c) => putItem(c, "notes")),
  "DELETE /notes/:id": legacy((c) => deleteItem(c, "notes")),
  "GET /embeddings/:id": legacy((c) => getItem(c, "embeddings")),
  "PUT /embeddings/:id": legacy((c) => putItem(c, "embeddings")),
  "DELETE /embeddings/:id": legacy((c) => deleteItem(c, "embeddings")),
  "GET /positions/:id": legacy((c) => getItem(c, "positions")),
  "PUT /positions/:id": legacy((c) => putItem(c, "positions")),
  "DELETE /positions/:id": legacy((c) => deleteItem(c, "positions")),
};

function itemId(c: LegacyCall): string {
  let id: string;
  try {
    id = decodeURIComponent(c.call.params.id);
  } catch {
    throw badRequest("malformed percent-encoding in the path");
  }
  return checkId(id, "the id in the path");
}

const PART: Record<Collection, "note" | "embedding" | "position"> = { notes: "note", embeddings: "embedding", positions: "position" };

const notFound = (part: string, id: string, vault: string) => new ApiError(404, "not_found", `no ${part} ${id} in vault ${vault}`);

async function getItem(c: LegacyCall, collection: Collection): Promise<Response> {
  const part = PART[collection];
  const id = itemId(c);
  const t = c.target();
  const state = await t.reader.state();
  const e = (await lookupEntries(state.root, [id], t.reader.load)).get(id);
  const addr = e?.[part];
  if (!e || !addr) throw notFound(part, id, t.vault);
  const bytes = await t.reader.partBytes(addr, part === "note" && e.chunked);
  const type = part === "embedding" ? "application/octet-stream" : "application/json; charset=utf-8";
  return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": type } });
}

async function putItem(c: LegacyCall, collection: Collection): Promise<Response> {
  const part = PART[collection];
  const request = c.request;
  const id = itemId(c);
  const w: ItemWrite = { id };
  if (part === "embedding") {
    requireOctetType(request);
    let bytes: Uint8Array;
    try {
      bytes = await readLimitedBytes(request, MAX_EMBEDDING_BYTES);
    } catch (e) {
      if (e instanceof ApiError && e.status === 413) throw badRequest(`an embedding is at most ${MAX_EMBEDDING_BYTES} bytes`);
      throw e;
    }
    w.embedding = checkEmbeddingBytes(bytes, "the body");
  } else {
    requireJsonType(request);
    const body = await readJsonObject(request, part === "note" ? c.maxBody : MAX_POSITION_BYTES);
    if (part === "note") w.note = noteBytes(body, "the note");
    else w.position = positionBytes(body, "the position");
  }
  const r = await writeItems(c.target(), [w]);
  return json({ id, snapshot: r.snapshot, stored: r.committed });
}

async function deleteItem(c: LegacyCall, collection: Collection): Promise<Response> {
  const part = PART[collection];
  const id = itemId(c);
  const t = c.target();
  // Deleting a note deletes the whole item (its embedding and position too), as a pushed `deleted` id does.
  const w: ItemWrite = part === "note" ? { id, remove: true } : { id, [part]: null };
  const r = await writeItems(t, [w]);
  if (r.absent.includes(id)) throw notFound(part, id, t.vault);
  return json({ id, snapshot: r.snapshot, deleted: true });
}

/** The push is committed; a label that could not be stored leaves the client the snapshot's own id. */
function labelFailure(snapshot: string): (e: unknown) => string {
  return (e) => {
    console.error("storing a snapshot label failed", e);
    return snapshot;
  };
}
