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
// Every route acts on `?vault=<name>`, else OPEN_VAULT if set, else DEFAULT_VAULT. worker/index.ts
// calls handleLegacy after CORS and the bearer-token check (or, with no token, the open-vault
// rule: worker/open-vault.ts). Answers carry the fields of this API and those the Penumbra app's
// client reads (snapshotId, accepted, noteCount, ...; snapshot labels: labels.ts). Reads of a vault
// that does not exist see an empty vault; the first write creates it (plain). Encrypted vaults
// are 409 encrypted_vault: the server cannot read them. Writes: write.ts.
import type { CountingBucket } from "../counting-bucket.ts";
import { preflight } from "../cors.ts";
import { limitsOf, type Env } from "../env.ts";
import { ApiError, badRequest, errorResponse, json, limitedBody, readJsonObject, readLimitedBytes, readOptionalJsonObject } from "../http.ts";
import { legacyItemAlias } from "../routes.ts";
import { PackStore } from "../pack-store.ts";
import { gcToCompletion, type GcVault } from "../gc.ts";
import { headOnlyPolicy, policyOf } from "../retention.ts";
import { lookupEntries } from "../../engine/core/tree-update.ts";
import { checkEmbeddingBytes, checkId, MAX_EMBEDDING_BYTES, MAX_POSITION_BYTES, noteBytes, positionBytes, requireJsonType, requireOctetType } from "./codec.ts";
import { SnapshotLabels } from "./labels.ts";
import { readPush } from "./push-body.ts";
import { legacyPull, parsePullRequest } from "./pull.ts";
import { VaultReader } from "./reader.ts";
import { writeItems, type ItemWrite, type WriteTarget } from "./write.ts";

export interface LegacyContext {
  env: Env;
  bucket: CountingBucket;
  /** env.DEFAULT_VAULT, validated like any vault name. */
  defaultVault: string;
  waitUntil(p: Promise<unknown>): void;
}

/** Same rule as worker/index.ts VAULT_NAME_RE (not imported: index.ts imports this module). */
const VAULT_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Largest /sync/push or PUT /notes body (or MAX_BODY_BYTES if smaller). A push is read as a stream,
 * entry by entry (push-body.ts); a PUT holds one note, parsed whole.
 */
export const LEGACY_MAX_BODY = 16 * 1024 * 1024;
const PULL_BODY_MAX = 4096;

const COLLECTIONS = ["notes", "embeddings", "positions"] as const;
type Collection = (typeof COLLECTIONS)[number];

export function isLegacyPath(path: string): boolean {
  return ["sync", ...COLLECTIONS].some((p) => path === `/${p}` || path.startsWith(`/${p}/`));
}

/** Preflights of the legacy routes also allow DELETE (the engine's routes never use it). */
export function legacyPreflight(origin: string | null): Response {
  const r = preflight(origin);
  if (r.status === 204) r.headers.set("access-control-allow-methods", "GET, PUT, POST, DELETE, OPTIONS");
  return r;
}

type Handler = () => Promise<Response>;

function methodNotAllowed(method: string, handlers: Record<string, Handler>): Response {
  const allow = Object.keys(handlers).join(", ");
  return errorResponse(new ApiError(405, "method_not_allowed", `${method} is not allowed here; use ${allow}`), { allow });
}

