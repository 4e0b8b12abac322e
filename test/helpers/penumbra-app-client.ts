// The Penumbra app's sync client (its Rust `WorkerSyncProvider`) as a test double that is faithful on
// the wire: the same requests (no token, no vault; `POST /sync/pull` with no body and `?since=`
// percent-encoded as the client does it), and the answers read as the client reads them, failing
// where its serde parsing fails (a missing push `snapshotId`, a note that is not the app's Note, a
// `snapshot` without the snake_case fields). It runs in Node and in workerd (Web APIs only), so the
// Workers-pool conformance test and the end-to-end test replay the same client.
// The app's data shapes: penumbra-app-data.ts.
import { expect } from "vitest";
import { serdeF64, type AppNote, type AppPosition } from "./penumbra-app-data.ts";

export * from "./penumbra-app-data.ts";

/** The client's SyncSnapshot (serde: snake_case, every field required, unknown fields ignored). */
export interface AppSnapshot {
  snapshot_id: string;
  timestamp: string;
  note_count: number;
  note_ids: string[];
}
export interface AppPull {
  notes: Map<string, AppNote>;
  embeddings: Map<string, Float32Array>;
  positions: Map<string, AppPosition>;
  snapshot: AppSnapshot | null;
  /** The whole answer, for fields the client ignores. */
  raw: any;
}
export interface AppStatus {
  noteCount: number;
  lastModified: string | null;
  storageBytes: number;
  storageLimit: number;
  snapshotId: string | null;
}

/** A fetch that resolves paths against the server (no headers added). */
export type PathFetch = (path: string, init?: RequestInit) => Promise<Response>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** chrono's DateTime::parse_from_rfc3339, as far as the server's timestamps go. */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export const isRfc3339 = (s: unknown): s is string => typeof s === "string" && RFC3339_RE.test(s) && !Number.isNaN(Date.parse(s));
const isU64 = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** The client's minimal percent-encoding of snapshot ids in the query string. */
export function clientUrlEncoding(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** serde_json::from_value::<Note>: every field with its type (pinned/archived default to false). */
function parseNote(v: any): AppNote | null {
  if (!v || typeof v !== "object" || Array.isArray(v)) return null;
  const m = v.meta;
  const ok =
    typeof v.id === "string" &&
    UUID_RE.test(v.id) &&
    typeof v.title === "string" &&
    typeof v.body === "string" &&
    Array.isArray(v.tags) &&
    v.tags.every((t: unknown) => typeof t === "string") &&
    m &&
    typeof m === "object" &&
    isRfc3339(m.created_at) &&
    isRfc3339(m.updated_at) &&
    (m.pinned === undefined || typeof m.pinned === "boolean") &&
    (m.archived === undefined || typeof m.archived === "boolean");
  return ok ? { id: v.id, title: v.title, body: v.body, tags: v.tags, meta: { created_at: m.created_at, updated_at: m.updated_at, pinned: m.pinned ?? false, archived: m.archived ?? false } } : null;
}

function parseSnapshot(v: any): AppSnapshot | null {
  if (!v || typeof v !== "object") return null;
  if (typeof v.snapshot_id !== "string" || !isRfc3339(v.timestamp) || !isU64(v.note_count) || !Array.isArray(v.note_ids) || !v.note_ids.every((x: unknown) => typeof x === "string")) return null;
  return { snapshot_id: v.snapshot_id, timestamp: v.timestamp, note_count: v.note_count, note_ids: v.note_ids };
}

async function body(r: Response, what: string): Promise<any> {
  const text = await r.text();
  expect(r.status, `${what}: ${text.slice(0, 300)}`).toBe(200);
  return JSON.parse(text);
}

export class AppClient {
  /** Every request the client made, as "METHOD path", for the tests to assert the replay. */
  readonly requests: string[] = [];

  constructor(private readonly fetchPath: PathFetch) {}

  private send(path: string, init: RequestInit = {}): Promise<Response> {
    this.requests.push(`${init.method ?? "GET"} ${path}`);
    return this.fetchPath(path, init);
  }

  /** connect(): GET /sync/status, any 2xx. */
  async connect(): Promise<void> {
    const r = await this.send("/sync/status");
    await r.arrayBuffer();
    expect(r.ok, `connect: ${r.status}`).toBe(true);
  }

  /** push(): the body serde builds; the answer must carry `snapshotId` (a string) and `accepted`. */
  async push(notes: AppNote[], embeddings: Map<string, Float32Array>, positions: Map<string, AppPosition>, snapshotId?: string): Promise<{ snapshotId: string; accepted: number; raw: any }> {
    const emb = [...embeddings].map(([id, f]) => `${JSON.stringify(id)}:[${Array.from(f, serdeF64).join(",")}]`).join(",");
    let text = `{"embeddings":{${emb}},"notes":${JSON.stringify(Object.fromEntries(notes.map((n) => [n.id, n])))},"positions":${JSON.stringify(Object.fromEntries(positions))}`;
    if (snapshotId !== undefined) text += `,"snapshotId":${JSON.stringify(snapshotId)}`;
    const r = await this.send("/sync/push", { method: "POST", body: text + "}", headers: { "content-type": "application/json" } });
    const data = await body(r, "push");
    if (typeof data.snapshotId !== "string") throw new Error(`missing snapshotId in push response: ${JSON.stringify(data)}`);
    return { snapshotId: data.snapshotId, accepted: isU64(data.accepted) ? data.accepted : 0, raw: data };
  }

  /** pull(): POST with no body; what the client keeps of the answer (entries it cannot parse are dropped, as it drops them). */
  async pull(since?: string): Promise<AppPull> {
    const path = since === undefined ? "/sync/pull" : `/sync/pull?since=${clientUrlEncoding(since)}`;
    const data = await body(await this.send(path, { method: "POST" }), "pull");
    const notes = new Map<string, AppNote>();
    for (const v of Object.values(data.notes ?? {})) {
      const n = parseNote(v);
      if (n) notes.set(n.id, n);
    }
    const embeddings = new Map<string, Float32Array>();
    for (const [id, v] of Object.entries(data.embeddings ?? {})) {
      if (!Array.isArray(v) || !UUID_RE.test(id)) continue;
      embeddings.set(id, Float32Array.from(v.filter((x) => typeof x === "number").map((x) => Math.fround(x))));
    }
    const positions = new Map<string, AppPosition>();
    for (const [id, v] of Object.entries(data.positions ?? {}) as [string, any][]) {
      if (UUID_RE.test(id) && v && typeof v.x === "number" && typeof v.y === "number") positions.set(id, { x: v.x, y: v.y });
    }
    return { notes, embeddings, positions, snapshot: parseSnapshot(data.snapshot), raw: data };
  }

  /** status(): each field with the client's default when absent. */
  async status(): Promise<AppStatus & { raw: any }> {
    const data = await body(await this.send("/sync/status"), "status");
    return {
      noteCount: isU64(data.noteCount) ? data.noteCount : 0,
      lastModified: isRfc3339(data.lastModified) ? data.lastModified : null,
      storageBytes: isU64(data.storageBytes) ? data.storageBytes : 0,
      storageLimit: isU64(data.storageLimit) ? data.storageLimit : 512 * 1024 * 1024,
      snapshotId: typeof data.snapshotId === "string" ? data.snapshotId : null,
      raw: data,
    };
  }
}

