// The body of POST /sync/push, read as a stream (json-stream.ts) and turned, entry by entry, into
// item writes: each note, embedding and position checked and encoded as it arrives, so the Worker
// holds what it will store (a few KB per item) rather than the body's text and its parsed JSON.
// Every value is checked before anything is stored: bad input is a 4xx and changes nothing.
//
//   {"notes": {id: object}, "embeddings": {id: [numbers] | "<base64>"}, "positions": {id: object},
//    "deleted": [id], "snapshotId": label}            every key optional (docs/legacy-api.md)
import { ApiError, badRequest } from "../http.ts";
import { checkId, embeddingBytes, noteBytes, positionBytes } from "./codec.ts";
import { JsonMemberSplitter, type MemberSink } from "./json-stream.ts";
import { parseLabel } from "./labels.ts";
import type { ItemWrite } from "./write.ts";

/** Ids one /sync/push may touch. */
export const MAX_PUSH_ITEMS = 50_000;

const MAPS = new Set(["notes", "embeddings", "positions"]);
const FIELDS = new Set([...MAPS, "deleted", "snapshotId"]);

export interface ParsedPush {
  writes: ItemWrite[];
  /** The client's name for the snapshot this push makes (labels.ts), if it gave a usable one. */
  label: string | null;
  /** Notes in the body (the predecessor's `accepted`, which the app reads as the snapshot's note count). */
  accepted: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseValue(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch {
    throw badRequest(`the body is not valid JSON (at ${where.slice(0, 200)})`);
  }
}

class PushCollector implements MemberSink {
  private readonly writes = new Map<string, ItemWrite>();
  private readonly noteIds = new Set<string>();
  private deleted: unknown = undefined;
  private label: string | null = null;

  isMap(key: string): boolean {
    if (!FIELDS.has(key)) throw badRequest(`unknown field ${JSON.stringify(key).slice(0, 80)}; a push takes {"notes"?, "embeddings"?, "positions"?, "deleted"?, "snapshotId"?}`);
    return MAPS.has(key);
  }

  private item(id: string): ItemWrite {
    let w = this.writes.get(id);
    if (!w) {
      if (this.writes.size >= MAX_PUSH_ITEMS) throw new ApiError(413, "too_large", `a push may touch at most ${MAX_PUSH_ITEMS} ids; split it`);
      this.writes.set(id, (w = { id }));
    }
    return w;
  }

  entry(map: string, id: string, bytes: Uint8Array): void {
    checkId(id, `a key of \`${map}\``);
    const where = `${map}.${id}`;
    const v = parseValue(bytes, where);
    if (map === "notes") {
      this.item(id).note = noteBytes(v, where);
      this.noteIds.add(id);
    } else if (map === "embeddings") this.item(id).embedding = embeddingBytes(v, where);
    else this.item(id).position = positionBytes(v, where);
  }

  member(key: string, bytes: Uint8Array): void {
    const v = parseValue(bytes, key);
    if (key === "snapshotId") this.label = parseLabel(v, "`snapshotId`");
    else this.deleted = v;
  }

  /** `deleted` is applied last, wherever it stood in the body: an id written and deleted is refused. */
  finish(): ParsedPush {
    if (this.deleted !== undefined) {
      if (!Array.isArray(this.deleted)) throw badRequest("`deleted` must be an array of ids");
      for (const id of this.deleted) {
        checkId(id, "an entry of `deleted`");
        const w = this.writes.get(id);
        if (w && !w.remove) throw badRequest(`${id} is both written and deleted in this push`);
        this.item(id).remove = true;
      }
    }
    return { writes: [...this.writes.values()], label: this.label, accepted: this.noteIds.size };
  }
}

/** Reads and checks a push body from `body` (already limited in size); the stream is cancelled on an error. */
export async function readPush(body: ReadableStream<Uint8Array>): Promise<ParsedPush> {
  const collector = new PushCollector();
  const splitter = new JsonMemberSplitter(collector);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      splitter.feed(value);
    }
    splitter.end();
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  return collector.finish();
}