export async function handleLegacy(request: Request, ctx: LegacyContext): Promise<Response | null> {
  const url = new URL(request.url);
  const segs = legacyItemAlias(url.pathname.split("/").slice(1));
  let handlers: Record<string, Handler> | null = null;
  const vault = () => {
    const v = url.searchParams.get("vault");
    if (v === null) return ctx.defaultVault;
    if (!VAULT_NAME_RE.test(v)) throw badRequest(`?vault= must match [A-Za-z0-9_-]{1,64}; got ${JSON.stringify(v.slice(0, 80))}`);
    return v;
  };
  const limits = limitsOf(ctx.env);
  const maxBody = Math.min(limits.maxBodyBytes, LEGACY_MAX_BODY);
  const target = (): WriteTarget & { reader: VaultReader } => {
    const name = vault();
    const stub = ctx.env.VAULT.get(ctx.env.VAULT.idFromName(name));
    const store = new PackStore(ctx.bucket, name);
    return { vault: name, stub, store, bucket: ctx.bucket, limitBytes: limits.vaultLimitBytes, reader: new VaultReader(name, stub, store) };
  };

  if (segs[0] === "sync" && segs.length === 2) {
    switch (segs[1]) {
      case "push":
        handlers = {
          POST: async () => {
            requireJsonType(request);
            // Read as a stream, entry by entry: the body is never parsed whole (push-body.ts).
            const push = await readPush(limitedBody(request, maxBody));
            const t = target();
            // The app's client needs a snapshot id in every answer, so a vault without a head gets one.
            const r = await writeItems(t, push.writes, { ensureHead: true });
            const head = r.snapshot as string;
            const labels = new SnapshotLabels(ctx.bucket, t.vault);
            const snapshotId = push.label ? await labels.assign(push.label, head).catch(labelFailure(head)) : await labels.publicId(head);
            return json({ snapshot: r.snapshot, snapshotId, accepted: push.accepted, stored: r.stored, deleted: r.deleted });
          },
        };
        break;
      case "pull":
        handlers = {
          POST: async () => {
            requireJsonType(request);
            const body = await readOptionalJsonObject(request, PULL_BODY_MAX);
            const t = target();
            return legacyPull(t.reader, new SnapshotLabels(ctx.bucket, t.vault), parsePullRequest(body, url.searchParams), ctx.waitUntil);
          },
        };
        break;
      case "status":
        handlers = {
          GET: async () => {
            const t = target();
            const s = await t.reader.state();
            const head = s.head?.snapshot ?? null;
            return json({
              notes: s.stats.notes,
              embeddings: s.stats.embeddings,
              positions: s.stats.positions,
              bytes: s.bytes,
              limitBytes: limits.vaultLimitBytes,
              snapshot: head,
              lastModified: s.head?.committedAt ?? null,
              // The app client's names for the same values.
              noteCount: s.stats.notes,
              snapshotId: await new SnapshotLabels(ctx.bucket, t.vault).publicId(head),
              storageBytes: s.bytes,
              storageLimit: limits.vaultLimitBytes,
            });
          },
        };
        break;
      case "clear":
        handlers = {
          POST: async () => {
            // A clear must work on a vault at its quota: it is how a full vault is emptied.
            const t = target();
            const r = await writeItems({ ...t, limitBytes: undefined }, [], { clear: true });
            // Storage is reclaimed at once: a GC that keeps only the head (uploads in flight stay protected).
            const gc = r.snapshot ? await gcToCompletion(t.stub as unknown as GcVault, t.store, headOnlyPolicy(policyOf(ctx.env))) : null;
            // `cleared`: how many parts (notes, embeddings, positions) the clear removed.
            const cleared = r.committed ? r.before.notes + r.before.embeddings + r.before.positions : 0;
            return json({ cleared, snapshot: r.snapshot, ...(gc ? { gc } : {}) });
          },
        };
        break;
    }
  } else if ((COLLECTIONS as readonly string[]).includes(segs[0]) && segs.length === 2) {
    handlers = itemRoutes(segs[0] as Collection, segs[1], request, target, maxBody);
  }
  if (!handlers) return null;
  const h = handlers[request.method];
  return h ? h() : methodNotAllowed(request.method, handlers);
}

function itemId(segment: string): string {
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    throw badRequest("malformed percent-encoding in the path");
  }
  return checkId(id, "the id in the path");
}

const PART: Record<Collection, "note" | "embedding" | "position"> = { notes: "note", embeddings: "embedding", positions: "position" };

function itemRoutes(collection: Collection, segment: string, request: Request, target: () => WriteTarget & { reader: VaultReader }, maxBody: number): Record<string, Handler> {
  const part = PART[collection];
  const notFound = (id: string, vault: string) => new ApiError(404, "not_found", `no ${part} ${id} in vault ${vault}`);
  return {
    GET: async () => {
      const id = itemId(segment);
      const t = target();
      const state = await t.reader.state();
      const e = (await lookupEntries(state.root, [id], t.reader.load)).get(id);
      const addr = e?.[part];
      if (!e || !addr) throw notFound(id, t.vault);
      const bytes = await t.reader.partBytes(addr, part === "note" && e.chunked);
      const type = part === "embedding" ? "application/octet-stream" : "application/json; charset=utf-8";
      return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": type } });
    },
    PUT: async () => {
      const id = itemId(segment);
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
        const body = await readJsonObject(request, part === "note" ? maxBody : MAX_POSITION_BYTES);
        if (part === "note") w.note = noteBytes(body, "the note");
        else w.position = positionBytes(body, "the position");
      }
      const r = await writeItems(target(), [w]);
      return json({ id, snapshot: r.snapshot, stored: r.committed });
    },
    DELETE: async () => {
      const id = itemId(segment);
      const t = target();
      // Deleting a note deletes the whole item (its embedding and position too), as a pushed `deleted` id does.
      const w: ItemWrite = part === "note" ? { id, remove: true } : { id, [part]: null };
      const r = await writeItems(t, [w]);
      if (r.absent.includes(id)) throw notFound(id, t.vault);
      return json({ id, snapshot: r.snapshot, deleted: true });
    },
  };
}

/** The push is committed; a label that could not be stored leaves the client the snapshot's own id. */
function labelFailure(snapshot: string): (e: unknown) => string {
  return (e) => {
    console.error("storing a snapshot label failed", e);
    return snapshot;
  };
}
