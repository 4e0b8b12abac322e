// POST /sync/pull: every note, embedding and position of the head, or only what changed since a
// snapshot (a diff of the two trees: engine/core/tree.ts diffTrees), as one JSON object. Two forms:
// a JSON body (this API's), or no body and `?since=` (the Penumbra app's client; PullRequest.form).
//
// The answer is streamed: it is written while the objects are read, a batch at a time, so the
// Worker never holds the whole answer (a 100k-note answer with number-array embeddings is ~1 GB of
// JSON: more than V8 can hold in one string, ~537M characters, reached at ~50k such notes, on the
// client's side too). Clients of large vaults should ask for base64 embeddings and pull `since`.
// Errors found before the first byte are JSON errors; a failure half-way cuts the answer short,
// which the client sees as invalid JSON (retry).
import { fromUtf8, utf8 } from "../../engine/core/bytes.ts";
import { isAddress, type Address } from "../../engine/core/hash.ts";
import { decodeNode, diffTrees, type Entry } from "../../engine/core/tree.ts";
import { ApiError, badRequest } from "../http.ts";
import type { Head } from "../vault-types.ts";
import { floatsJson, littleEndianFloats, toBase64 } from "./codec.ts";
import { isLabelText, type SnapshotLabels } from "./labels.ts";
import { READ_BATCH, VaultReader } from "./reader.ts";

type Part = "note" | "embedding" | "position";
type Encoding = "array" | "base64";

export interface PullRequest {
  /** A snapshot id, or a label a push gave one (labels.ts); null for everything. */
  since: string | null;
  encoding: Encoding;
  /**
   * "app": the Penumbra app's client (no body, `?since=`): `snapshot` is an object, and a `since`
   * the vault does not know answers everything, flagged. "body": a JSON body, `snapshot` is the
   * head's id and an unknown `since` is 404 (docs/legacy-api.md).
   */
  form: "app" | "body";
}

const SINCE_RULE = "a snapshot id (64 lowercase hex) or a snapshot label (1 to 128 visible ASCII characters)";

function checkSince(v: unknown, where: string): string {
  if (!isAddress(v) && !isLabelText(v)) throw badRequest(`${where} must be ${SINCE_RULE}, or absent for everything`);
  return v;
}

/** A pull: the body (null when the request has none) and the `?since=` of the URL. */
export function parsePullRequest(body: Record<string, unknown> | null, query: URLSearchParams): PullRequest {
  const fromQuery = query.get("since");
  const q = fromQuery === null ? null : checkSince(fromQuery, "?since=");
  if (body === null) return { since: q, encoding: "array", form: "app" };
  for (const k of Object.keys(body)) if (k !== "since" && k !== "embeddingEncoding") throw badRequest(`unknown field ${JSON.stringify(k).slice(0, 80)}; a pull takes {"since"?, "embeddingEncoding"?}`);
  if (body.since != null && q !== null) throw badRequest("give `since` in the body or as ?since=, not both");
  const since = body.since == null ? q : checkSince(body.since, "`since`");
  const enc = body.embeddingEncoding ?? "array";
  if (enc !== "array" && enc !== "base64") throw badRequest('`embeddingEncoding` must be "array" (the default: arrays of numbers) or "base64"');
  return { since, encoding: enc, form: "body" };
}

/**
 * The `snapshot` the app's client parses (serde, snake_case: snapshot_id, timestamp, note_count,
 * note_ids; unknown fields ignored), with the predecessor's camelCase spelling alongside.
 * `note_ids` are the notes of this answer. Null for a vault without a head.
 */
function appSnapshot(id: string | null, head: Head | null, noteCount: number, noteIds: string[]) {
  if (!id || !head) return null;
  return { snapshotId: id, timestamp: head.committedAt, noteCount, snapshot_id: id, note_count: noteCount, note_ids: noteIds };
}

/** Buffers the answer's text into chunks of ~64 KiB for the stream. */
class JsonOut {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly writer: WritableStreamDefaultWriter<Uint8Array>) {}
  async text(s: string): Promise<void> {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= 64 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    if (!this.parts.length) return;
    const chunk = utf8(this.parts.join(""));
    this.parts = [];
    this.size = 0;
    await this.writer.write(chunk);
  }
}

const differs = (part: Part, before: Entry | undefined, after: Entry): boolean =>
  part === "note" ? after.note !== before?.note || !!after.chunked !== !!before?.chunked : part === "embedding" ? after.embedding !== before?.embedding || after.dims !== before?.dims : after.position !== before?.position;

/** Every entry of a tree in id order; the children of a node are requested together (one batch). */
async function* entriesOf(root: Address, reader: VaultReader): AsyncGenerator<Entry> {
  const node = decodeNode(await reader.load(root));
  if (node.level === 0) {
    yield* (node as { entries: Entry[] }).entries;
    return;
  }
  const children = (node as { children: { addr: Address }[] }).children;
  for (const c of children) reader.load(c.addr).catch(() => {});
  for (const c of children) yield* entriesOf(c.addr, reader);
}

