// Corruption checks and repair (docs/protocol.md, Worker specifics; docs/reliability.md).
//
//   POST /v1/vaults/:vault/check   {"addrs": [...]} -> {"damaged": [...], "missing": [...]}
//        each stored object read back (frame inflated; plain vaults: re-hashed) and reported if it
//        cannot be served: its pack is missing, truncated or bit-flipped.
//   POST /v1/vaults/:vault/repair  a stream of P sections then E, like a push without a commit
//        each pack checked as a push checks it (plain vaults: every object's hash), stored, and made
//        the located copy of every object it holds (seqs kept), so the damaged copy is never read
//        again and garbage collection removes it. A pack may hold only objects some commit already
//        brought (400 unexpected_objects otherwise: a repair is no way in past a commit's checks),
//        and its bytes count against the quota like a push's. Plain vaults only: the server cannot
//        check an encrypted object, so it will not let a client replace one.
import { FormatError, fromUtf8 } from "../engine/core/bytes.ts";
import { readSections, Section, SectionTooLargeError } from "../engine/core/stream.ts";
import type { VaultRequest } from "./context.ts";
import { NodeReader } from "./gc.ts";
import { addressList, ApiError, json, limitedReader, readJsonObject } from "./http.ts";
import { PushSession } from "./push.ts";

export async function handleCheck(req: VaultRequest): Promise<Response> {
  const body = await readJsonObject(req.request, req.limits.maxJsonBytes);
  const addrs = addressList(body.addrs, "addrs", req.limits.maxAddrsPerRequest);
  const found = await req.stub.locate(addrs);
  if (!found) throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist`);
  const reader = new NodeReader(req.store, found.addressing === "sha256");
  const { bad } = await reader.read(Object.entries(found.locations), false);
  return json({ checked: addrs.length, damaged: bad, missing: addrs.filter((a) => !found.locations[a]) });
}

export async function handleRepair(req: VaultRequest): Promise<Response> {
  const info = await req.stub.info();
  if (!info) throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist`);
  if (info.config.addressing !== "sha256")
    throw new ApiError(409, "encrypted_vault", "repair needs a plain vault: the server cannot check an encrypted object, so it does not let a client replace one");
  const session = new PushSession(req, true, (header) => refuseUnexpected(req, header.objects.map((o) => o.addr)));
  try {
    let ended = false;
    const it = readSections(limitedReader(req.request, req.limits.maxBodyBytes), { maxSection: req.limits.maxPackBytes });
    for (;;) {
      let r;
      try {
        r = await it.next();
      } catch (e) {
        if (e instanceof SectionTooLargeError) throw new ApiError(413, "too_large", `${e.message} (MAX_PACK_BYTES)`);
        if (e instanceof FormatError) throw new ApiError(400, "bad_stream", `${e.message}; nothing was kept`);
        throw e;
      }
      if (r.done) break;
      const s = r.value;
      if (s.kind === Section.Pack) {
        if (ended) throw new ApiError(400, "bad_stream", "a section after the end section");
        const id = await session.addPack(s.payload);
        // Already indexed (the very pack that is damaged?): its verified bytes are stored again.
        if (!session.own.includes(id)) await req.store.put(id, s.payload);
      } else if (s.kind === Section.End) {
        JSON.parse(fromUtf8(s.payload));
        ended = true;
      } else throw new ApiError(400, "bad_stream", "a repair carries packs only (no commit)");
    }
    if (!ended) throw new ApiError(400, "bad_stream", "the stream ended without its end section; nothing was kept");
    const r = await req.stub.repairPacks(session.packs.map((p) => p.id));
    return json({ packs: session.packs, repointed: r.repointed, added: 0 });
  } catch (e) {
    const undo = session.rollback().catch((err) => console.error("repair rollback failed", err));
    req.waitUntil(undo);
    await undo;
    throw e;
  }
}

/** 400 unless every object of the pack is one the vault holds as committed (see the top of this file). */
async function refuseUnexpected(req: VaultRequest, addrs: string[]): Promise<void> {
  const unexpected = await req.stub.unexpectedObjects(addrs);
  if (unexpected.length)
    throw new ApiError(400, "unexpected_objects", `${unexpected.length} object(s) of the repair pack were never committed to this vault (e.g. ${unexpected[0]}); a repair only replaces damaged copies; nothing was kept`, {
      unexpected: unexpected.slice(0, 100),
    });
}
