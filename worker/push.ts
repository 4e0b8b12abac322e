// POST /v1/vaults/:vault/push: packs, then optionally a commit (docs/protocol.md).
//
// The body is read one section at a time and at most one pack is held in memory. Each pack is
// checked (layout, SHA-256 of the pack = its id, in plain vaults every object's SHA-256 = its
// address) before anything is stored; then indexed as uploading (invisible to other requests) and
// put to R2. Any failure releases every pack this request stored, so a failed push changes nothing.
import { streamCompressor } from "../engine/core/compress.ts";
import { FormatError, fromUtf8 } from "../engine/core/bytes.ts";
import { isAddress } from "../engine/core/hash.ts";
import { ObjectType } from "../engine/core/object.ts";
import { hasDeltaFrames } from "../engine/core/delta-frame.ts";
import { decodeFrame, decodePackHeader, MAX_PACK_RAW, packLength, packRawLength, PACK_OBJECT_LIMIT, type PackHeader, type PackObjectInfo } from "../engine/core/pack.ts";
import { readSections, Section, SectionTooLargeError, type StreamReader, type StreamSection } from "../engine/core/stream.ts";
import { commitPush, type CommitInput } from "./commit.ts";
import type { VaultRequest } from "./context.ts";
import { sha256Hex } from "./crypto.ts";
import { ApiError, json, limitedReader } from "./http.ts";
import { DeltaResolver } from "./push-deltas.ts";

/** Largest commit or end section. */
const JSON_SECTION_MAX = 1024 * 1024;
/** The commit may list this many packs. */
const MAX_COMMIT_PACKS = 10_000;
const MAX_PARENTS = 64;
/** Tree nodes, chunk lists and snapshots kept from this request for the commit check (else re-read from R2). */
const SMALL_OBJECTS_MAX_BYTES = 16 * 1024 * 1024;
/** Objects hashed at once. */
const HASH_BATCH = 1024;

export interface PushedPack {
  id: string;
  objects: number;
  bytes: number;
}

/** What one push request has stored so far: what a failure must undo and a commit may rely on. */
export class PushSession {
  readonly packs: PushedPack[] = [];
  /** Packs this request registered (and so must release on failure, or settle on success). */
  readonly own: string[] = [];
  /** Structural objects seen in this request's packs, by address. */
  readonly small = new Map<string, Uint8Array>();
  private smallBytes = 0;
  private objectCount = 0;
  /** Raw bytes this request's packs declared, against MAX_INFLATE_BYTES. */
  private rawBytes = 0;
  private readonly deltas: DeltaResolver;

  constructor(
    readonly req: VaultRequest,
    /** Plain vault (sha256 addressing): objects are hashed and trees walked. Encrypted: only packs are checked. */
    readonly plain: boolean,
    /** A route's own check of a pack's header (repair: only committed objects), before anything is hashed or stored. */
    private readonly admit?: (header: PackHeader) => Promise<void>,
    /** Delta frames (tree nodes against stored ones) are taken: pushes to plain vaults. */
    private readonly acceptDeltas = false,
  ) {
    this.deltas = new DeltaResolver(req);
  }

