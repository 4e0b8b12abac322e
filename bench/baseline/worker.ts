// The predecessor's sync Worker (Backend/sync-worker/ of the first Penumbra backend), re-implemented
// small and faithfully from its devlog (../shared/seed/penumbra-sync-devlog.txt) for the benchmark:
//
//   POST /sync/push    one JSON body {notes, embeddings, positions}: every value written to R2,
//                      manifest updated, a snapshot record created; answers the snapshot id
//   POST /sync/pull    lists every note key, gets each note + embedding + position, answers the
//                      whole bundle as one JSON body (`since` is accepted and ignored: "right now it
//                      just dumps everything")
//   GET  /sync/status  note count, bytes used, the 512 MB limit
//   POST /sync/clear   deletes everything
//   GET|PUT|DELETE /notes/:id, /embeddings/:id, /positions/:id   single-item CRUD
//
// R2 keys: notes/{id}.json, embeddings/{id}.bin (raw float32, 384 x 4 bytes), positions/{id}.json,
// manifest.json, snapshots/{id}.json. Embeddings travel as JSON number arrays and are round-tripped
// through Float32Array. CORS is open (*); no auth, as in the devlog. Every answer carries
// `x-r2-ops: A=<n>,B=<n>` (this benchmark's addition, counted like the real Worker's).
import { CountingBucket } from "../../worker/counting-bucket.ts";

interface Env {
  BUCKET: R2Bucket;
}

const LIMIT_BYTES = 512 * 1024 * 1024;
/** R2 calls issued together (the devlog does not say; batches keep the local run reasonable). */
const BATCH = 50;

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
  "access-control-allow-headers": "content-type",
};

interface Manifest {
  noteCount: number;
  lastModified: string | null;
  snapshotId: string | null;
  snapshotSeq: number;
}

// ---- storage.js: the R2 abstraction -----------------------------------------------------------

class Storage {
  constructor(readonly bucket: CountingBucket) {}
  async getJson<T>(key: string): Promise<T | null> {
    const o = await this.bucket.get(key);
    return o ? ((await o.json()) as T) : null;
  }
  async putJson(key: string, value: unknown): Promise<void> {
    await this.bucket.put(key, JSON.stringify(value), { httpMetadata: { contentType: "application/json" } });
  }
  async getBinary(key: string): Promise<ArrayBuffer | null> {
    const o = await this.bucket.get(key);
    return o ? await o.arrayBuffer() : null;
  }
  async putBinary(key: string, value: ArrayBuffer): Promise<void> {
    await this.bucket.put(key, value, { httpMetadata: { contentType: "application/octet-stream" } });
  }
  async del(keys: string | string[]): Promise<void> {
    await this.bucket.delete(keys);
  }
  async listKeys(prefix: string): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.bucket.list({ prefix, cursor, limit: 1000 });
      for (const o of page.objects) out.push({ key: o.key, size: o.size });
      if (!page.truncated) return out;
      cursor = page.cursor;
    }
  }
  async manifest(): Promise<Manifest> {
    return (await this.getJson<Manifest>("manifest.json")) ?? { noteCount: 0, lastModified: null, snapshotId: null, snapshotSeq: 0 };
  }
}

async function inBatches<T>(items: readonly T[], f: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(f));
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", ...CORS } });
}

const noteKey = (id: string) => `notes/${id}.json`;
const embKey = (id: string) => `embeddings/${id}.bin`;
const posKey = (id: string) => `positions/${id}.json`;
const idOf = (key: string) => key.slice(key.indexOf("/") + 1, key.lastIndexOf("."));

// ---- sync routes ------------------------------------------------------------------------------

interface PushBody {
  notes?: Record<string, unknown>;
  embeddings?: Record<string, number[]>;
  positions?: Record<string, unknown>;
}