/** The snapshot a `since` names (an id in the log, or a label of one), or null. */
async function sinceRoot(reader: VaultReader, labels: SnapshotLabels, since: string): Promise<Address | null> {
  const id = isAddress(since) ? since : await labels.resolve(since);
  return id ? ((await reader.snapshotInfo(id))?.root ?? null) : null;
}

export async function legacyPull(reader: VaultReader, labels: SnapshotLabels, req: PullRequest, waitUntil: (p: Promise<unknown>) => void): Promise<Response> {
  const state = await reader.state();
  let changed: { before?: Entry; after?: Entry; id: string }[] | null = null;
  let sinceUnknown = false;
  if (req.since !== null) {
    const base = state.root ? await sinceRoot(reader, labels, req.since) : null;
    if (base && state.root) changed = (await diffTrees(base, state.root, reader.load)).changes;
    // The app's client cannot recover from an error here (its predecessor always answered everything).
    else if (req.form === "app") sinceUnknown = true;
    else throw new ApiError(404, "unknown_snapshot", `snapshot ${req.since} is not in the log of vault ${reader.vault}; pull without since for everything`);
  }
  const root = state.root;
  const head = state.head;
  const publicId = await labels.publicId(head?.snapshot ?? null);
  const noteIds: string[] = [];

  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const out = new JsonOut(writer);
  const nonFinite: string[] = [];
  const unreadable: string[] = [];

  /** Writes `"id": value` for every entry of the sequence that has the part (and, with since, changed it). */
  const emit = async (part: Part, entries: AsyncIterable<Entry> | Iterable<Entry>) => {
    let first = true;
    let batch: Entry[] = [];
    const flush = async () => {
      if (!batch.length) return;
      const blobs = await reader.readMany(batch.map((e) => e[part] as Address));
      for (const e of batch) {
        let bytes = blobs.get(e[part] as Address) as Uint8Array;
        let text: string;
        if (part === "embedding") {
          if (req.encoding === "base64") text = JSON.stringify(toBase64(bytes));
          else {
            const j = floatsJson(littleEndianFloats(bytes));
            if (j.nonFinite) nonFinite.push(e.id);
            text = j.text;
          }
        } else {
          if (part === "note" && e.chunked) bytes = await reader.joined(bytes);
          // Stored bytes go out as they are, once proven to be a JSON object (any client may have written them).
          try {
            text = fromUtf8(bytes);
            const v = JSON.parse(text);
            if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
          } catch {
            unreadable.push(e.id);
            continue;
          }
        }
        await out.text(`${first ? "" : ","}${JSON.stringify(e.id)}:${text}`);
        if (part === "note" && req.form === "app") noteIds.push(e.id);
        first = false;
      }
      batch = [];
    };
    for await (const e of entries) {
      if (!e[part]) continue;
      batch.push(e);
      if (batch.length >= READ_BATCH) await flush();
    }
    await flush();
  };

  const send = async () => {
    const lead = req.form === "body" ? `"snapshot":${JSON.stringify(head?.snapshot ?? null)},` : "";
    await out.text(`{${lead}"snapshotId":${JSON.stringify(publicId)},"notes":{`);
    const sequence = (part: Part): AsyncIterable<Entry> | Iterable<Entry> =>
      changed ? changed.filter((c) => c.after && differs(part, c.before, c.after)).map((c) => c.after as Entry) : root ? entriesOf(root, reader) : [];
    await emit("note", sequence("note"));
    await out.text(`},"embeddings":{`);
    await emit("embedding", sequence("embedding"));
    await out.text(`},"positions":{`);
    await emit("position", sequence("position"));
    const deleted = changed ? changed.filter((c) => !c.after).map((c) => c.id) : [];
    await out.text(`},"deleted":${JSON.stringify(deleted)}`);
    if (changed) {
      const lost = (part: Part) => changed!.filter((c) => c.after && c.before?.[part] && !c.after[part]).map((c) => c.id);
      await out.text(`,"removed":${JSON.stringify({ notes: lost("note"), embeddings: lost("embedding"), positions: lost("position") })}`);
    }
    if (nonFinite.length) await out.text(`,"nonFiniteEmbeddings":${JSON.stringify(nonFinite)}`);
    if (unreadable.length) await out.text(`,"unreadable":${JSON.stringify(unreadable)}`);
    if (sinceUnknown) await out.text(`,"sinceUnknown":true`);
    if (req.form === "app") await out.text(`,"snapshot":${JSON.stringify(appSnapshot(publicId, head, state.stats.notes, noteIds))}`);
    await out.text("}");
    await out.flush();
    await writer.close();
  };
  const done = send().catch(async (e) => {
    console.error("legacy pull stream failed", e);
    await writer.abort(e).catch(() => {});
  });
  waitUntil(done);
  return new Response(readable, { headers: { "content-type": "application/json; charset=utf-8" } });
}