  /** Checks and stores one pack; answers its id. */
  async addPack(bytes: Uint8Array): Promise<string> {
    const { limits, stub, store } = this.req;
    if (bytes.length > limits.maxPackBytes) throw new ApiError(413, "too_large", `a pack of ${bytes.length} bytes exceeds MAX_PACK_BYTES (${limits.maxPackBytes}); split it`);
    let header: PackHeader;
    try {
      header = decodePackHeader(bytes, { deltaFrames: true });
    } catch (e) {
      throw packError(e);
    }
    if (packLength(header) !== bytes.length) throw new ApiError(400, "bad_pack", `pack is ${bytes.length} bytes, its header says ${packLength(header)}`);
    if (header.objects.length > PACK_OBJECT_LIMIT) throw new ApiError(413, "too_large", `a pack of ${header.objects.length} objects exceeds ${PACK_OBJECT_LIMIT} objects per pack; split it`);
    // Every frame must hold an object: an unreferenced frame would be stored, and served, unchecked.
    const used = new Set(header.objects.map((o) => o.frame));
    const idle = header.frames.findIndex((_, i) => !used.has(i));
    if (idle >= 0) throw new ApiError(400, "bad_pack", `frame ${idle} of the pack holds no object; every frame must be referenced`);
    const raw = packRawLength(header);
    if (raw > MAX_PACK_RAW) throw new ApiError(400, "bad_pack", `pack inflates to ${raw} bytes; at most ${MAX_PACK_RAW}`);
    // Resolved into the client's own pack, which then goes through every check here as if sent whole.
    if (hasDeltaFrames(header)) {
      if (!this.acceptDeltas) throw new ApiError(400, "bad_delta", this.plain ? "delta frames are taken by pushes only; send the pack whole" : "delta frames need a plain vault (the server cannot open an encrypted vault's nodes); send the pack whole");
      return this.addPack(await this.deltas.resolve(bytes, header));
    }
    await this.admit?.(header);
    const id = await sha256Hex(bytes);
    if (this.packs.some((p) => p.id === id)) return id; // sent twice in one request
    this.rawBytes += raw;
    if (this.plain && this.rawBytes > limits.maxInflateBytes)
      throw new ApiError(413, "too_large", `the request's packs inflate to more than ${limits.maxInflateBytes} bytes (MAX_INFLATE_BYTES); split it`);
    this.objectCount += header.objects.length;
    if (this.objectCount > limits.maxObjectsPerRequest)
      throw new ApiError(413, "too_large", `request holds more than ${limits.maxObjectsPerRequest} objects (MAX_OBJECTS_PER_REQUEST); split it`);
    if (this.plain) await this.verifyObjects(bytes, header);
    // Index first (invisible until settled), then store: a failed put is released like any failure.
    const { stored, quotaExceeded } = await stub.registerPack(id, bytes.length, bytes.slice(0, header.headerEnd), limits.vaultLimitBytes);
    if (quotaExceeded) throw quotaError(quotaExceeded.used, bytes.length, quotaExceeded.limit);
    if (!stored) {
      this.own.push(id);
      await store.put(id, bytes);
    }
    this.packs.push({ id, objects: header.objects.length, bytes: bytes.length });
    return id;
  }

  /**
   * Inflates the frames one at a time (memory: one frame, <= 4 MiB raw) and checks
   * SHA-256(object) = address; keeps the small structural objects for the commit check.
   */
  private async verifyObjects(pack: Uint8Array, header: PackHeader): Promise<void> {
    const byFrame: PackObjectInfo[][] = header.frames.map(() => []);
    for (const o of header.objects) byFrame[o.frame].push(o);
    for (let i = 0; i < header.frames.length; i++) {
      const f = header.frames[i];
      let frame: Uint8Array;
      try {
        frame = await decodeFrame(f.codec, pack.subarray(f.offset, f.offset + f.storedLength), f.rawLength, streamCompressor);
      } catch (e) {
        throw packError(e);
      }
      for (let k = 0; k < byFrame[i].length; k += HASH_BATCH) await Promise.all(byFrame[i].slice(k, k + HASH_BATCH).map((o) => this.verifyObject(o, frame)));
    }
  }

  private async verifyObject(o: PackObjectInfo, frame: Uint8Array): Promise<void> {
    const bytes = frame.subarray(o.offset, o.offset + o.length);
    const actual = await sha256Hex(bytes);
    if (actual !== o.addr) throw new ApiError(400, "hash_mismatch", `object ${o.addr} hashes to ${actual}: the pack is corrupt; nothing from this request was kept`, { addr: o.addr });
    if (o.type !== ObjectType.Blob && this.smallBytes + o.length <= SMALL_OBJECTS_MAX_BYTES && !this.small.has(o.addr)) {
      this.small.set(o.addr, bytes.slice());
      this.smallBytes += o.length;
    }
  }

  /** Undoes this request: the Durable Object drops the packs nobody else is storing, in the index and in R2. */
  async rollback(): Promise<void> {
    if (!this.own.length) return;
    const { deleted } = await this.req.stub.releasePacks(this.own);
    if (deleted.length) this.req.bucket.addClassA(1);
    this.own.length = 0;
  }
}

/** 413 quota_exceeded: storing `adding` more bytes would take the vault past VAULT_LIMIT_BYTES. */
export function quotaError(used: number, adding: number, limit: number): ApiError {
  return new ApiError(413, "quota_exceeded", `the vault holds ${used} bytes; ${adding} more would exceed its quota of ${limit} bytes (VAULT_LIMIT_BYTES); nothing was changed`, {
    bytes: used,
    limitBytes: limit,
  });
}