async function push(req: Request, s: Storage): Promise<Response> {
  const body = (await req.json()) as PushBody;
  const notes = Object.entries(body.notes ?? {});
  const embeddings = Object.entries(body.embeddings ?? {});
  const positions = Object.entries(body.positions ?? {});
  await inBatches(notes, ([id, n]) => s.putJson(noteKey(id), n));
  await inBatches(embeddings, ([id, e]) => s.putBinary(embKey(id), new Float32Array(e).buffer));
  await inBatches(positions, ([id, p]) => s.putJson(posKey(id), p));
  const m = await s.manifest();
  const now = new Date().toISOString();
  const snapshotId = `snap-${m.snapshotSeq + 1}-${Date.now().toString(36)}`;
  const next: Manifest = { noteCount: notes.length, lastModified: now, snapshotId, snapshotSeq: m.snapshotSeq + 1 };
  await s.putJson(`snapshots/${snapshotId}.json`, { id: snapshotId, createdAt: now, notes: notes.length, embeddings: embeddings.length, positions: positions.length });
  await s.putJson("manifest.json", next);
  return json({ ok: true, snapshotId, counts: { notes: notes.length, embeddings: embeddings.length, positions: positions.length } });
}

async function pull(req: Request, s: Storage): Promise<Response> {
  await req.json().catch(() => ({})); // { since } is read and ignored: everything is sent
  const keys = await s.listKeys("notes/");
  const notes: Record<string, unknown> = {};
  const embeddings: Record<string, number[]> = {};
  const positions: Record<string, unknown> = {};
  await inBatches(keys, async ({ key }) => {
    const id = idOf(key);
    const [n, e, p] = await Promise.all([s.getJson(noteKey(id)), s.getBinary(embKey(id)), s.getJson(posKey(id))]);
    if (n !== null) notes[id] = n;
    if (e !== null) embeddings[id] = Array.from(new Float32Array(e));
    if (p !== null) positions[id] = p;
  });
  const m = await s.manifest();
  return json({ snapshotId: m.snapshotId, notes, embeddings, positions });
}

async function status(s: Storage): Promise<Response> {
  const m = await s.manifest();
  const all = await s.listKeys("");
  const bytesUsed = all.reduce((n, o) => n + o.size, 0);
  return json({ noteCount: m.noteCount, lastModified: m.lastModified, snapshotId: m.snapshotId, bytesUsed, limitBytes: LIMIT_BYTES, objects: all.length });
}

async function clear(s: Storage): Promise<Response> {
  const all = await s.listKeys("");
  for (let i = 0; i < all.length; i += 1000) await s.del(all.slice(i, i + 1000).map((o) => o.key));
  return json({ ok: true, deleted: all.length });
}

// ---- single-item CRUD -------------------------------------------------------------------------

async function crud(req: Request, s: Storage, kind: string, id: string): Promise<Response> {
  const key = kind === "notes" ? noteKey(id) : kind === "embeddings" ? embKey(id) : posKey(id);
  if (req.method === "GET") {
    if (kind === "embeddings") {
      const b = await s.getBinary(key);
      return b ? json({ id, embedding: Array.from(new Float32Array(b)) }) : json({ error: "not found" }, 404);
    }
    const v = await s.getJson(key);
    return v === null ? json({ error: "not found" }, 404) : json(v);
  }
  if (req.method === "PUT") {
    const v = (await req.json()) as unknown;
    if (kind === "embeddings") await s.putBinary(key, new Float32Array((v as { embedding: number[] }).embedding).buffer);
    else await s.putJson(key, v);
    return json({ ok: true });
  }
  if (req.method === "DELETE") {
    await s.del(key);
    return json({ ok: true });
  }
  return json({ error: "method not allowed" }, 405);
}

async function route(req: Request, s: Storage): Promise<Response> {
  const { pathname } = new URL(req.url);
  if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
  if (pathname === "/sync/push" && req.method === "POST") return push(req, s);
  if (pathname === "/sync/pull" && req.method === "POST") return pull(req, s);
  if (pathname === "/sync/status" && req.method === "GET") return status(s);
  if (pathname === "/sync/clear" && req.method === "POST") return clear(s);
  const m = /^\/(notes|embeddings|positions)\/([A-Za-z0-9._-]{1,128})$/.exec(pathname);
  if (m) return crud(req, s, m[1], m[2]);
  return json({ error: "not found" }, 404);
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const bucket = new CountingBucket(env.BUCKET);
    let res: Response;
    try {
      res = await route(req, new Storage(bucket));
    } catch (e) {
      res = json({ error: String((e as Error)?.message ?? e) }, 500);
    }
    const out = new Response(res.body, res);
    out.headers.set("x-r2-ops", bucket.header());
    return out;
  },
};
