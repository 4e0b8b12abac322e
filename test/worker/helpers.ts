// Test helpers for the Worker, built on the real core codecs: a vault of N notes (note JSON,
// embedding, position; optionally one large chunked note), its tree, snapshot, pack and push body.
import { SELF, createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import worker from "../../worker/index.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { fflateCompressor } from "../../engine/core/compress.ts";
import { splitLargeBlob } from "../../engine/core/chunklist.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { PackBuilder, readPack, type BuiltPack } from "../../engine/core/pack.ts";
import { encodeEmbedding, encodeJsonPart } from "../../engine/core/parts.ts";
import { encodeSnapshot } from "../../engine/core/snapshot.ts";
import { jsonSection, readSections, Section, STREAM_MAGIC, encodeSection, parseSectionJson } from "../../engine/core/stream.ts";
import { buildTree, type Entry } from "../../engine/core/tree.ts";

export const BASE = "https://sync.example";
export const TOKEN = "test-token";

export interface ApiInit extends RequestInit {
  /** null = no Authorization header; default the test token. */
  token?: string | null;
}

export function api(path: string, init: ApiInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return SELF.fetch(BASE + path, { ...init, headers });
}

/**
 * The Worker's fetch called directly with other variables than wrangler.toml's (OPEN_VAULT, a small
 * quota): the same code, bindings and storage. The answer is read whole before it is returned, so
 * work the Worker left to waitUntil (streamed pulls) is done. `token: null` sends no Authorization.
 */
export async function withVars(path: string, init: RequestInit, vars: Record<string, string>, token: string | null = TOKEN): Promise<Response> {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  const r = await worker.fetch(new Request(BASE + path, { ...init, headers }), { ...env, ...vars }, ctx);
  const body = await r.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(body, r);
}

export function postJson(path: string, body: unknown): Promise<Response> {
  return api(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
}

export async function createVault(name: string, addressing: "sha256" | "hmac-sha256" = "sha256"): Promise<void> {
  const r = await api(`/v1/vaults/${name}`, { method: "PUT", body: JSON.stringify({ config: { format: 1, addressing, encryption: null } }) });
  if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${await r.text()}`);
}

export async function vaultInfo(name: string): Promise<any> {
  const r = await api(`/v1/vaults/${name}`);
  if (r.status !== 200) throw new Error(`info ${name}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** Keys of the vault's packs in R2 (loops over pages). */
export async function r2Keys(vault: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.BUCKET.list({ prefix: `vaults/${vault}/`, cursor });
    keys.push(...page.objects.map((o) => o.key));
    if (!page.truncated) return keys;
    cursor = page.cursor;
  }
}

export function r2Ops(r: Response): { A: number; B: number } {
  const m = /^A=(\d+),B=(\d+)$/.exec(r.headers.get("x-r2-ops") ?? "");
  if (!m) throw new Error(`no x-r2-ops header: ${r.headers.get("x-r2-ops")}`);
  return { A: Number(m[1]), B: Number(m[2]) };
}

/** Asserts a JSON error answer `{"error": code}` with this status; answers its body. */
export async function expectError(r: Response, status: number, code: string): Promise<any> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  const body = JSON.parse(text);
  expect(body.error).toBe(code);
  return body;
}

export const EMPTY_STATS = { packs: 0, objects: 0, bytes: 0, snapshots: 0 };

/** Asserts that a vault holds exactly this: stats, head and number of R2 keys (a refused request left nothing). */
export async function expectUntouched(vault: string, stats = EMPTY_STATS, head: string | null = null, keys = 0): Promise<void> {
  const info = await vaultInfo(vault);
  expect(info.stats).toEqual(stats);
  expect(info.head?.snapshot ?? null).toBe(head);
  expect((await r2Keys(vault)).length).toBe(keys);
}

/** POSTs `body` to the Worker's handler with a modified env (fault injection, other limits): withVars for bindings too. */
export function direct(path: string, body: Uint8Array, envOverride: Partial<typeof env>): Promise<Response> {
  return withVars(path, { method: "POST", body: body as Uint8Array<ArrayBuffer> }, envOverride as unknown as Record<string, string>);
}

// ---- notes, trees, snapshots ------------------------------------------------------------------

export interface StoredObject {
  type: ObjectType;
  addr: string;
  bytes: Uint8Array;
  compressible: boolean;
}

export interface NoteSpec {
  id: string;
  /** Changes the note's text (and so its blob) without changing its id. */
  version?: number;
  /** A note larger than 64 KiB, stored as chunks + a chunk list. */
  large?: boolean;
}

export interface BuiltVault {
  entries: Entry[];
  /** Every object of the snapshot: blobs, chunk lists, tree nodes, the snapshot itself. */
  objects: Map<string, StoredObject>;
  root: string;
  snapshot: string;
  parents: string[];
}

function put(objects: Map<string, StoredObject>, type: ObjectType, bytes: Uint8Array, compressible: boolean): string {
  const addr = addressOf(bytes);
  if (!objects.has(addr)) objects.set(addr, { type, addr, bytes, compressible });
  return addr;
}

export function noteSpecs(n: number, prefix = "note"): NoteSpec[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${String(i).padStart(5, "0")}` }));
}

export function buildVault(notes: NoteSpec[], parents: string[] = [], device = "test-device"): BuiltVault {
  const objects = new Map<string, StoredObject>();
  const entries: Entry[] = notes.map((n, i) => {
    const v = n.version ?? 0;
    const e: Entry = { id: n.id };
    if (n.large) {
      let text = "";
      for (let k = 0; text.length < 150_000; k++) text += `${n.id} v${v} line ${k}: ${"lorem ipsum dolor sit amet ".repeat((k % 5) + 1)}\n`;
      const big = splitLargeBlob(encodeJsonPart({ title: n.id, body: text }));
      for (const c of big.chunks) put(objects, ObjectType.Blob, c.bytes, true);
      e.note = put(objects, ObjectType.ChunkList, big.list, false);
      e.chunked = true;
    } else {
      e.note = put(objects, ObjectType.Blob, encodeJsonPart({ title: n.id, body: `Body of ${n.id}, version ${v}. ${"text ".repeat(i % 13)}` }), true);
    }
    const emb = new Float32Array(16).map((_, k) => Math.sin(i * 31 + k + v));
    e.embedding = put(objects, ObjectType.Blob, encodeEmbedding(emb), false);
    e.dims = 16;
    e.position = put(objects, ObjectType.Blob, encodeJsonPart({ x: i, y: v, z: -i }), true);
    return e;
  });
  const tree = buildTree(entries);
  for (const bytes of tree.nodes.values()) put(objects, ObjectType.Tree, bytes, false);
  const snap = encodeSnapshot({
    parents,
    root: tree.root,
    device,
    time: "2026-01-01T00:00:00.000Z",
    stats: { notes: entries.length, embeddings: entries.length, positions: entries.length },
  });
  put(objects, ObjectType.Snapshot, snap.bytes, true);
  return { entries, objects, root: tree.root, snapshot: snap.addr, parents };
}

/** The objects of `next` that `prev` does not have: what an incremental push uploads. */
export function newObjects(next: BuiltVault, prev?: BuiltVault): StoredObject[] {
  return [...next.objects.values()].filter((o) => !prev?.objects.has(o.addr));
}

export async function packOf(objects: Iterable<StoredObject>, frameTarget?: number): Promise<BuiltPack> {
  const b = new PackBuilder(frameTarget);
  for (const o of objects) b.add(o.type, o.addr, o.bytes, o.compressible);
  return b.finish(fflateCompressor);
}

export interface CommitJson {
  snapshot: string;
  parents: string[];
  expect: string | null;
  packs: string[];
}

export function commitOf(v: BuiltVault, expect: string | null, packs: BuiltPack[]): CommitJson {
  return { snapshot: v.snapshot, parents: v.parents, expect, packs: packs.map((p) => p.id) };
}

/** A push body: P sections, then the optional commit J, then E (unless `end` is false). */
export function pushBody(packs: Uint8Array[], commit?: unknown, end = true): Uint8Array {
  const parts = [STREAM_MAGIC, ...packs.map((p) => encodeSection(Section.Pack, p))];
  if (commit !== undefined) parts.push(jsonSection(Section.Json, commit));
  if (end) parts.push(jsonSection(Section.End, {}));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function push(vault: string, body: Uint8Array): Promise<Response> {
  return api(`/v1/vaults/${vault}/push`, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/vnd.penumbra.stream" } });
}

/** Pushes the whole of `v` (or its new part since `prev`) as one pack and commits it. */
export async function pushVault(vault: string, v: BuiltVault, expect: string | null, prev?: BuiltVault): Promise<{ res: Response; pack: BuiltPack }> {
  const pack = await packOf(newObjects(v, prev));
  const res = await push(vault, pushBody([pack.bytes], commitOf(v, expect, [pack])));
  return { res, pack };
}

export interface PulledStream {
  bytes: number;
  meta: any;
  end: any;
  packs: Uint8Array[];
  /** Every object of every pack, verified (SHA-256 = address) by the core reader. */
  objects: Map<string, { type: number; bytes: Uint8Array }>;
}

export async function pull(vault: string, body: unknown): Promise<Response> {
  return postJson(`/v1/vaults/${vault}/pull`, body);
}

export async function readPull(r: Response): Promise<PulledStream> {
  const raw = new Uint8Array(await r.arrayBuffer());
  const out: PulledStream = { bytes: raw.length, meta: null, end: null, packs: [], objects: new Map() };
  const stream = new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(raw), c.close()) });
  for await (const s of readSections(stream, { maxSection: 64 * 1024 * 1024 })) {
    if (s.kind === Section.Json) out.meta = parseSectionJson(s);
    else if (s.kind === Section.End) out.end = parseSectionJson(s);
    else {
      out.packs.push(s.payload);
      for (const o of await readPack(s.payload, fflateCompressor, { verifyAddresses: true })) out.objects.set(o.addr, { type: o.type, bytes: o.bytes });
    }
  }
  return out;
}