function packError(e: unknown): unknown {
  return e instanceof FormatError ? new ApiError(400, "bad_pack", `malformed pack: ${e.message}`) : e;
}

/** The stream's sections, its framing errors turned into API errors (and nothing else touched). */
async function* sectionsOf(body: StreamReader, maxSection: number): AsyncGenerator<StreamSection> {
  const it = readSections(body, { maxSection });
  for (;;) {
    let r: IteratorResult<StreamSection>;
    try {
      r = await it.next();
    } catch (e) {
      if (e instanceof SectionTooLargeError) throw new ApiError(413, "too_large", `${e.message} (MAX_PACK_BYTES); split the pack`);
      if (e instanceof FormatError) throw new ApiError(400, "bad_stream", `${e.message}; nothing from this request was kept`);
      throw e;
    }
    if (r.done) return;
    yield r.value;
  }
}

function parseJsonSection(s: StreamSection, what: string): Record<string, unknown> {
  if (s.payload.length > JSON_SECTION_MAX) throw new ApiError(413, "too_large", `${what} section exceeds ${JSON_SECTION_MAX} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(s.payload));
  } catch {
    throw new ApiError(400, what === "commit" ? "bad_commit" : "bad_stream", `the ${what} section is not valid JSON`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new ApiError(400, what === "commit" ? "bad_commit" : "bad_stream", `the ${what} section must be a JSON object`);
  return v as Record<string, unknown>;
}

export function parseCommit(o: Record<string, unknown>): CommitInput {
  const bad = (m: string) => new ApiError(400, "bad_commit", m);
  if (!isAddress(o.snapshot)) throw bad("commit.snapshot must be an address");
  if (o.expect !== null && !isAddress(o.expect)) throw bad("commit.expect must be an address or null (empty vault)");
  const list = (v: unknown, field: string, max: number): string[] => {
    if (v === undefined && field === "packs") return [];
    if (!Array.isArray(v) || !v.every(isAddress)) throw bad(`commit.${field} must be an array of addresses`);
    if (v.length > max) throw new ApiError(413, "too_large", `commit.${field} lists ${v.length} entries; at most ${max}`);
    return [...new Set(v as string[])];
  };
  const parents = list(o.parents, "parents", MAX_PARENTS);
  const packs = list(o.packs, "packs", MAX_COMMIT_PACKS);
  const expect = o.expect as string | null;
  if (expect !== null && !parents.includes(expect)) throw bad(`commit.expect ${expect} is not one of commit.parents`);
  return { snapshot: o.snapshot, parents, expect, packs };
}

export async function handlePush(req: VaultRequest): Promise<Response> {
  const info = await req.stub.info();
  if (!info) throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist; create it with PUT /v1/vaults/${req.vault}`);
  const plain = info.config.addressing === "sha256";
  const session = new PushSession(req, plain, undefined, plain);
  try {
    let commit: CommitInput | null = null;
    let ended = false;
    const body = limitedReader(req.request, req.limits.maxBodyBytes);
    // A pack section over the limit is refused from its header, before it is read.
    for await (const s of sectionsOf(body, Math.max(req.limits.maxPackBytes, JSON_SECTION_MAX))) {
      if (s.kind === Section.Pack) {
        if (commit) throw new ApiError(400, "bad_stream", "a pack section after the commit; packs come first");
        await session.addPack(s.payload);
      } else if (s.kind === Section.Json) {
        if (commit) throw new ApiError(400, "bad_stream", "two commit sections in one push");
        commit = parseCommit(parseJsonSection(s, "commit"));
      } else {
        parseJsonSection(s, "end");
        ended = true;
      }
    }
    if (!ended) throw new ApiError(400, "bad_stream", "the stream ended without its end section; nothing from this request was kept");
    const committed = commit ? await commitPush(session, commit) : null;
    const head = committed ? committed.head : await req.stub.settlePacks(session.own);
    return json({ packs: session.packs, commit: committed ? { snapshot: committed.head.snapshot, seq: committed.seq } : null, head });
  } catch (e) {
    // Kept alive past a client that hung up: an abandoned push must not leave its packs behind.
    const undo = session.rollback().catch((err) => console.error("push rollback failed", err));
    req.waitUntil(undo);
    await undo;
    throw e;
  }
}
