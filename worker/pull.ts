// POST /v1/vaults/:vault/pull: everything committed after a snapshot, as a stream (docs/protocol.md).
//
// The answer is written while it is read: the log first, then one pack at a time, each planned
// by the Durable Object just before it is sent. A pack whose every frame is needed goes out as
// stored (one R2 read, streamed through); otherwise a pack of just the needed frames is built:
// a new header (frames renumbered, object offsets unchanged) and the frames' stored bytes copied
// by coalesced ranged reads, never re-compressed. At most one pack passes through memory.
import { encodePackHeader, type PackObjectInfo } from "../engine/core/pack.ts";
import { jsonSection, Section, sectionHeader, STREAM_MAGIC } from "../engine/core/stream.ts";
import type { ObjectType } from "../engine/core/object.ts";
import { isAddress } from "../engine/core/hash.ts";
import type { VaultRequest } from "./context.ts";
import { addressList, ApiError, badRequest, readJsonObject } from "./http.ts";
import type { FrameRef } from "./pack-store.ts";
import type { PackPlan } from "./vault-types.ts";

export const STREAM_TYPE = "application/vnd.penumbra.stream";

export async function handlePull(req: VaultRequest): Promise<Response> {
  const body = await readJsonObject(req.request, req.limits.maxJsonBytes);
  if (!("since" in body)) throw badRequest('`since` is required: a snapshot address, or null for everything');
  const since = body.since;
  if (since !== null && !isAddress(since)) throw badRequest("`since` must be a snapshot address or null");
  const want = body.want === undefined ? [] : addressList(body.want, "want", req.limits.maxAddrsPerRequest);

  const plan = await req.stub.planPull(since, want);
  if (plan === "unknown_vault") throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist`);
  if (plan === "unknown_snapshot") throw new ApiError(404, "unknown_snapshot", `snapshot ${since} is not in this vault's log; pull with since: null`);

  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const send = async () => {
    await writer.write(STREAM_MAGIC);
    await writer.write(jsonSection(Section.Json, { head: plan.head, snapshots: plan.snapshots }));
    let packs = 0;
    let objects = 0;
    for (const p of plan.packs) {
      const pp = await req.stub.planPack(p.id, plan.sinceSeq, plan.headSeq, p.wanted);
      if (!pp) throw new Error(`pack ${p.id} vanished from the index during a pull`);
      if (!pp.objects.length) continue;
      objects += await sendPack(req, pp, writer);
      packs++;
    }
    await writer.write(jsonSection(Section.End, { packs, objects, missing: plan.missing, r2: req.bucket.header() }));
    await writer.close();
  };
  // A failure half-way aborts the stream: the client sees no end section, and retries.
  const done = send().catch(async (e) => {
    console.error("pull stream failed", e);
    await writer.abort(e).catch(() => {});
  });
  req.waitUntil(done);
  return new Response(readable, { headers: { "content-type": STREAM_TYPE } });
}

/** Writes one P section; answers how many objects it carries. */
async function sendPack(req: VaultRequest, pp: PackPlan, writer: WritableStreamDefaultWriter<Uint8Array>): Promise<number> {
  const needed = [...new Set(pp.objects.map((o) => o.frame))].sort((a, b) => a - b);
  // Whole only when it carries nothing else: a repaired pack keeps damaged copies it no longer locates.
  if (needed.length === pp.frames.length && pp.objects.length === pp.objectCount) {
    const obj = await req.store.getWhole(pp.id, pp.bytes);
    await writer.write(sectionHeader(Section.Pack, pp.bytes));
    let n = 0;
    const reader = obj.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      await writer.write(value);
    }
    if (n !== pp.bytes) throw new Error(`pack ${pp.id} streamed ${n} bytes, expected ${pp.bytes}`);
    return pp.objectCount;
  }
  const frames: FrameRef[] = needed.map((i) => pp.frames[i]);
  const renumber = new Map(needed.map((old, i) => [old, i]));
  const objects: PackObjectInfo[] = pp.objects.map((o) => ({ type: o.type as ObjectType, addr: o.addr, frame: renumber.get(o.frame)!, offset: o.off, length: o.len }));
  const header = encodePackHeader(frames, objects);
  const length = header.length + frames.reduce((n, f) => n + f.storedLength, 0);
  await writer.write(sectionHeader(Section.Pack, length));
  await writer.write(header);
  await req.store.readFrames(pp.id, frames, (_f, stored) => writer.write(stored));
  return objects.length;
}
